//! The belt runtime image's entrypoint, run as the image lays it out: the files its Dockerfile
//! COPYs, placed under a temporary root as they would be under `/`, and its ENTRYPOINT's script run
//! by this machine's python3 (the image's Python and its Kafka client are not here, so the belt
//! gets no Kafka and idles, as a replica without a data plane does).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::images;
use crate::render::repository;

const READY_LINE: &str = "belt-host: ready";
const PATIENCE: Duration = Duration::from_secs(30);

/// The image's files under `root`, and the entrypoint's script there.
fn lay_out(root: &Path) -> PathBuf {
    let stage = images::belt_runtime().final_stage().clone();
    for (sources, destination) in stage.copies() {
        let target = root.join(destination.trim_start_matches('/'));
        for source in sources.iter().flat_map(|s| images::sources(s)) {
            let file = if destination.ends_with('/') {
                target.join(source.file_name().unwrap())
            } else {
                target.clone()
            };
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::copy(&source, &file).unwrap();
        }
    }
    let entrypoint = stage.entrypoint();
    let script = entrypoint
        .iter()
        .find(|a| a.ends_with(".py"))
        .expect("a script");
    root.join(script.trim_start_matches('/'))
}

struct Replica {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// One replica of a belt whose callback.py is `callback`, with a Kafka password and a profile
/// store address in its environment that only the host may see.
fn start(callback: &str) -> Replica {
    let image = tempfile::tempdir().unwrap();
    let script = lay_out(image.path());
    let code = tempfile::tempdir().unwrap();
    std::fs::write(code.path().join("callback.py"), callback).unwrap();
    std::fs::write(code.path().join("requirements.txt"), "").unwrap();
    let mut child = Command::new("python3")
        .arg("-I")
        .arg(script)
        .arg(code.path())
        .env("BELT_ID", "7")
        .env("BELT_VERSION", "3")
        .env("BELT_HOST_IDLE_SECONDS", "1")
        .env("KAFKA_SASL_PASSWORD", "only-the-host")
        .env("PROFILE_STORE_URL", "http://profiles.invalid")
        .env("PARAMETER", "for-the-callback")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let stderr = child.stderr.take().unwrap();
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    Replica {
        child,
        lines,
        seen: Vec::new(),
        _dirs: (image, code),
    }
}

impl Replica {
    fn await_line(&mut self, wanted: &str) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                let found = line.contains(wanted);
                self.seen.push(line);
                if found {
                    return;
                }
            }
        }
        panic!(
            "no line with {wanted:?}; the replica said: {:#?}",
            self.seen
        );
    }

    fn await_exit(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.lines.try_iter());
                return status.code().expect("an exit code, not a signal");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the replica did not end; it said: {:#?}", self.seen);
    }

    /// What the kubelet does to a pod's main process.
    fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }
}

#[test]
fn the_runtime_image_runs_a_belt_and_stops_on_sigterm() {
    let mut replica = start(
        "import os, sys\n\
         def execute(headers, event):\n    return []\n\
         print('callback sees', sorted(n for n in os.environ if n.startswith('KAFKA_') \
         or n == 'PROFILE_STORE_URL'), os.environ.get('PARAMETER'), file=sys.stderr, flush=True)\n",
    );
    replica.await_line("callback sees [] for-the-callback");
    replica.await_line(READY_LINE);
    replica.await_line("No new messages");
    replica.terminate();
    assert_eq!(replica.await_exit(), 0, "{:#?}", replica.seen);
    assert!(replica
        .seen
        .iter()
        .any(|l| l.contains("belt-host: stopping")));
}

#[test]
fn a_callback_of_the_wrong_shape_ends_the_replica_with_its_exit_code() {
    // belt_host.py: 2 = `execute` has the wrong shape, as podStatus shows it on both runtimes.
    let mut replica = start("def execute():\n    return []\n");
    assert_eq!(replica.await_exit(), 2, "{:#?}", replica.seen);
}

/// The quoted names between `start` and the next `end` in `text`.
fn names(text: &str, start: &str, end: char) -> Vec<String> {
    let list = text
        .split(start)
        .nth(1)
        .expect(start)
        .split(end)
        .next()
        .unwrap();
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_pod_splits_the_environment_as_the_local_runtime_does() {
    let rust = repository().join("src/runtime/local/process/pair.rs");
    let rust = std::fs::read_to_string(rust).unwrap();
    let python = repository().join("images/belt-runtime/belt_pod.py");
    let python = std::fs::read_to_string(python).unwrap();
    let host = names(&python, "HOST_VARIABLES = (", ')');
    for name in names(&rust, "const HOST_VARIABLES: &[&str] = &[", ']') {
        assert!(
            host.contains(&name),
            "belt_pod.py does not give the host {name}"
        );
    }
    assert_eq!(
        names(&python, "WITHHELD_FROM_WORKER = (", ')'),
        names(&rust, "const WITHHELD_FROM_WORKER: &[&str] = &[", ']'),
    );
}
