//! The revisions of a belt (docs/api.md#revisions-and-rollback): each create and replace copies
//! the belt's row as it now stands in its own transaction, and prunes the belt's revisions to the
//! newest `revision_retention` there. Deleting the belt deletes them (a cascading foreign key).

use crate::domain::{BeltId, ProjectName};
use crate::domain::{Revision, RevisionPage, RevisionSummary};
use crate::store::revisions::{RevisionRow, RevisionSummaryRow};
use crate::store::{classify, RevisionLog, StoreError};

const RECORD: &str = "INSERT INTO belt_revisions (belt_id, version, project, spec, \
     created_by_name, created_by_email, created_at_ms, modified_by_name, modified_by_email, \
     modified_at_ms, rollback_of) \
     SELECT id, version, project, spec, created_by_name, created_by_email, created_at_ms, \
     modified_by_name, modified_by_email, modified_at_ms, $2 FROM belts WHERE id = $1";

/// Keeps the newest `$2` versions; versions of one belt are consecutive, so that is every
/// version more than `$2` below the belt's own.
const PRUNE: &str = "DELETE FROM belt_revisions WHERE belt_id = $1 \
     AND version <= (SELECT version FROM belts WHERE id = $1) - $2";

const PAGE: &str = "SELECT version, modified_by_name, modified_by_email, modified_at_ms, \
     rollback_of FROM belt_revisions WHERE belt_id = $1 AND project = $2 \
     ORDER BY version DESC LIMIT $3 OFFSET $4";

const COUNT: &str = "SELECT COUNT(*) FROM belt_revisions WHERE belt_id = $1 AND project = $2";

const ONE: &str = "SELECT belt_id, project, version, spec, created_by_name, created_by_email, \
     created_at_ms, modified_by_name, modified_by_email, modified_at_ms, rollback_of \
     FROM belt_revisions WHERE belt_id = $1 AND project = $2 AND version = $3";

sql_impl! {
impl {
    /// Stores belt `id` as it stands in this transaction as a revision, then prunes.
    pub(super) async fn keep_revision(
        &self,
        conn: &mut DB::Connection,
        id: i64,
        rollback_of: Option<i64>,
    ) -> Result<(), StoreError> {
        sqlx::query(RECORD)
            .bind(id)
            .bind(rollback_of)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
        sqlx::query(PRUNE)
            .bind(id)
            .bind(self.revision_retention)
            .execute(&mut *conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub(super) async fn revision_page(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<RevisionPage, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(classify)?;
        let rows: Vec<RevisionSummaryRow> = sqlx::query_as(PAGE)
            .bind(id.get())
            .bind(project.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&mut *conn)
            .await
            .map_err(classify)?;
        let (total,): (i64,) = sqlx::query_as(COUNT)
            .bind(id.get())
            .bind(project.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        Ok(RevisionPage {
            items: rows.into_iter().map(RevisionSummary::from).collect(),
            total: total.max(0) as u64,
        })
    }

    pub(super) async fn revision_of(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: i64,
    ) -> Result<Option<Revision>, StoreError> {
        let row: Option<RevisionRow> = sqlx::query_as(ONE)
            .bind(id.get())
            .bind(project.as_str())
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(Revision::try_from)
            .transpose()
            .map_err(StoreError::Other)
    }
}
}

sql_impl! {
#[async_trait::async_trait]
impl RevisionLog {
    async fn revisions(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<RevisionPage, StoreError> {
        self.revision_page(project, id, offset, limit).await
    }

    async fn revision(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: i64,
    ) -> Result<Option<Revision>, StoreError> {
        self.revision_of(project, id, version).await
    }
}
}
