//! Delete a belt (docs/api.md#delete): a wish like START and STOP. DELETING is stored under the
//! row lock (so `If-Match` is checked there), then the reconciler removes what runs and then the
//! document; the answer waits for that, bounded. Only the reconciler changes what runs. A dry run
//! stores the wish under the same lock and rolls it back: it answers what the store decides
//! (404, 412), not what the runtime would (424, 503).

use super::locked::write_locked;
use super::{Asked, BeltError, Belts, Dependency, Edit};
use crate::domain::belt::now_millis;
use crate::domain::transition::{self, Request};
use crate::domain::{Belt, Commit};
use crate::reconcile::Deletion;

impl Belts {
    pub async fn delete(&self, edit: Edit<'_>) -> Result<(), BeltError> {
        let (expect, commit) = edit.permit()?;
        let Asked {
            caller,
            project,
            id,
        } = edit.asked;
        let runtime = self.runtime.clone();
        let ask = Request {
            expect,
            by: caller.person(),
            at: now_millis(),
        };
        // Before the wish is stored, so the reconciler's answer cannot pass unseen, whichever
        // replica's it is.
        let deletions = self.reconciler.deletions();
        let announced = self.store.event_announcements();
        let decide =
            move |belt: &Belt| transition::delete(belt, &ask, runtime.observe(id)).map(Some);
        write_locked(self.store.as_ref(), project, id, decide, commit).await?;
        if commit == Commit::DryRun {
            return Ok(());
        }
        tracing::info!(belt = %id, project = %project, "deletion wished");
        match self
            .reconciler
            .await_deletion(deletions, announced, id)
            .await
        {
            Some(Deletion::Done) => {
                if let Some(invoker) = &self.invoker {
                    invoker
                        .forget(project.as_str(), id.get().unsigned_abs())
                        .await;
                }
                Ok(())
            }
            Some(Deletion::Refused(reason)) => Err(BeltError::InUse(reason)),
            Some(Deletion::Retrying(reason)) => {
                Err(BeltError::Unavailable(Dependency::Deletion(reason)))
            }
            None => Err(BeltError::Unavailable(Dependency::Deletion(
                "no answer yet".into(),
            ))),
        }
    }
}
