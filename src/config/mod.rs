//! Typed settings. Every flag has an environment variable
//! (docs/api.md#process-and-service-endpoints), so the same binary is configured by flags on a
//! laptop and by env in a Deployment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod console;
mod defaults;
mod events;
mod host;
mod invoke;
mod kafka;
mod kubernetes;
mod leader;
mod token;
mod traces;
pub use console::ConsoleConfig;
pub use defaults::BeltDefaultsConfig;
pub use events::EventsConfig;
pub use host::HostConfig;
pub use invoke::InvokeConfig;
pub use kafka::{KafkaBroker, KafkaConfig};
pub use kubernetes::{KafkaUsers, KubernetesKafkaConfig};
pub use leader::{LeaderConfig, LeaderElection};
pub use token::{parse_ttl, DevRole, TokenArgs};
pub use traces::TracesConfig;

#[derive(Debug, Parser)]
#[command(
    name = "belt-api",
    version,
    about = "Belt API: stores, deploys and watches belts."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(Box<ServeConfig>),
    /// Print a token for the embedded dev mode (no OIDC issuer configured).
    Token(TokenArgs),
    /// Print the OpenAPI document of every endpoint.
    Openapi,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Bind address.
    #[arg(long, env = "BELT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Embedded state: SQLite file, local dev signing key, local-runtime work dirs.
    #[arg(long, env = "BELT_DATA_DIR", default_value = "./belt-data")]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://$BELT_DATA_DIR/belts.db`.
    #[arg(long, env = "BELT_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Largest number of pooled database connections; default 16 on PostgreSQL and 4 on SQLite,
    /// whose writers queue on one lock anyway and whose connections each keep a page cache and a
    /// thread (the benchmarks measured 16 of them past 50 MB of RSS).
    #[arg(long, env = "BELT_DATABASE_MAX_CONNECTIONS")]
    pub database_max_connections: Option<u32>,

    /// Where belts run.
    #[arg(long, env = "BELT_RUNTIME", value_enum, default_value_t = RuntimeKind::Local)]
    pub runtime: RuntimeKind,

    /// OIDC issuer (Keycloak realm URL); the JWKS is found by discovery.
    #[arg(long, env = "BELT_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// JWKS URL, when discovery is not wanted.
    #[arg(long, env = "BELT_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// When set, a token's `aud` must contain it.
    #[arg(long, env = "BELT_OIDC_AUDIENCE")]
    pub oidc_audience: Option<String>,

    /// Least time between two key-set fetches triggered by unknown `kid`s, so forged tokens
    /// cannot make us hammer the identity provider.
    #[arg(long, env = "BELT_JWKS_REFETCH_INTERVAL_MS", default_value_t = 10_000)]
    pub jwks_refetch_interval_ms: u64,

    /// Longest time a fetched JWKS is used before it is fetched again (its `Cache-Control:
    /// max-age` is honoured up to this, and at least the refetch interval): how long a signing
    /// key withdrawn by the identity provider can keep working (docs/upstream-trust.md).
    #[arg(long, env = "BELT_JWKS_MAX_AGE_SECS", default_value_t = 300)]
    pub jwks_max_age_secs: u64,

    /// Event-type registry (Harvester API); unset means event types are not checked.
    #[arg(long, env = "BELT_HARVESTER_URL")]
    pub harvester_url: Option<String>,

    /// Hosts accepted in `X-Forwarded-Host` / `Forwarded` when building `_links` (comma list).
    #[arg(long, env = "BELT_TRUSTED_HOSTS", value_delimiter = ',')]
    pub trusted_hosts: Vec<String>,

    /// `/metrics` (unauthenticated) also exports series labelled with belt ids and projects (the
    /// lag and the reconcile retries of each belt); off, it has only aggregates. Turn on only
    /// where the scraper, not the world, reaches `/metrics` (docs/api.md#metrics).
    #[arg(long, env = "BELT_METRICS_PER_BELT", default_value_t = false,
        action = clap::ArgAction::Set)]
    pub metrics_per_belt: bool,

    /// How long a dependency (database, registry) may take before the request answers 503.
    #[arg(long, env = "BELT_DEPENDENCY_TIMEOUT_MS", default_value_t = 5000)]
    pub dependency_timeout_ms: u64,

    /// Local runtime: the program (and arguments, space-separated) each replica runs; default is the
    /// bundled Python belt host run by `python3`.
    #[arg(long, env = "BELT_LOCAL_COMMAND")]
    pub local_command: Option<String>,

    /// Local runtime: first restart delay of an exited replica (doubles per exit, up to 10 s).
    #[arg(long, env = "BELT_LOCAL_RESTART_BACKOFF_MS", default_value_t = 500)]
    pub local_restart_backoff_ms: u64,

    /// Local runtime: failed exits in a row, without getting ready, that make a belt FAILED.
    #[arg(long, env = "BELT_LOCAL_FAILURE_THRESHOLD", default_value_t = 3)]
    pub local_failure_threshold: u32,

    /// Local runtime: time between SIGTERM and SIGKILL when replicas are stopped.
    #[arg(long, env = "BELT_LOCAL_STOP_GRACE_MS", default_value_t = 5000)]
    pub local_stop_grace_ms: u64,

    /// Revisions kept per belt (docs/api.md#revisions-and-rollback); each create or replace
    /// prunes the older ones in its own transaction.
    #[arg(long, env = "BELT_REVISION_RETENTION", default_value_t = 50,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub revision_retention: u32,

    /// How often the reconciler compares wishes with what runs, besides after every change.
    #[arg(long, env = "BELT_RECONCILE_INTERVAL_MS", default_value_t = 10_000)]
    pub reconcile_interval_ms: u64,

    /// Belts the reconciler works on at the same time.
    #[arg(long, env = "BELT_RECONCILE_WORKERS", default_value_t = 4)]
    pub reconcile_workers: usize,

    /// Deadline of each runtime call the reconciler makes (deploying or removing one belt).
    #[arg(long, env = "BELT_RECONCILE_CALL_TIMEOUT_MS", default_value_t = 30_000)]
    pub reconcile_call_timeout_ms: u64,

    /// First retry delay of a belt whose reconcile failed; doubles per failure in a row.
    #[arg(long, env = "BELT_RECONCILE_BACKOFF_MS", default_value_t = 1_000)]
    pub reconcile_backoff_ms: u64,

    /// Longest retry delay of a failing belt.
    #[arg(long, env = "BELT_RECONCILE_BACKOFF_MAX_MS", default_value_t = 300_000)]
    pub reconcile_backoff_max_ms: u64,

    /// Test-only: the reconciler waits this long before each teardown of a deleted belt, with
    /// the DELETING wish stored and nothing removed yet, so a crash test can kill the API at
    /// exactly that point (`tests/api/reconciler/kill.rs`). Hidden; never set in production.
    #[arg(long, env = "BELT_TEST_PAUSE_BEFORE_TEARDOWN_MS", hide = true)]
    pub test_pause_before_teardown_ms: Option<u64>,

    /// Namespace that belts are deployed to on Kubernetes.
    #[arg(long, env = "BELT_K8S_NAMESPACE")]
    pub k8s_namespace: Option<String>,

    #[command(flatten)]
    pub k8s_kafka: KubernetesKafkaConfig,

    #[command(flatten)]
    pub leader: LeaderConfig,
    /// On SIGTERM (or Ctrl-C): how long in-flight requests and open streams may take to finish,
    /// and the replicas and the broker to stop, before belt-api exits anyway and logs what it
    /// cut. Keep it below Kubernetes' `terminationGracePeriodSeconds` (30 s by default), which
    /// ends in SIGKILL. Seconds, or with a unit: `25s`, `2m`.
    #[arg(long, env = "BELT_SHUTDOWN_GRACE", default_value = "25s", value_parser = grace_period)]
    pub shutdown_grace: Duration,

    /// Log format: `text` for people, `json` for log pipelines.
    #[arg(long, env = "BELT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(flatten)]
    pub traces: TracesConfig,

    #[command(flatten)]
    pub console: ConsoleConfig,

    #[command(flatten)]
    pub defaults: BeltDefaultsConfig,

    #[command(flatten)]
    pub kafka: KafkaConfig,

    #[command(flatten)]
    pub invoke: InvokeConfig,

    #[command(flatten)]
    pub host: HostConfig,

    #[command(flatten)]
    pub events: EventsConfig,

    /// Local runtime: how replicas are isolated from belt-api and from each other (see
    /// docs/local-sandbox.md): `bwrap` (bubblewrap; belt-api refuses to start when it cannot set
    /// it up) or `none` (no isolation: every belt can read belt-api's data dir and secrets).
    #[arg(long, env = "BELT_LOCAL_SANDBOX", value_enum, default_value_t = LocalSandbox::Bwrap)]
    pub local_sandbox: LocalSandbox,

    /// Local runtime: the bubblewrap program, found on PATH or given as a path.
    #[arg(long, env = "BELT_LOCAL_SANDBOX_BWRAP", default_value = "bwrap")]
    pub local_sandbox_bwrap: PathBuf,

    /// Local runtime, when belt-api runs as root: the replicas of belt N run as uid and gid
    /// `base + N`, owning nothing else on the machine.
    #[arg(
        long,
        env = "BELT_LOCAL_SANDBOX_UID_BASE",
        default_value_t = 1_000_000_000
    )]
    pub local_sandbox_uid_base: u32,
}

