//! `belt-api serve` processes on one PostgreSQL database and one (fake) Kubernetes API, as an
//! operator runs several replicas: each its own process (`belt_test_support::binary`), reaching
//! the test's fake cluster (`belt_test_support::fake_kube::Cluster`, served over HTTP) through a
//! kubeconfig.

use std::path::{Path, PathBuf};
use std::time::Duration;

use belt_test_support::binary::{Program, Spawn};
use belt_test_support::fake_kube::{Cluster, HttpApi};

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// The namespace the replicas deploy to.
pub const NAMESPACE: &str = "belts";

pub struct Replica {
    pub name: String,
    pub base: String,
    program: Program,
}

/// What every replica shares.
pub struct Setup {
    /// The fake cluster's HTTP server: it answers while the setup lives.
    pub kube: HttpApi,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// Where each replica's kubeconfig is written.
    pub config_dir: PathBuf,
    pub election: crate::Election,
    /// More settings for every replica (`BELT_…`, `OTEL_…`).
    pub env: Vec<(&'static str, String)>,
}

/// The fake cluster, served over HTTP, a fresh database and a directory for the replicas'
/// kubeconfigs and data, with `env` for every replica. Keep the directory and the setup while
/// the replicas run.
pub async fn set_up(
    election: crate::Election,
    env: Vec<(&'static str, String)>,
) -> (Cluster, tempfile::TempDir, Setup) {
    let (kube, cluster) = Cluster::serve_http(NAMESPACE).await;
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup {
        kube,
        database_url: crate::fresh_database().await,
        data_dir: dir.path().join("data"),
        config_dir: dir.path().to_path_buf(),
        election,
        env,
    };
    (cluster, dir, setup)
}

/// How the replicas elect their leader: the advisory lock, or a Lease of 3 s.
fn election_settings(election: crate::Election) -> Vec<(&'static str, &'static str)> {
    match election {
        crate::Election::Lock => vec![("BELT_LEADER_ELECTION", "lock")],
        crate::Election::Lease => vec![
            ("BELT_LEADER_ELECTION", "lease"),
            ("BELT_LEADER_LEASE_SECS", "3"),
        ],
    }
}

impl Replica {
    /// Starts replica `name` and waits for the address it logs (on a blocking thread: the fake
    /// API server of this test answers meanwhile). Its kubeconfig's user is its name, so the
    /// cluster knows which replica made each call.
    pub async fn start(name: &str, setup: &Setup) -> Replica {
        let kubeconfig = setup.config_dir.join(format!("kubeconfig-{name}"));
        setup.kube.write_kubeconfig(&kubeconfig, name);
        let program = Spawn::serve(BINARY)
            .env("BELT_DATABASE_URL", &setup.database_url)
            .env("BELT_DATA_DIR", &setup.data_dir)
            .env("BELT_RUNTIME", "kubernetes")
            .env("KUBECONFIG", &kubeconfig)
            .env("BELT_K8S_NAMESPACE", NAMESPACE)
            .env("BELT_KAFKA_BROKER", "none")
            .env("BELT_RECONCILE_INTERVAL_MS", "2000")
            .env("BELT_LOG", "info,sqlx=warn,kube=warn,tower_http=warn")
            .envs(election_settings(setup.election))
            .envs(setup.env.iter().map(|(k, v)| (*k, v.as_str())))
            // Dropped at the end of a test: SIGTERM, and a leader hands over as it would.
            .grace(Duration::from_secs(10))
            .start_async()
            .await;
        Replica {
            name: name.to_string(),
            base: program.address.clone(),
            program,
        }
    }

    /// `kill -9`: no shutdown, no hand-over; what a crashed node does.
    pub fn kill(mut self) {
        self.program.kill();
    }

    /// Its logged lines so far.
    pub fn logged(&self) -> Vec<String> {
        self.program.lines()
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
