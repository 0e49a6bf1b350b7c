//! DELETE as a wish (docs/api.md#delete): store DELETING under the row lock, wake the
//! reconciler, and wait (bounded) for it to remove the runtime objects and then the document.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::{Deletion, Reconciler};
use crate::domain::{Belt, BeltId, ProjectName};
use crate::error::{ApiError, ApiResult};
use crate::runtime::RuntimeError;
use crate::store::{BeltStore, Decide, LockedOutcome, LockedWrite, WishChange};

/// Deletes belt `id` of `project`. `check` sees the belt under its row lock and may refuse (a
/// stale `If-Match`). Waits up to `Settings::delete_wait` for the reconciler: a belt whose runtime objects are not
/// belt-api's stays (424, the wish back to STOPPED); no answer in time is a 503 while the
/// deletion goes on.
pub async fn delete_belt(
    store: &dyn BeltStore,
    reconciler: &Reconciler,
    project: &ProjectName,
    id: BeltId,
    check: impl FnOnce(&Belt) -> ApiResult<()> + Send + 'static,
) -> ApiResult<()> {
    // Before the wish is stored, so the outcome cannot pass unseen.
    let mut deletions = reconciler.deletions();
    let decide: Decide = Box::new(move |belt: &Belt| {
        check(belt)?;
        Ok(LockedWrite::Wish(WishChange::Delete))
    });
    match store.write_locked(project, id, decide).await? {
        LockedOutcome::Written(_) => {}
        LockedOutcome::Refused(refusal) => return Err(refusal),
        LockedOutcome::Unchanged(_) | LockedOutcome::NotFound => {
            return Err(ApiError::belt_not_found(id))
        }
    }
    tracing::info!(belt = %id, project = %project, "deletion wished");
    reconciler.wake_belt(id);
    let outcome = tokio::time::timeout(reconciler.settings().delete_wait, async {
        loop {
            match deletions.recv().await {
                Ok((deleted, outcome)) if deleted == id => return Some(outcome),
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .await;
    match outcome {
        Ok(Some(Deletion::Done)) => Ok(()),
        Ok(Some(Deletion::Refused(reason))) => Err(RuntimeError::InUse(reason).into()),
        Ok(Some(Deletion::Retrying(reason))) => Err(ApiError::Unavailable(format!(
            "The runtime did not remove the belt ({reason}); the deletion continues."
        ))),
        Ok(None) | Err(_) => Err(ApiError::Unavailable(
            "The runtime has not confirmed the deletion yet; the deletion continues.".into(),
        )),
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
