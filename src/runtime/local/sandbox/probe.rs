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
        self.probe(&check_dir.join("work"), &canary)?;
        self.probe_offline(&check_dir.join("work"))
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
        let output = self.run_probe(&cell, work_dir, "/bin/sh", &args)?;
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

    /// An offline cell must not reach a port that listens on the host's loopback (where the
    /// broker, belt-api and PostgreSQL listen).
    fn probe_offline(self: &Arc<Self>, work_dir: &Path) -> anyhow::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding a loopback port for the sandbox's network probe")?;
        let port = listener.local_addr()?.port();
        let cell = self.cell(0, Vec::new()).offline();
        let script = "import socket, sys\n\
            s = socket.socket()\n\
            s.settimeout(3)\n\
            sys.exit(6 if s.connect_ex(('127.0.0.1', int(sys.argv[1]))) == 0 else 0)\n";
        let args = ["-I", "-c", script, &port.to_string()].map(String::from);
        let output = self.run_probe(&cell, work_dir, "python3", &args)?;
        listener.set_nonblocking(true)?;
        let accepted = listener.accept().is_ok();
        if output.status.code() == Some(0) && !accepted {
            return Ok(());
        }
        let broken = if accepted || output.status.code() == Some(6) {
            "a cell without network reached a port on the host's loopback".to_string()
        } else {
            format!("the network probe failed ({})", output.status)
        };
        anyhow::bail!(
            "{broken}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
    }

    /// Runs `program args` in `cell` (20 s at most) and answers its output.
    fn run_probe(
        self: &Arc<Self>,
        cell: &super::Cell,
        work_dir: &Path,
        program: &str,
        args: &[String],
    ) -> anyhow::Result<std::process::Output> {
        let (executable, argv) = self.argv(cell, work_dir, program, args)?;
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
        Ok(child.wait_with_output()?)
    }
}
