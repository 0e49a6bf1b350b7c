//! Where belts run. One trait, one implementation per runtime: `local` (supervised child processes)
//! and `kubernetes` (a Deployment and a ConfigMap per belt, via kube-rs).

pub mod kubernetes;
pub mod local;
mod replica_logs;

pub use replica_logs::ReplicaLogs;

use async_trait::async_trait;

use crate::domain::replica::ReplicaSpec;
use crate::domain::BeltId;

pub use crate::domain::lifecycle::{Observed, Phase};
pub use crate::domain::log_lines::{LogLine, LogQuery};
pub use crate::domain::state_details::StateDetails;

/// New lines until dropped; an error ends it.
pub type LogStream = futures::stream::BoxStream<'static, Result<LogLine, RuntimeError>>;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime (e.g. the Kubernetes API) did not answer in time.
    #[error("runtime unavailable: {0}")]
    Unavailable(String),
    /// An object the belt needs is held by someone else (another field manager, a foreign process).
    #[error("runtime object in use: {0}")]
    InUse(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// What deploys, observes and removes belts. Reading replicas' logs is [`ReplicaLogs`], which
/// every runtime also is; the two are apart so that each stays small.
#[async_trait]
pub trait Runtime: ReplicaLogs + Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Called once at startup, before the first reconcile: clear what a crash of an earlier API
    /// process left behind, and fill the in-memory view.
    async fn recover(&self) -> Result<(), RuntimeError>;

    /// Makes the belt run `spec`. Idempotent: applying what already runs changes nothing.
    async fn apply(&self, spec: &ReplicaSpec) -> Result<(), RuntimeError>;

    /// Removes every runtime object of the belt. Idempotent.
    async fn remove(&self, id: BeltId) -> Result<(), RuntimeError>;

    /// From the in-memory view only; never calls out (a list of 250 belts costs nothing).
    fn observe(&self, id: BeltId) -> Option<Observed>;

    /// Every belt the runtime has objects for.
    fn deployed(&self) -> Vec<BeltId>;

    /// Whether any replica of the belt may still be running or writing its log. From the
    /// in-memory view only.
    fn runs_replicas(&self, id: BeltId) -> bool {
        self.deployed().contains(&id)
    }

    /// Why a belt is in its phase; `None` when nothing is deployed.
    async fn details(&self, id: BeltId) -> Result<Option<StateDetails>, RuntimeError>;

    /// The API is stopping. Local: stop the replicas. Kubernetes: nothing (belts keep running).
    async fn shutdown(&self);

    /// Belts whose phase may have changed, as the runtime sees it happen; the reconciler
    /// queues each. `None`: this runtime does not tell (the periodic resync still sees it).
    fn phase_events(&self) -> Option<tokio::sync::broadcast::Receiver<BeltId>> {
        None
    }
}

/// The sending side of [`Runtime::phase_events`]. Sending never blocks: with no listener, or a
/// slow one, events are dropped (a listener that lagged resyncs).
#[derive(Debug, Clone)]
pub struct PhaseEvents(tokio::sync::broadcast::Sender<BeltId>);

impl Default for PhaseEvents {
    fn default() -> Self {
        PhaseEvents(tokio::sync::broadcast::channel(1024).0)
    }
}

impl PhaseEvents {
    pub fn changed(&self, id: BeltId) {
        let _ = self.0.send(id);
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<BeltId> {
        self.0.subscribe()
    }
}
