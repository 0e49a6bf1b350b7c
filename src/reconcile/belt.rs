//! One belt: read its document, make the runtime match its wish, and the error policy that
//! decides when a failed belt is tried again.

use std::future::Future;

use super::expectations::Applied;
use super::{replica_spec, Deletion, Reconciler};
use crate::domain::belt::now_millis;
use crate::domain::topics::foreign_destination;
use crate::domain::{transition, Belt, BeltId, DesiredState};
use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// What reconciling one belt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The runtime already matched the wish.
    Unchanged,
    Applied,
    Removed,
    /// Removed from the runtime and from the store.
    Deleted,
    /// The runtime refused the deletion; the wish is back to STOPPED.
    DeletionRefused,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the runtime did not finish within {0:?}")]
    Timeout(std::time::Duration),
    #[error("creating the belt's topics: {0}")]
    Topics(#[from] crate::broker::BrokerError),
    /// The deployed spec breaks a rule no configuration lifts (docs/api.md#reserved-names).
    #[error("not deployed: {0}")]
    Refused(String),
}

impl Reconciler {
    /// Drives the runtime toward the stored wish of `id` once; no retry here (see `work`).
    #[tracing::instrument(skip(self))]
    pub async fn reconcile(&self, id: BeltId) -> Result<Outcome, ReconcileError> {
        let Some(belt) = self.store.get_any(id).await? else {
            return self.remove_if_deployed(id).await;
        };
        match belt.wish.desired {
            DesiredState::Running => self.deploy(&belt).await,
            DesiredState::Stopped => self.remove_if_deployed(id).await,
            DesiredState::Deleting => self.delete(&belt).await,
        }
    }

    /// Reconciles `id` and applies the error policy: a failure is retried after a growing
    /// delay, visible in `/metrics`; a success ends the belt's retry series.
    pub(super) async fn work(&self, id: BeltId) -> Result<Outcome, ReconcileError> {
        let span = self.wakers.span(id);
        let result = tracing::Instrument::instrument(self.reconcile(id), span).await;
        match &result {
            Ok(_) => {
                if self.backoff.succeeded(id) {
                    self.metrics.belt_recovered(id);
                }
            }
            Err(err) => {
                let delay = self.backoff.failed(id);
                tracing::warn!(belt = %id, error = %err, retry_in = ?delay, "reconciling failed; will retry");
                self.queue.push_after(id, delay);
                self.metrics.belt_retrying(id, delay);
            }
        }
        self.queue.done(id);
        self.metrics.set_reconcile_queue_depth(self.queue.depth());
        result
    }

    async fn deploy(&self, belt: &Belt) -> Result<Outcome, ReconcileError> {
        let wanted = belt.wish.deployed.as_ref().map(|deployed| Applied {
            generation: belt.wish.generation,
            version: deployed.version,
        });
        let current = match (self.runtime.observe(belt.id), wanted) {
            (Some(observed), Some(wanted)) => {
                observed.generation == wanted.generation && observed.version == wanted.version
            }
            _ => false,
        };
        if current {
            self.expectations.settled(belt.id);
        }
        let pending = wanted.is_some_and(|wanted| self.expectations.pending(belt.id, wanted));
        let Some(spec) =
            replica_spec(belt, &self.settings.platform).filter(|_| !current && !pending)
        else {
            return Ok(Outcome::Unchanged);
        };
        if let Some(deployed) = &belt.wish.deployed {
            if let Some(reason) = foreign_destination(&deployed.spec) {
                return Err(ReconcileError::Refused(reason));
            }
            self.ensure_topics(belt, &deployed.spec).await?;
        }
        self.bounded(self.runtime.apply(&spec)).await?;
        if let Some(wanted) = wanted {
            self.expectations.expect(belt.id, wanted);
        }
        tracing::info!(belt = %belt.id, version = spec.version, generation = spec.generation, "deployed");
        Ok(Outcome::Applied)
    }

    async fn remove_if_deployed(&self, id: BeltId) -> Result<Outcome, ReconcileError> {
        self.expectations.settled(id);
        if !self.runtime.deployed().contains(&id) {
            return Ok(Outcome::Unchanged);
        }
        self.bounded(self.runtime.remove(id)).await?;
        tracing::info!(belt = %id, "removed: no longer wished to run");
        Ok(Outcome::Removed)
    }

    /// Runtime first, then the document; a refusal puts the wish back to STOPPED.
    async fn delete(&self, belt: &Belt) -> Result<Outcome, ReconcileError> {
        let (id, tell) = (belt.id, |deletion| {
            let _ = self.deletions.send((belt.id, deletion));
        });
        if let Some(pause) = self.settings().pause_before_teardown {
            tracing::warn!(belt = %id, ?pause, "pausing before a teardown, as a test asked");
            tokio::time::sleep(pause).await;
        }
        match self.bounded(self.runtime.remove(id)).await {
            Ok(()) => {
                self.expectations.settled(id);
                let deleted = |belt: &Belt| transition::deleted(belt, now_millis());
                self.store.settle_deletion(id, Box::new(deleted)).await?;
                tracing::info!(belt = %id, project = %belt.project, "belt deleted");
                tell(Deletion::Done);
                Ok(Outcome::Deleted)
            }
            Err(ReconcileError::Runtime(RuntimeError::InUse(reason))) => {
                let refused = |belt: &Belt| transition::deletion_refused(belt, now_millis());
                self.store.settle_deletion(id, Box::new(refused)).await?;
                tracing::warn!(belt = %id, %reason, "deletion refused: runtime objects in use");
                tell(Deletion::Refused(reason));
                Ok(Outcome::DeletionRefused)
            }
            Err(err) => {
                tell(Deletion::Retrying(err.to_string()));
                Err(err)
            }
        }
    }

    /// A runtime call under the controller's deadline.
    async fn bounded(
        &self,
        call: impl Future<Output = Result<(), RuntimeError>>,
    ) -> Result<(), ReconcileError> {
        let limit = self.settings.call_timeout;
        match tokio::time::timeout(limit, call).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ReconcileError::Timeout(limit)),
        }
    }
}
