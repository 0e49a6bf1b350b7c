//! DELETE as a wish (docs/api.md#delete): the use case stores DELETING under the row lock and
//! wakes the reconciler, which removes the runtime objects and then the document; here the use
//! case waits, bounded, for the reconciler to say how it went.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use super::{Deletion, Reconciler};
use crate::domain::BeltId;

impl Reconciler {
    /// What the reconciler did with the deletion of `id`, heard on `deletions` (subscribed with
    /// [`Reconciler::deletions`] *before* the wish was stored, so the outcome cannot pass
    /// unseen). `None` when nothing was heard within `Settings::delete_wait`: the deletion goes
    /// on in the background.
    pub async fn await_deletion(
        &self,
        mut deletions: broadcast::Receiver<(BeltId, Deletion)>,
        id: BeltId,
    ) -> Option<Deletion> {
        self.wake_belt(id);
        let heard = async {
            loop {
                match deletions.recv().await {
                    Ok((deleted, outcome)) if deleted == id => return Some(outcome),
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        };
        tokio::time::timeout(self.settings().delete_wait, heard)
            .await
            .ok()
            .flatten()
    }
}

/// `BELT_TEST_PAUSE_BEFORE_TEARDOWN_MS`: a crash test holds the reconciler here, the DELETING
/// wish stored and nothing removed yet, to kill the API at exactly that point.
pub(super) async fn pause_for_tests() {
    if let Some(ms) = std::env::var("BELT_TEST_PAUSE_BEFORE_TEARDOWN_MS")
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
    {
        tracing::warn!(pause_ms = ms, "pausing before a teardown, as a test asked");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}
