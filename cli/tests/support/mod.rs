//! The real binaries: `belt-api serve` on port 0 with a temp data dir (SQLite, local runtime without
//! a sandbox or Kafka), and `belt` run as a user would, with its config under a temp
//! `XDG_CONFIG_HOME`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use belt_test_support::binary::{Program, Spawn};
use belt_test_support::postgres;
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
    program: Program,
    pub address: String,
    pub data_dir: PathBuf,
    /// The fresh PostgreSQL database this server used, dropped with it.
    database: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    /// The program first (SIGTERM so the service stops the replicas it started; SIGKILL if it
    /// does not exit), then its database.
    fn drop(&mut self) {
        self.program.terminate();
        if let Some(name) = &self.database {
            postgres::drop_database_blocking(name);
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

/// `belt-api serve` on SQLite in its data dir.
pub fn serve() -> Server {
    serve_on(Backend::Sqlite)
}

pub fn serve_on(backend: Backend) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("belt-data");
    let mut spawn = Spawn::serve(belt_api())
        .current_dir(dir.path())
        .env("BELT_DATA_DIR", &data_dir)
        .env("BELT_KAFKA_BROKER", "none")
        .env("BELT_LOCAL_SANDBOX", "none")
        .grace(Duration::from_secs(20));
    let mut database = None;
    if backend == Backend::Postgres {
        let fresh = postgres::fresh_database_blocking("belt_cli");
        spawn = spawn.env("BELT_DATABASE_URL", fresh.url);
        database = Some(fresh.name);
    }
    let program = spawn.start();
    Server {
        address: program.address().to_string(),
        program,
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
