//! The directories `apply -f DIR` reads and `export --dir DIR` writes stay the only ones touched:
//! a symlink never carries a read or a write out of them, and a name from the server (an id, a
//! belt's name) is never a path.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{CliError, Result};

/// `entry` of `dir`, if reading it stays inside `dir`: a symlink to a file inside is followed,
/// one that leads out (or nowhere) is refused before anything is read from it.
pub fn inside(dir: &Path, entry: &Path) -> Result<PathBuf> {
    let is_link = std::fs::symlink_metadata(entry)
        .map_err(|e| CliError::Other(format!("{}: {e}", entry.display())))?
        .file_type()
        .is_symlink();
    if !is_link {
        return Ok(entry.to_path_buf());
    }
    let resolve = |path: &Path| {
        path.canonicalize()
            .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))
    };
    let (root, target) = (resolve(dir)?, resolve(entry)?);
    if target.starts_with(&root) {
        return Ok(entry.to_path_buf());
    }
    Err(CliError::Other(format!(
        "refusing {}: a symlink that leaves {} (to {}); copy the file into the directory instead",
        entry.display(),
        dir.display(),
        target.display()
    )))
}

/// A file name made from what the server sent: letters, digits, `-` and `_` only, so that an id
/// like `../x` or one holding `/` names a file in the directory and nothing else.
pub fn file_name_part(text: &str, most: usize) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(most)
        .collect();
    if name.is_empty() {
        "_".into()
    } else {
        name
    }
}

/// Writes `file` in `dir` without ever writing through a symlink: one at `file` is refused, and
/// the content goes to a new file (`create_new` does not follow links) renamed into place, so a
/// link planted meanwhile is replaced, never written through.
pub fn write_in(dir: &Path, file: &str, content: &[u8]) -> Result<PathBuf> {
    let path = dir.join(file);
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if meta.file_type().is_symlink() {
            return Err(CliError::Other(format!(
                "refusing to write {}: it is a symlink; remove it first",
                path.display()
            )));
        }
    }
    let temporary = dir.join(format!(".{file}.{}.tmp", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .and_then(|mut out| out.write_all(content))
        .and_then(|()| std::fs::rename(&temporary, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(CliError::Other(format!("{}: {e}", path.display())));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_from_the_server_is_never_a_path() {
        assert_eq!(file_name_part("../x", 60), "___x");
        assert_eq!(file_name_part("a/b", 60), "a_b");
        assert_eq!(file_name_part("", 60), "_");
        assert_eq!(file_name_part("hello-belt", 5), "hello");
    }

    #[test]
    fn a_symlink_inside_the_directory_is_read_one_leading_out_is_not() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("belts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.yaml"), "name: a").unwrap();
        std::fs::write(root.path().join("out.yaml"), "name: out").unwrap();
        std::os::unix::fs::symlink(dir.join("a.yaml"), dir.join("in.yaml")).unwrap();
        std::os::unix::fs::symlink(root.path().join("out.yaml"), dir.join("out.yaml")).unwrap();
        std::os::unix::fs::symlink("../belts/../out.yaml", dir.join("dots.yaml")).unwrap();
        assert!(inside(&dir, &dir.join("a.yaml")).is_ok());
        assert!(inside(&dir, &dir.join("in.yaml")).is_ok());
        assert!(inside(&dir, &dir.join("out.yaml")).is_err());
        assert!(inside(&dir, &dir.join("dots.yaml")).is_err());
    }
}