impl ServeConfig {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/belts.db", self.data_dir.display()))
    }

    pub fn database_max_connections(&self) -> u32 {
        self.database_max_connections
            .unwrap_or_else(|| default_pool_size(&self.database_url()))
    }

    pub fn dependency_timeout(&self) -> Duration {
        Duration::from_millis(self.dependency_timeout_ms)
    }
}

/// A shutdown grace period: a whole number of seconds, at least one (a service given no time at
/// all would cut every request).
fn grace_period(text: &str) -> Result<Duration, String> {
    match belt_query::duration(text, belt_query::Units::ANY) {
        Ok(grace) if grace.is_zero() => Err("must be at least 1s".into()),
        Ok(grace) => Ok(grace),
        Err(err) => Err(err.to_string()),
    }
}

/// The pool size when none is configured: 16 on PostgreSQL; 4 on SQLite, whose writers queue on
/// one lock anyway and where every connection costs a thread, a page cache and a malloc arena.
pub fn default_pool_size(database_url: &str) -> u32 {
    if database_url.starts_with("sqlite:") {
        4
    } else {
        16
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    Local,
    Kubernetes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocalSandbox {
    /// bubblewrap: namespaces, a read-only host, the data dir hidden; uids of their own as root.
    Bwrap,
    /// No isolation (a loud warning at startup).
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["belt-api", "serve"]).unwrap();
        let Command::Serve(config) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url(), "sqlite://./belt-data/belts.db");
        assert_eq!(config.runtime, RuntimeKind::Local);
        assert_eq!(config.shutdown_grace, Duration::from_secs(25));
    }

    #[test]
    fn the_shutdown_grace_takes_seconds_or_a_unit_and_refuses_zero() {
        let grace = |value: &str| {
            Cli::try_parse_from(["belt-api", "serve", "--shutdown-grace", value]).map(|cli| {
                let Command::Serve(config) = cli.command else {
                    panic!("not serve")
                };
                config.shutdown_grace
            })
        };
        assert_eq!(grace("10").unwrap(), Duration::from_secs(10));
        assert_eq!(grace("2m").unwrap(), Duration::from_secs(120));
        for refused in ["0", "0s", "soon", "1.5"] {
            let err = grace(refused).unwrap_err().to_string();
            assert!(err.contains("--shutdown-grace"), "{refused}: {err}");
        }
    }

    #[test]
    fn an_unset_configuration_hands_the_domain_its_test_settings() {
        let cli = Cli::try_parse_from(["belt-api", "serve"]).unwrap();
        let Command::Serve(config) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(
            crate::domain::defaults::DefaultSettings::from(&config.defaults),
            crate::domain::defaults::settings_for_tests()
        );
    }
}
