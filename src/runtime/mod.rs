//! Where belts run. One trait, one implementation per runtime: `local` (supervised child processes)
//! and `kubernetes` (a Deployment and a ConfigMap per belt, via kube-rs).

pub mod kubernetes;
pub mod local;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::domain::replica::ReplicaSpec;
use crate::domain::BeltId;

pub use crate::domain::lifecycle::{Observed, Phase};

/// `GET …/state` details, in the v2 document's shapes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateDetails {
    /// Replicas asked for, as a string (`"1"`).
    pub deployment_replicas: String,
    /// Deployment conditions: `type`, `status`, `reason`, `message`, `lastUpdateTime`, `lastTransitionTime`.
    pub deployment_events: Vec<Value>,
    /// Per pod/process: `name`, `podEvents` (conditions), `containerStatus`.
    pub pod_status: Vec<Value>,
}

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

#[async_trait]
pub trait Runtime: Send + Sync + 'static {
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

    /// Why a belt is in its phase; `None` when nothing is deployed.
    async fn details(&self, id: BeltId) -> Result<Option<StateDetails>, RuntimeError>;

    /// The last `lines` lines of each replica, timestamp-prefixed, keyed by pod/process name.
    async fn logs(
        &self,
        id: BeltId,
        lines: u32,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError>;

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
