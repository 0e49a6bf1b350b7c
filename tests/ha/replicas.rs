//! `belt-api serve` processes on one PostgreSQL database and one (fake) Kubernetes API, as an
//! operator runs several replicas: each its own process, found by the address it logs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

pub struct Replica {
    pub name: String,
    pub base: String,
    child: Child,
    /// Every line it logs, kept for a failure's message.
    lines: mpsc::UnboundedReceiver<String>,
}

/// What every replica shares.
pub struct Setup {
    pub database_url: String,
    pub data_dir: PathBuf,
    pub kubeconfig: PathBuf,
    pub election: crate::Election,
    /// More settings for every replica (`BELT_…`, `OTEL_…`).
    pub env: Vec<(&'static str, String)>,
}

/// A fake Kubernetes API, a fresh database and a directory for the replicas' kubeconfig and data,
/// with `env` for every replica. Keep the directory while the replicas run.
pub async fn set_up(
    election: crate::Election,
    env: Vec<(&'static str, String)>,
) -> (crate::fake_kube::FakeKube, tempfile::TempDir, Setup) {
    let kube = crate::fake_kube::FakeKube::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kube.kubeconfig("belts")).unwrap();
    let setup = Setup {
        database_url: crate::fresh_database().await,
        data_dir: dir.path().join("data"),
        kubeconfig,
        election,
        env,
    };
    (kube, dir, setup)
}

impl Replica {
    pub async fn start(name: &str, setup: &Setup) -> Replica {
        let mut child = Command::new(BINARY)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BELT_LISTEN", "127.0.0.1:0")
            .env("BELT_DATABASE_URL", &setup.database_url)
            .env("BELT_DATA_DIR", &setup.data_dir)
            .env("BELT_RUNTIME", "kubernetes")
            .env("KUBECONFIG", &setup.kubeconfig)
            .env("BELT_K8S_NAMESPACE", "belts")
            .env("BELT_KAFKA_BROKER", "none")
            .env("BELT_RECONCILE_INTERVAL_MS", "2000")
            .env("BELT_LOG", "info,sqlx=warn,kube=warn,tower_http=warn")
            .envs(match setup.election {
                crate::Election::Lock => vec![("BELT_LEADER_ELECTION", "lock")],
                crate::Election::Lease => vec![
                    ("BELT_LEADER_ELECTION", "lease"),
                    ("BELT_LEADER_LEASE_SECS", "3"),
                ],
            })
            .envs(setup.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting belt-api serve");
        let (sender, mut lines) = mpsc::unbounded_channel();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, lines.recv()).await {
                Ok(Some(line)) => {
                    if let Some(at) = line.find("address=") {
                        let rest = &line[at + "address=".len()..];
                        break rest.split_whitespace().next().unwrap().to_string();
                    }
                    seen.push(line);
                }
                _ => panic!("{name} logged no address; it said:\n{}", seen.join("\n")),
            }
        };
        Replica {
            name: name.to_string(),
            base,
            child,
            lines,
        }
    }

    /// `kill -9`: no shutdown, no hand-over; what a crashed node does.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }

    /// Its logged lines so far.
    pub fn logged(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.try_recv() {
            out.push(line);
        }
        out
    }

    /// Whether its `/metrics` says it is the leader (`None` when it does not answer).
    pub async fn is_leader(&self, http: &reqwest::Client) -> Option<bool> {
        let text = http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let line = text
            .lines()
            .find(|line| line.starts_with("belt_api_leader "))?;
        Some(line.trim_start_matches("belt_api_leader ").trim() == "1")
    }
}

/// A development token every replica accepts: they share the data directory, so its key.
pub fn token(data_dir: &Path) -> String {
    let output = std::process::Command::new(BINARY)
        .args(["token", "--project", "global", "--role", "editor"])
        .env("BELT_DATA_DIR", data_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}
