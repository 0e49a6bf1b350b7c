//! The proof, at startup, that the sandbox holds: a probe runs in it and must keep its promises.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Sandbox;

impl Sandbox {
    /// Runs a probe in the cell `<check_dir>/work`: it must start, write its work dir, and not
    /// see a file next to that work dir.
    pub(super) fn check(self: &Arc<Self>, check_dir: &Path) -> anyhow::Result<()> {
        let canary = check_dir.join("canary");
        std::fs::write(&canary, "belt-api's own file")
            .with_context(|| format!("writing {}", canary.display()))?;
        self.probe(&check_dir.join("work"), &canary)
    }

    fn probe(self: &Arc<Self>, work_dir: &Path, canary: &Path) -> anyhow::Result<()> {
        let cell = self.cell(0, Vec::new());
        // Exit codes say which promise broke; the canary's path is an argument, never code.
        let script = "test -e \"$1\" && exit 3; echo written > probe || exit 4; \
             test \"$$\" -le 2 || exit 5; echo sandbox-ok";
        let args = [
            "-c".to_string(),
            script.to_string(),
            "probe".to_string(),
            canary.to_string_lossy().into_owned(),
        ];
        let (executable, argv) = self.argv(&cell, work_dir, "/bin/sh", &args)?;
        let mut child = std::process::Command::new(&executable)
            .args(&argv)
            .current_dir(work_dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", executable.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!("the sandbox probe did not finish within 20 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let output = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let broken = match output.status.code() {
            Some(0) if stdout.trim() == "sandbox-ok" && work_dir.join("probe").is_file() => {
                return Ok(())
            }
            Some(3) => "the probe could see belt-api's data dir".to_string(),
            Some(4) => "the probe could not write its work dir".to_string(),
            Some(5) => "the probe did not run in a PID namespace of its own".to_string(),
            _ => format!("the probe failed ({})", output.status),
        };
        anyhow::bail!("{broken}: {}", stderr.trim())
    }
}
