//! The embedded broker's program for tests that run it: `BELT_KAFKA_BROKER_COMMAND` when set (CI
//! and scripts/test.sh set it), else what `scripts/broker.sh` prints (it builds the broker once
//! into a cache shared by every checkout; its progress goes to the test's stderr).

use std::sync::OnceLock;

pub fn broker_program() -> &'static str {
    static PROGRAM: OnceLock<String> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        if let Some(program) = std::env::var("BELT_KAFKA_BROKER_COMMAND")
            .ok()
            .filter(|p| !p.is_empty())
        {
            return program;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/broker.sh");
        let output = std::process::Command::new("bash")
            .arg(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("running scripts/broker.sh");
        assert!(
            output.status.success(),
            "the embedded broker is needed: set BELT_KAFKA_BROKER_COMMAND or let \
             scripts/broker.sh build it (see its output above)"
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}

/// A broker the tests start themselves (not belt-api's embedded one): on a free port, with SQLite
/// storage in a temporary directory (nisshi takes a `sqlite://` path relative to its cwd).
#[allow(dead_code)] // not every test binary that includes this file starts one
pub struct TestBroker {
    child: std::process::Child,
    _storage: Option<tempfile::TempDir>,
    /// `127.0.0.1:<port>`, the bootstrap address.
    pub address: String,
}

impl TestBroker {
    /// A broker for one test; it and its files go when it is dropped.
    #[allow(dead_code)]
    pub fn start() -> TestBroker {
        let storage = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(broker_program());
        command.current_dir(storage.path());
        TestBroker::launch(command, Some(storage))
    }

    /// The broker of this whole test binary. A static is never dropped, so a shell wrapper ends
    /// the broker and removes its files when the test binary exits and the wrapper's stdin closes.
    #[allow(dead_code)]
    pub fn shared() -> &'static TestBroker {
        static SHARED: OnceLock<TestBroker> = OnceLock::new();
        SHARED.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            let script = r#"dir=$1; shift; cd "$dir" || exit 1; "$@" </dev/null & child=$!; cat >/dev/null; kill $child; wait $child; rm -rf "$dir""#;
            let mut command = std::process::Command::new("bash");
            command.args(["-c", script, "bash"]).arg(&dir).arg(broker_program());
            command.stdin(std::process::Stdio::piped());
            TestBroker::launch(command, None)
        })
    }

    fn launch(
        mut command: std::process::Command,
        storage: Option<tempfile::TempDir>,
    ) -> TestBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let child = command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://broker.db"])
            .args(["--group-initial-rebalance-delay", "100ms"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting the broker");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the broker never listened on {address}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TestBroker {
            child,
            _storage: storage,
            address,
        }
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
