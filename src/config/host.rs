//! The local runtime's belt host: where its Python environment lives (docs/local-sandbox.md).

use std::path::PathBuf;

use clap::Args;

use super::{KafkaBroker, ServeConfig};

#[derive(Debug, Clone, Args)]
pub struct HostConfig {
    /// Local runtime, with a data plane and the default command: where the belt host's Python
    /// environment (its Kafka client) is built once and reused; default `$BELT_DATA_DIR/host-env`.
    /// Several data dirs may share one.
    #[arg(long, env = "BELT_LOCAL_HOST_ENV")]
    pub local_host_env: Option<PathBuf>,

    /// Seconds between the bundled belt host's "No new messages" lines when replicas have no
    /// data plane; replicas get it as `BELT_HOST_IDLE_SECONDS`, a name a belt may not set
    /// itself. Unset: the host's own 5 s.
    #[arg(long, env = "BELT_LOCAL_HOST_IDLE_SECONDS",
        value_parser = clap::value_parser!(u32).range(1..))]
    pub local_host_idle_seconds: Option<u32>,
}

impl ServeConfig {
    /// The belt host's environment the local runtime prepares: only when replicas get a Kafka to
    /// talk to and run the bundled host.
    pub fn local_host_env(&self) -> Option<PathBuf> {
        let data_plane = self.kafka.kafka_bootstrap.is_some()
            || self.kafka.kafka_broker == KafkaBroker::Embedded;
        if !data_plane || self.local_command.is_some() {
            return None;
        }
        Some(
            self.host
                .local_host_env
                .clone()
                .unwrap_or_else(|| self.data_dir.join("host-env")),
        )
    }
}
