//! The files of a cell: creating and handing over what it shares, finding programs, and reading
//! the files belt-api keeps in work dirs a replica may write.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::libc;

use super::Shared;

/// The work dir and what the cell shares exist and, under another uid, belong to it. A shared
/// dir that belongs to someone else (built before the sandbox, or under another uid base) is
/// handed over entirely.
pub(super) fn prepare(work_dir: &Path, shared: &[Shared], uid: Option<u32>) -> io::Result<()> {
    for shared in shared {
        match shared {
            Shared::Dir(path) | Shared::ReadOnlyDir(path) => std::fs::create_dir_all(path)?,
            Shared::File(path) => {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
            }
        }
    }
    let Some(uid) = uid else {
        return Ok(());
    };
    std::os::unix::fs::chown(work_dir, Some(uid), Some(uid))?;
    for shared in shared.iter().filter(|shared| shared.writable()) {
        let path = shared.path();
        if std::fs::symlink_metadata(path)?.uid() != uid {
            chown_tree(path, uid)?;
        }
    }
    Ok(())
}

/// `chown -R` without following symlinks.
fn chown_tree(path: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid)?;
        }
    }
    Ok(())
}

/// The outermost ancestor of `dir` (or `dir` itself) that others may not enter: another uid
/// cannot pass it, so it is hidden entirely and the paths under it are bound back.
pub(super) fn outermost_closed_ancestor(dir: &Path) -> Option<PathBuf> {
    let mut ancestors: Vec<&Path> = dir.ancestors().collect();
    ancestors.reverse();
    ancestors
        .into_iter()
        .filter(|path| path.parent().is_some())
        .find(|path| {
            std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o001 == 0)
        })
        .map(Path::to_path_buf)
}

/// `program` as a path to an executable file: as given when it holds a `/`, else found on PATH.
pub(super) fn find_program(program: &Path) -> io::Result<PathBuf> {
    let executable = |path: &Path| {
        std::fs::metadata(path)
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return if executable(program) {
            Ok(program.to_path_buf())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not an executable file", program.display()),
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} was not found on PATH", program.display()),
            )
        })
}

/// Opens a file that belt-api keeps in a work dir the replica may write (its log, its state
/// file): a symlink, FIFO or device the replica put in its place is refused, never followed, so
/// the replica cannot make belt-api read (and show in its logs) or overwrite another file.
pub(in crate::runtime::local) fn open_private(
    path: &Path,
    options: &mut OpenOptions,
) -> io::Result<File> {
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// At most the last `limit` bytes of such a file, and whether it was longer: a huge sparse file
/// in a replica's work dir must not fill belt-api's memory.
pub(in crate::runtime::local) fn read_private_tail(
    path: &Path,
    limit: u64,
) -> io::Result<(Vec<u8>, bool)> {
    let mut file = open_private(path, OpenOptions::new().read(true))?;
    let length = file.metadata()?.len();
    let start = length.saturating_sub(limit);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok((bytes, start > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outermost_closed_ancestor_is_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let closed = dir.path().join("closed");
        let data = closed.join("open/data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(outermost_closed_ancestor(&data), Some(closed.clone()));
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(outermost_closed_ancestor(&data), None);
    }

    #[test]
    fn programs_are_found_on_path_or_refused() {
        assert!(find_program(Path::new("sh")).unwrap().is_absolute());
        assert!(find_program(Path::new("/bin/sh")).is_ok());
        assert_eq!(
            find_program(Path::new("/nonexistent/bwrap"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        assert!(find_program(Path::new("no-such-program-anywhere")).is_err());
    }

    #[test]
    fn private_files_are_not_followed_through_symlinks_nor_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "secret\n").unwrap();
        let planted = dir.path().join("belt.log");
        std::os::unix::fs::symlink(&outside, &planted).unwrap();
        assert!(read_private_tail(&planted, 100).is_err());
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        assert!(open_private(&planted, &mut options).is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret\n");
        assert!(read_private_tail(dir.path(), 100).is_err(), "a directory");

        let own = dir.path().join("own");
        std::fs::write(&own, "0123456789").unwrap();
        assert_eq!(
            read_private_tail(&own, 4).unwrap(),
            (b"6789".to_vec(), true)
        );
        assert_eq!(
            read_private_tail(&own, 40).unwrap(),
            (b"0123456789".to_vec(), false)
        );
    }
}
