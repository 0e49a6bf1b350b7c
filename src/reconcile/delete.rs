//! DELETE as a wish (docs/api.md#delete): the use case stores DELETING under the row lock and
//! wakes the reconciler, which removes the runtime objects and then the document; here the use
//! case waits, bounded, for the reconciler to say how it went. With several replicas the leader's
//! reconciler may be another process's: then the store says how it went, read again each time a
//! commit is announced (the leader's settlement is one).

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use super::{Deletion, Reconciler};
use crate::domain::{BeltId, DesiredState};

impl Reconciler {
    /// What the reconciler did with the deletion of `id`, heard on `deletions` (subscribed with
    /// [`Reconciler::deletions`] *before* the wish was stored, so the outcome cannot pass
    /// unseen) when this process leads, or read from the store after each commit `announced`
    /// (subscribed before too) when another does. `None` when nothing was heard within
    /// `Settings::delete_wait`: the deletion goes on in the background.
    pub async fn await_deletion(
        &self,
        mut deletions: broadcast::Receiver<(BeltId, Deletion)>,
        mut announced: watch::Receiver<()>,
        id: BeltId,
    ) -> Option<Deletion> {
        self.wake_belt(id);
        let heard = async {
            loop {
                let outcome = tokio::select! {
                    outcome = deletions.recv() => outcome,
                    changed = announced.changed() => {
                        if changed.is_err() {
                            std::future::pending::<()>().await;
                        }
                        // The local run loop tells its outcome with its own words.
                        if self.runs_here() {
                            continue;
                        }
                        if let Some(outcome) = self.deletion_in_store(id).await {
                            return Some(outcome);
                        }
                        continue;
                    }
                };
                match outcome {
                    Ok((deleted, outcome)) if deleted == id => return Some(outcome),
                    Ok(_) => continue,
                    // Outcomes went by unheard, this belt's perhaps among them: the store says
                    // whether it ended; still DELETING, its outcome is still to come.
                    Err(RecvError::Lagged(missed)) => {
                        tracing::debug!(belt = %id, missed, "deletion outcomes missed; asking the store");
                        if let Some(outcome) = self.deletion_in_store(id).await {
                            return Some(outcome);
                        }
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        };
        tokio::time::timeout(self.settings().delete_wait, heard)
            .await
            .ok()
            .flatten()
    }

    /// How the deletion of `id` ended, as the store shows it: the belt gone is a deletion done,
    /// its wish no longer DELETING is one the reconciler refused (and put back to STOPPED).
    /// `None` while it is still being deleted, or when the store does not answer.
    async fn deletion_in_store(&self, id: BeltId) -> Option<Deletion> {
        match self.store.get_any(id).await {
            Ok(None) => Some(Deletion::Done),
            Ok(Some(belt)) if belt.wish.desired != DesiredState::Deleting => {
                Some(Deletion::Refused(REFUSED_UNHEARD.into()))
            }
            Ok(Some(_)) => None,
            Err(err) => {
                tracing::warn!(belt = %id, error = %err, "reading a deletion's outcome failed");
                None
            }
        }
    }
}

/// A refusal whose own words went by unheard.
const REFUSED_UNHEARD: &str =
    "the runtime holds objects belt-api does not manage; the belt is STOPPED again";
