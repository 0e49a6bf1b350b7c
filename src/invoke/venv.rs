//! The belt's requirements for an invocation: a virtualenv per belt and requirements.txt, built
//! once (in the sandbox, as the belt's uid, under its own longer timeout) and reused after.
//!
//! `<data_dir>/invoke/venvs/<belt id>/<sha256 of requirements.txt>/`: per belt, because pip runs
//! code of the packages and the callback may write to its virtualenv; a shared one would let one
//! belt plant code in another's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::process::{self, Limits, WorkDir};
use super::{InvokeError, Invoker, RequirementsReport};

/// Written by the runner once a build is complete.
const COMPLETE: &str = ".belt-invoke-complete";

pub(super) struct Venvs {
    root: PathBuf,
    /// One build at a time per virtualenv; a second caller waits and reuses it.
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl Venvs {
    pub(super) fn new(root: PathBuf) -> Venvs {
        Venvs {
            root,
            locks: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self, dir: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(dir.to_path_buf()).or_default().clone()
    }
}

/// Whether requirements.txt asks for anything: pip ignores blank lines and comments.
fn wants_anything(requirements: &str) -> bool {
    requirements.lines().any(|line| {
        let line = line.trim();
        !line.is_empty() && !line.starts_with('#')
    })
}

fn hash_of(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
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
    pub tenant: u64,
    pub requirements: &'a str,
}

impl Prepare<'_> {
    /// The virtualenv to run with (none without requirements), and how it came to be.
    pub(super) async fn run(self) -> Result<(Option<PathBuf>, RequirementsReport), InvokeError> {
        if !wants_anything(self.requirements) {
            return Ok((None, report("none", None, None)));
        }
        let dir = (self.venvs.root)
            .join(self.tenant.to_string())
            .join(hash_of(self.requirements));
        let lock = self.venvs.lock(&dir);
        let _built = lock.lock().await;
        if dir.join(COMPLETE).is_file() {
            return Ok((Some(dir), report("reused", None, None)));
        }
        let started = Instant::now();
        let (ok, output) = self.build(&dir).await?;
        let virtualenv = if ok && dir.join(COMPLETE).is_file() {
            "built"
        } else {
            "failed"
        };
        Ok((Some(dir), report(virtualenv, Some(started), Some(output))))
    }

    /// Runs the runner's `--build-venv` in the sandbox, with the virtualenv's dir shared.
    async fn build(&self, dir: &PathBuf) -> Result<(bool, String), InvokeError> {
        let invoker = self.invoker;
        let _ = std::fs::remove_dir_all(dir);
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
        };
        let finished = process::run(
            &invoker.cell(self.tenant, Some(dir)),
            invoker.prlimit.as_deref(),
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
