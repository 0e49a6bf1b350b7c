//! Applies the workload policy refused: remembered per belt until one succeeds, so the belt shows
//! FAILED with the reason instead of being retried before its next START.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::domain::replica::ReplicaSpec;
use crate::domain::state_details::{DeploymentEvent, HeldBack};
use crate::domain::timestamp::format_timestamp;
use crate::domain::BeltId;
use crate::runtime::RuntimeError;

/// The condition a refused apply shows in `deploymentEvents`.
pub const REFUSED_REASON: &str = "RefusedByWorkloadPolicy";

/// A refused apply, as `observe` and `details` report it.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) version: i64,
    pub(super) generation: i64,
    pub(super) replicas: u32,
    reason: String,
    at: String,
}

impl Refusal {
    /// The refusal in the shape of a Deployment condition (`deploymentEvents`).
    pub(super) fn condition(&self) -> DeploymentEvent {
        DeploymentEvent::HeldBack(HeldBack {
            type_: "Applied".into(),
            status: "False".into(),
            reason: REFUSED_REASON.into(),
            message: self.reason.clone(),
            last_update_time: Some(self.at.clone()),
            last_transition_time: Some(self.at.clone()),
        })
    }
}

/// The last refused apply of each belt.
#[derive(Default)]
pub(super) struct Refusals(Mutex<HashMap<BeltId, Refusal>>);

impl Refusals {
    fn lock(&self) -> MutexGuard<'_, HashMap<BeltId, Refusal>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers why `spec` was not applied, and says so.
    pub(super) fn refuse(&self, spec: &ReplicaSpec, reason: String) -> RuntimeError {
        let refusal = Refusal {
            version: spec.version,
            generation: spec.generation,
            replicas: spec.replicas,
            reason: reason.clone(),
            at: format_timestamp(time::OffsetDateTime::now_utc()),
        };
        self.lock().insert(spec.belt_id, refusal);
        RuntimeError::Other(anyhow::anyhow!("refused by the workload policy: {reason}"))
    }

    pub(super) fn get(&self, id: BeltId) -> Option<Refusal> {
        self.lock().get(&id).cloned()
    }

    pub(super) fn forget(&self, id: BeltId) {
        self.lock().remove(&id);
    }
}
