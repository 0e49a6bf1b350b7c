//! The proof, at startup, that the sandbox holds: a probe runs in it and must keep its promises.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Sandbox;

/// What one check proved: that cells of this bwrap, uid base and data dir, with these files bound
/// readable, keep their promises. The probes test the namespaces and the hiding of the data dir;
/// the readable files are bound on top of that, so a sandbox whose files are all among a proven
/// one's is proven too (the test-invoke runner's are among the belt host's).
#[derive(Debug)]
struct Proof {
    program: PathBuf,
    uid_base: u32,
    data_dir: PathBuf,
    readable: Vec<PathBuf>,
}

impl Proof {
    fn covers(&self, other: &Proof) -> bool {
        self.program == other.program
            && self.uid_base == other.uid_base
            && self.data_dir == other.data_dir
            && other
                .readable
                .iter()
                .all(|path| self.readable.contains(path))
    }
}

/// The checks that passed in this process: the runtime's and test-invoke's sandboxes are set up
/// one after the other at startup, and `/ready` waits for both.
static PROVEN: Mutex<Vec<Proof>> = Mutex::new(Vec::new());

impl Sandbox {
    /// [`Sandbox::check`], unless a check in this process already proved what it would.
    pub(super) fn check_once(
        self: &Arc<Self>,
        data_dir: &Path,
        check_dir: &Path,
    ) -> anyhow::Result<()> {
        let Some(bwrap) = &self.bwrap else {
            return Ok(());
        };
        let proof = Proof {
            program: bwrap.program().to_path_buf(),
            uid_base: bwrap.uid_base,
            data_dir: data_dir.to_path_buf(),
            readable: bwrap.readable().to_vec(),
        };
        let proven = || PROVEN.lock().unwrap_or_else(PoisonError::into_inner);
        if proven().iter().any(|earlier| earlier.covers(&proof)) {
            return Ok(());
        }
        self.check(check_dir)?;
        proven().push(proof);
        Ok(())
    }

    /// Runs a probe in the cell `<check_dir>/work`: it must start, write its work dir, and not
    /// see a file next to that work dir; and one in an offline cell, which must not reach the
    /// host's loopback. The two run at once: each is mostly the sandbox's own setup and a
    /// program's start, and startup (`/ready`) waits for both.
    pub(super) fn check(self: &Arc<Self>, check_dir: &Path) -> anyhow::Result<()> {
        let canary = check_dir.join("canary");
        std::fs::write(&canary, "belt-api's own file")
            .with_context(|| format!("writing {}", canary.display()))?;
        let work_dir = check_dir.join("work");
        std::thread::scope(|scope| {
            let offline = scope.spawn(|| self.probe_offline(&work_dir));
            let confined = self.probe(&work_dir, &canary);
            let offline = offline
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the network probe panicked")));
            confined.and(offline)
        })
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
            // Short: startup waits for this probe, which takes a few tens of milliseconds.
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(child.wait_with_output()?)
    }
}
