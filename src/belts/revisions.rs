//! A belt's kept versions (docs/api.md#revisions-and-rollback): a page of who changed it and when,
//! newest first, and the document of one version.

use super::{Access, Asked, BeltError, Belts, Paging};
use crate::domain::Invalid;
use crate::domain::{Revision, RevisionPage};

impl Belts {
    /// `paging` is handed in as parsed, refusal included, so the role check answers first.
    pub async fn revisions(
        &self,
        asked: Asked<'_>,
        paging: Result<Paging, Invalid>,
    ) -> Result<RevisionPage, BeltError> {
        let paging = asked.permit(Access::Read, paging)?;
        // A belt being deleted has no revisions to show, as it has no document.
        self.load(asked.project, asked.id).await?;
        let page = self
            .store
            .revisions(asked.project, asked.id, paging.offset, paging.limit);
        Ok(page.await?)
    }

    /// One kept version; 404 naming it when unknown or pruned.
    pub async fn revision(
        &self,
        asked: Asked<'_>,
        version: Result<i64, Invalid>,
    ) -> Result<Revision, BeltError> {
        let version = asked.permit(Access::Read, version)?;
        self.load(asked.project, asked.id).await?;
        self.kept_revision(asked, version).await
    }

    pub(super) async fn kept_revision(
        &self,
        asked: Asked<'_>,
        version: i64,
    ) -> Result<Revision, BeltError> {
        let id = asked.id;
        (self.store.revision(asked.project, id, version).await?)
            .ok_or(BeltError::RevisionNotFound { id, version })
    }
}
