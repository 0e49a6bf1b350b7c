//! The belt's requirements for an invocation: a virtualenv per project and requirements, built
//! once (in the sandbox, as the belt's uid, under its own longer timeout, wheels only) and reused
//! by the project's belts after.
//!
//! `<data_dir>/invoke/venvs/p-<project>/<sha256 of the requirement lines>/`: per project, never
//! across projects, since a run may write to its virtualenv and so plant code for the next run;
//! within a project every belt is its editors' anyway. Beside each virtualenv, `<hash>.belts`
//! (out of the runs' reach) lists the belts that used it and, by its mtime, when it was last
//! used: what [`disk`] prunes by.

mod disk;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::process::{self, Limits, WorkDir};
use super::{InvokeError, Invoker, RequirementsReport, RunAs};
pub(super) use disk::InUse;

/// Written by the runner once a build is complete.
const COMPLETE: &str = ".belt-invoke-complete";

pub(super) struct Venvs {
    root: PathBuf,
    /// One build at a time per virtualenv; a second caller waits and reuses it.
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// Virtualenvs a run holds now, by how many runs: never pruned.
    in_use: Arc<Mutex<HashMap<PathBuf, usize>>>,
    pub(super) disk_bytes: u64,
    pub(super) max_age: Duration,
}

impl Venvs {
    pub(super) fn new(root: PathBuf, disk_bytes: u64, max_age: Duration) -> Venvs {
        Venvs {
            root,
            locks: Mutex::new(HashMap::new()),
            in_use: Arc::default(),
            disk_bytes,
            max_age,
        }
    }

    fn lock(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(dir.to_path_buf()).or_default().clone()
    }

    fn project_dir(&self, project: &str) -> PathBuf {
        // A prefix, since "." and ".." are valid project names.
        self.root.join(format!("p-{project}"))
    }
}

/// The requirement lines as pip reads them: comments, blank lines and surrounding blanks do not
/// change what is installed, so they do not make another virtualenv.
fn requirement_lines(requirements: &str) -> Vec<&str> {
    requirements
        .lines()
        .map(|line| crate::domain::requirements::strip_comment(line).trim())
        .filter(|line| !line.is_empty())
        .collect()
}

fn hash_of(lines: &[&str]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, lines.join("\n").as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn report(
    virtualenv: &str,
    started: Option<Instant>,
    output: Option<String>,
) -> RequirementsReport {
    RequirementsReport {
        virtualenv: virtualenv.to_string(),
        duration_ms: started.map(|s| u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)),
        output,
    }
}

pub(super) struct Prepare<'a> {
    pub venvs: &'a Venvs,
    pub invoker: &'a Invoker,
    pub project: &'a str,
    pub run_as: RunAs,
    pub requirements: &'a str,
}

/// The virtualenv a run gets: where, held against pruning while the run lasts.
pub(super) struct Prepared {
    pub dir: Option<PathBuf>,
    pub report: RequirementsReport,
    pub _held: Option<InUse>,
}

impl Prepare<'_> {
    /// The virtualenv to run with (none without requirements), and how it came to be.
    pub(super) async fn run(self) -> Result<Prepared, InvokeError> {
        let lines = requirement_lines(self.requirements);
        if lines.is_empty() {
            return Ok(Prepared {
                dir: None,
                report: report("none", None, None),
                _held: None,
            });
        }
        let dir = self.venvs.project_dir(self.project).join(hash_of(&lines));
        let held = self.venvs.hold(&dir);
        let lock = self.venvs.lock(&dir);
        let _built = lock.lock().await;
        let built = if dir.join(COMPLETE).is_file() {
            None
        } else {
            let started = Instant::now();
            let (ok, output) = self.build(&dir).await?;
            Some((ok && dir.join(COMPLETE).is_file(), started, output))
        };
        // A draft is no belt: nothing to forget it by (its virtualenv ages out as any).
        if let Some(belt) = self.run_as.belt {
            self.venvs.used(&dir, belt).await;
        }
        let report = match built {
            None => report("reused", None, None),
            Some((ok, started, output)) => {
                self.venvs.prune().await;
                let how = if ok { "built" } else { "failed" };
                report(how, Some(started), Some(output))
            }
        };
        Ok(Prepared {
            dir: Some(dir),
            report,
            _held: Some(held),
        })
    }

    /// Runs the runner's `--build-venv` in the sandbox, with the virtualenv's dir shared.
    async fn build(&self, dir: &Path) -> Result<(bool, String), InvokeError> {
        let invoker = self.invoker;
        disk::remove(dir.to_path_buf(), false).await;
        let work = WorkDir::create(invoker.run_dir())?;
        std::fs::write(work.path().join("requirements.txt"), self.requirements)
            .map_err(|err| InvokeError::Failed(err.into()))?;
        let args = [
            invoker.runner(),
            "--build-venv".to_string(),
            dir.to_string_lossy().into_owned(),
        ];
        let limits = Limits {
            timeout: invoker.settings.requirements_timeout,
            memory_bytes: None,
            cpu_seconds: None,
            nproc: None,
        };
        let finished = process::run(
            &invoker.cell(self.run_as, Some(dir), true),
            process::Wrappers {
                prlimit: invoker.prlimit.as_deref(),
                cgroup: Vec::new(),
            },
            work.path(),
            &args,
            process::base_env(work.path()),
            limits,
        )
        .await?;
        let mut output = finished.stdout.text;
        output.push_str(&finished.stderr.text);
        if finished.status.is_none() {
            output.push_str(&format!(
                "\nbelt-invoke: the build exceeded its {} ms\n",
                invoker.settings.requirements_timeout.as_millis()
            ));
        }
        Ok((finished.status.is_some_and(|s| s.success()), output))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blanks_do_not_make_another_virtualenv() {
        let plain = hash_of(&requirement_lines("six==1.16.0\nidna==3.4\n"));
        let spelled = "# pinned\n  six==1.16.0   # why\n\nidna==3.4";
        assert_eq!(hash_of(&requirement_lines(spelled)), plain);
        assert_ne!(hash_of(&requirement_lines("six==1.16.0\n")), plain);
        assert!(requirement_lines("# only a comment\n\n").is_empty());
    }
}
