//! The virtualenvs' disk: which belts used each one and when (its `<hash>.belts` file), pruning
//! by age and then least recently used first down to the disk budget, and forgetting a deleted
//! belt. All filesystem work runs on the blocking pool; what fails is logged.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use super::Venvs;

/// A virtualenv held by a run: pruning skips it until the run ends.
pub(in crate::invoke) struct InUse {
    dir: PathBuf,
    in_use: Arc<Mutex<HashMap<PathBuf, usize>>>,
}

impl Drop for InUse {
    fn drop(&mut self) {
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_use.get_mut(&self.dir) {
            *count -= 1;
            if *count == 0 {
                in_use.remove(&self.dir);
            }
        }
    }
}

/// `<hash>.belts` beside `<hash>/`.
fn users_file(dir: &Path) -> PathBuf {
    dir.with_extension("belts")
}

fn users_of(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(users_file(dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect()
}

/// Bytes on disk under `path` (blocks, not lengths: what fills the disk), symlinks not followed.
fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let own = meta.blocks() * 512;
    if !meta.is_dir() {
        return own;
    }
    let children = std::fs::read_dir(path).into_iter().flatten().flatten();
    own + children.map(|entry| disk_usage(&entry.path())).sum::<u64>()
}

/// A virtualenv on disk, as pruning sees it.
struct Kept {
    dir: PathBuf,
    last_used: SystemTime,
    bytes: u64,
}

/// Every virtualenv under `root` (`p-<project>/<hash>/`).
fn scan(root: &Path) -> Vec<Kept> {
    let projects = std::fs::read_dir(root).into_iter().flatten().flatten();
    projects
        .flat_map(|project| {
            std::fs::read_dir(project.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .map(|dir| Kept {
            last_used: std::fs::metadata(users_file(&dir))
                .or_else(|_| std::fs::metadata(&dir))
                .and_then(|meta| meta.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH),
            bytes: disk_usage(&dir) + disk_usage(&users_file(&dir)),
            dir,
        })
        .collect()
}

/// Which of `kept` to remove: those unused for `max_age`, then the least recently used until
/// the rest fit in `budget`. `held` ones are never chosen (they still count).
fn choose(mut kept: Vec<Kept>, held: &[PathBuf], budget: u64, max_age: Duration) -> Vec<PathBuf> {
    let now = SystemTime::now();
    kept.sort_by_key(|k| k.last_used);
    let mut total: u64 = kept.iter().map(|k| k.bytes).sum();
    let mut chosen = Vec::new();
    for k in kept.into_iter().filter(|k| !held.contains(&k.dir)) {
        let old = now.duration_since(k.last_used).unwrap_or_default() > max_age;
        if old || total > budget {
            total = total.saturating_sub(k.bytes);
            chosen.push(k.dir);
        }
    }
    chosen
}

/// Removes a virtualenv and, `with_users`, its users file, on the blocking pool.
pub(super) async fn remove(dir: PathBuf, with_users: bool) {
    let removed = tokio::task::spawn_blocking(move || {
        let result = match std::fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        };
        if with_users {
            let _ = std::fs::remove_file(users_file(&dir));
        }
        (dir, result)
    })
    .await;
    match removed {
        Ok((_, Ok(()))) => {}
        Ok((dir, Err(err))) => {
            tracing::warn!(dir = %dir.display(), error = %err, "could not remove a test-invoke virtualenv");
        }
        Err(err) => tracing::warn!(error = %err, "removing a test-invoke virtualenv panicked"),
    }
}

impl Venvs {
    pub(super) fn hold(&self, dir: &Path) -> InUse {
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        *in_use.entry(dir.to_path_buf()).or_default() += 1;
        InUse {
            dir: dir.to_path_buf(),
            in_use: self.in_use.clone(),
        }
    }

    fn held(&self) -> Vec<PathBuf> {
        let in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        in_use.keys().cloned().collect()
    }

    /// Notes that `belt` uses `dir` now (which also makes it the most recently used).
    pub(super) async fn used(&self, dir: &Path, belt: u64) {
        let dir = dir.to_path_buf();
        let written = tokio::task::spawn_blocking(move || {
            let mut users = users_of(&dir);
            if !users.contains(&belt) {
                users.push(belt);
            }
            std::fs::create_dir_all(dir.parent().unwrap_or(&dir))?;
            let text: String = users.iter().map(|id| format!("{id}\n")).collect();
            std::fs::write(users_file(&dir), text)
        })
        .await;
        if let Ok(Err(err)) = written {
            tracing::warn!(error = %err, "could not note a test-invoke virtualenv's use");
        }
    }

    /// Removes what is too old, then the least recently used until the rest fit the budget.
    pub(in crate::invoke) async fn prune(&self) {
        let (root, held, budget, max_age) = (
            self.root.clone(),
            self.held(),
            self.disk_bytes,
            self.max_age,
        );
        let chosen =
            tokio::task::spawn_blocking(move || choose(scan(&root), &held, budget, max_age))
                .await
                .unwrap_or_default();
        for dir in chosen {
            remove(dir, true).await;
        }
    }

    /// `belt` (of `project`) is deleted: the project's virtualenvs no remaining belt used are
    /// removed (one a run holds now is left to the next prune by age).
    pub(in crate::invoke) async fn forget(&self, project: &str, belt: u64) {
        let (project_dir, held) = (self.project_dir(project), self.held());
        let orphans = tokio::task::spawn_blocking(move || {
            let entries = std::fs::read_dir(&project_dir)
                .into_iter()
                .flatten()
                .flatten();
            let mut orphans = Vec::new();
            for dir in entries.map(|e| e.path()).filter(|path| path.is_dir()) {
                let users: Vec<u64> = users_of(&dir).into_iter().filter(|u| *u != belt).collect();
                if users.is_empty() && !held.contains(&dir) {
                    orphans.push(dir);
                } else {
                    let text: String = users.iter().map(|id| format!("{id}\n")).collect();
                    let _ = std::fs::write(users_file(&dir), text);
                }
            }
            orphans
        })
        .await
        .unwrap_or_default();
        for dir in orphans {
            remove(dir, true).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(name: &str, hours_ago: u64, bytes: u64) -> Kept {
        Kept {
            dir: PathBuf::from(name),
            last_used: SystemTime::now() - Duration::from_secs(hours_ago * 3600),
            bytes,
        }
    }

    #[test]
    fn the_oldest_go_first_until_the_rest_fit() {
        let all = vec![kept("new", 0, 40), kept("old", 5, 40), kept("mid", 2, 40)];
        let chosen = choose(all, &[], 80, Duration::from_secs(100 * 3600));
        assert_eq!(chosen, vec![PathBuf::from("old")]);
    }

    #[test]
    fn held_ones_stay_and_stale_ones_go_whatever_the_budget() {
        let all = vec![
            kept("held", 9, 40),
            kept("stale", 9, 1),
            kept("fresh", 0, 40),
        ];
        let chosen = choose(all, &[PathBuf::from("held")], 10, Duration::from_secs(3600));
        assert_eq!(chosen, vec![PathBuf::from("stale"), PathBuf::from("fresh")]);
    }
}
