//! Delete a belt (docs/api.md#delete): STOP is stored first, then the runtime removes what runs,
//! then the document goes. A crash in between leaves a stopped belt, never an orphan.

use super::{Asked, BeltError, Belts, Edit};
use crate::store::DeleteOutcome;

impl Belts {
    pub async fn delete(&self, edit: Edit<'_>) -> Result<(), BeltError> {
        let expect = edit.permit()?;
        let Asked { project, id, .. } = edit.asked;
        let stopped = self.store_stop(project, id, expect.clone()).await?;
        let expected = (!expect.is_any()).then_some(stopped.version);
        self.runtime.remove(id).await?;
        match self.store.delete(project, id, expected).await? {
            DeleteOutcome::Deleted => {
                tracing::info!(belt = %id, project = %project, "belt deleted");
                Ok(())
            }
            DeleteOutcome::NotFound => Err(BeltError::NotFound(id)),
            DeleteOutcome::VersionMismatch { current } => {
                expect.check(id, current)?;
                Err(BeltError::NotFound(id))
            }
        }
    }
}
