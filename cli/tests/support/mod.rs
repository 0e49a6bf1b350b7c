//! The real binaries: `belt-api serve` on port 0 with a temp data dir (SQLite, local runtime without
//! a sandbox or Kafka), and `belt` run as a user would, with its config under a temp
//! `XDG_CONFIG_HOME`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BELT: &str = env!("CARGO_BIN_EXE_belt");

/// `BELT_API_BIN`, else the `belt-api` built next to `belt` by `cargo test --workspace` (or
/// `cargo build --bin belt-api`).
pub fn belt_api() -> PathBuf {
    let path = std::env::var_os("BELT_API_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(BELT).with_file_name("belt-api"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --bin belt-api` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

pub struct Server {
    child: Child,
    pub address: String,
    pub data_dir: PathBuf,
    /// The fresh PostgreSQL database this server used, dropped with it.
    database: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    /// SIGTERM so the service stops the replicas it started; SIGKILL if it does not exit.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !matches!(self.child.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(name) = &self.database {
            let _ = Command::new("psql")
                .args([admin_database_url(), "-q", "-c"])
                .arg(format!("DROP DATABASE IF EXISTS {name}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One `#[test]` per database for each `fn name(backend: Backend)`; `name: "reason"` ignores both.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident $(: $reason:literal)?),* $(,)?) => {
        $(
            mod $name {
                #[test]
                $(#[ignore = $reason])?
                fn sqlite() {
                    super::$name($crate::support::Backend::Sqlite)
                }
                #[test]
                $(#[ignore = $reason])?
                fn postgres() {
                    super::$name($crate::support::Backend::Postgres)
                }
            }
        )*
    };
}

/// `BELT_TEST_DATABASE_URL`, else the server `scripts/postgres.sh` starts (as the API tests do).
fn admin_database_url() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("BELT_TEST_DATABASE_URL") {
            return url;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
        let output = Command::new("bash").arg(script).output().expect("running scripts/postgres.sh");
        assert!(
            output.status.success(),
            "PostgreSQL tests need a server: set BELT_TEST_DATABASE_URL or let scripts/postgres.sh start one:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}

/// A fresh database on the test PostgreSQL (created with `psql`): its URL for belt-api, its name.
fn fresh_postgres_database() -> (String, String) {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let admin = admin_database_url();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!(
        "belt_cli_{}_{}_{n}",
        std::process::id(),
        nanos % 1_000_000_000
    );
    let status = Command::new("psql")
        .args([admin, "-q", "-c", &format!("CREATE DATABASE {name}")])
        .stdout(Stdio::null())
        .status()
        .expect("running psql");
    assert!(status.success(), "psql could not create {name}");
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let (server, _) = base.rsplit_once('/').expect("a database URL with a path");
    match query {
        Some(query) => (format!("{server}/{name}?{query}"), name),
        None => (format!("{server}/{name}"), name),
    }
}

/// `belt-api serve` on SQLite in its data dir.
pub fn serve() -> Server {
    serve_on(Backend::Sqlite)
}

pub fn serve_on(backend: Backend) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("belt-data");
    let mut command = Command::new(belt_api());
    command.env_clear();
    let mut database = None;
    if backend == Backend::Postgres {
        let (url, name) = fresh_postgres_database();
        command.env("BELT_DATABASE_URL", url);
        database = Some(name);
    }
    let mut child = command
        .arg("serve")
        .current_dir(dir.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BELT_LISTEN", "127.0.0.1:0")
        .env("BELT_DATA_DIR", &data_dir)
        .env("BELT_KAFKA_BROKER", "none")
        .env("BELT_LOCAL_SANDBOX", "none")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting belt-api serve");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut address = None;
    while address.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(at) = line.find("address=") {
                address = line[at + 8..].split_whitespace().next().map(str::to_string);
            }
            seen.push(line);
        }
    }
    let Some(address) = address else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "belt-api did not listen within 60 s; stderr:\n{}",
            seen.join("\n")
        );
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    Server {
        child,
        address,
        data_dir,
        database,
        _dir: dir,
    }
}

/// A user's shell: its own config dir and working dir.
pub struct User {
    pub home: tempfile::TempDir,
}

impl User {
    pub fn new() -> User {
        User {
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.home.path().join("config/belt/config.yaml")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BELT);
        command
            .args(args)
            .current_dir(self.home.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"));
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("running belt"))
    }

    /// Runs and asserts exit 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code(), 0, "belt {args:?}: {run}");
        run
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let run = self.ok(&all);
        serde_json::from_str(&run.stdout())
            .unwrap_or_else(|e| panic!("belt {args:?} -o json is not JSON ({e}): {run}"))
    }

    /// A context for `server`, project `demo`, logged in with the dev token of that server.
    pub fn log_in(&self, name: &str, server: &Server) {
        self.ok(&[
            "config",
            "set-context",
            name,
            "--server",
            &server.address,
            "--project",
            "demo",
        ]);
        self.ok(&["config", "use-context", name]);
        self.ok(&[
            "login",
            "--dev",
            "--data-dir",
            server.data_dir.to_str().unwrap(),
        ]);
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }
}

pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\nstdout:\n{}\nstderr:\n{}",
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// The v2 example belt of the README's walkthrough, as a file for `belt apply -f`.
pub const EXAMPLE_BELT: &str = r#"id: "42"
name: hello-belt
eventTypes: [page-view]
extractorFn: |
  def execute(headers, event):
      return [event]
"#;

/// The same belt with another callback.
pub fn changed_example() -> String {
    EXAMPLE_BELT.replace("return [event]", "return []")
}
