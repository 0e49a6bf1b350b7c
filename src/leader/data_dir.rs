//! One process per data directory on SQLite: the database, the dev signing key, the local
//! runtime's replicas and the embedded broker's storage all live there, and a second process
//! would run every belt twice. An exclusive `flock` on a file in the directory says who owns it;
//! the kernel releases it when the owner exits, however it exits (`kill -9` included).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::Context;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "belt-api.lock";

/// Held for as long as the process serves; dropping it releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    _file: Flock<File>,
}

/// Claims `dir` for this process, or says which process holds it.
pub fn claim(dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => locked,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("another belt-api (pid {pid})"),
            };
            anyhow::bail!(
                "the data directory {} is in use by {holder}: one belt-api serves a SQLite data \
                 directory at a time (stop the other, or give this one its own BELT_DATA_DIR; \
                 several replicas need PostgreSQL)",
                dir.display()
            );
        }
        Err((_, errno)) => {
            return Err(errno).with_context(|| format!("locking {}", path.display()));
        }
    };
    // The holder's pid, for the message a second process prints.
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    write!(file, "{}", std::process::id())?;
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_naming_the_directory_and_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = claim(dir.path()).unwrap();
        let refused = claim(dir.path()).unwrap_err().to_string();
        assert!(
            refused.contains(&dir.path().display().to_string()),
            "{refused}"
        );
        assert!(
            refused.contains(&format!("pid {}", std::process::id())),
            "{refused}"
        );
        drop(held);
        claim(dir.path()).expect("released when the holder lets go");
    }
}
