//! The steps the [`BeltStore`](crate::store::BeltStore) methods of [`SqlStore`] are made of: the
//! compare-and-set writes, the locked write, id allocation and the paged search.

use std::sync::Arc;

use super::events::{self, EventRow};
use super::statements;
use super::{belt_of, belts_of, Dialect, SqlStore};
use crate::domain::belt::epoch_millis;
use crate::domain::{Belt, BeltId, DesiredState, ProjectName, Wish};
use crate::store::row::{spec_json, BeltRow};
use crate::store::{
    classify, is_unique_violation, Change, Commit, Decide, ListQuery, LockedOutcome, LockedWrite,
    NewBelt, Page, StoreError, WishChange, WishGuard,
};

// The same bounds as the `BeltStore` impl in mod.rs: Rust does not carry an impl's where clauses
// over to another impl, so each generic block states what it needs of the database.
impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'r> BeltRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> crate::store::revisions::RevisionRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> crate::store::revisions::RevisionSummaryRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'r> EventRow: sqlx::FromRow<'r, DB::Row>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    /// The compare-and-set update of one belt on `change.expected_version`; `None` when that
    /// version (or the belt) is not there.
    pub(super) async fn update_row(
        conn: &mut DB::Connection,
        project: &ProjectName,
        id: BeltId,
        change: &Change,
    ) -> Result<Option<BeltRow>, StoreError> {
        sqlx::query_as(&statements::UPDATE_SPEC)
            .bind(change.spec.name.as_str())
            .bind(change.spec.name.to_lowercase())
            .bind(spec_json(&change.spec)?)
            .bind(change.by.name.as_str())
            .bind(change.by.email.as_str())
            .bind(epoch_millis(change.at))
            .bind(project.as_str())
            .bind(id.get())
            .bind(change.expected_version)
            .fetch_optional(conn)
            .await
            .map_err(|err| name_taken_or_classified(err, &change.spec.name))
    }

    /// The compare-and-set of a START, STOP or DELETE on the wish in `guard`; `None` when the wish (or the
    /// belt) is not there.
    pub(super) async fn wish_row(
        conn: &mut DB::Connection,
        project: &ProjectName,
        id: BeltId,
        guard: WishGuard,
        change: WishChange,
    ) -> Result<Option<BeltRow>, StoreError> {
        let (desired, version, spec) = match change {
            WishChange::Start { version, spec } => (
                DesiredState::Running,
                Some(version),
                Some(spec_json(&spec)?),
            ),
            WishChange::Stop => (DesiredState::Stopped, None, None),
            WishChange::Delete => (DesiredState::Deleting, None, None),
        };
        let row: Option<BeltRow> = sqlx::query_as(&statements::UPDATE_WISH)
            .bind(version)
            .bind(spec)
            .bind(project.as_str())
            .bind(id.get())
            .bind(guard.desired.as_str())
            .bind(guard.generation)
            .bind(desired.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(classify)?;
        // A DELETE takes the belt out of every list at once.
        if row.is_some() && desired == DesiredState::Deleting {
            Self::bump_roster(conn, project.as_str()).await?;
        }
        Ok(row)
    }

    pub(super) async fn bump_roster(
        conn: &mut DB::Connection,
        project: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(statements::BUMP_ROSTER)
            .bind(project)
            .execute(conn)
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub(super) async fn current_version(
        &self,
        project: &ProjectName,
        id: BeltId,
    ) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(statements::CURRENT_VERSION)
            .bind(project.as_str())
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        Ok(row.map(|(version,)| version))
    }

    /// Reads the belt with its row locked (see [`Dialect::BEGIN_WRITE`], [`Dialect::LOCK_ROW`]),
    /// lets `decide` choose the write and applies it in the same transaction.
    pub(super) async fn write_under_lock(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
        commit: Commit,
    ) -> Result<LockedOutcome, StoreError> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(classify)?;
        let select = format!("{}{}", *statements::SELECT_ONE, DB::LOCK_ROW);
        let row: Option<BeltRow> = sqlx::query_as(&select)
            .bind(project.as_str())
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Ok(LockedOutcome::NotFound);
        };
        let belt = belt_of(row)?;
        // The row is locked until the commit, so the guards below cannot miss: no other writer
        // can have moved the version or the wish since it was read.
        let (write, event) = match decide(&belt) {
            Err(refusal) => return Ok(LockedOutcome::Refused(refusal)),
            Ok(decided) => (decided.write, decided.event),
        };
        let row = match write {
            LockedWrite::Nothing => return Ok(LockedOutcome::Unchanged(Box::new(belt))),
            LockedWrite::Replace {
                spec,
                by,
                at,
                rollback_of,
            } => {
                let change = Change {
                    spec: *spec,
                    by,
                    at,
                    expected_version: belt.version,
                };
                let row = Self::update_row(&mut tx, project, id, &change).await?;
                self.keep_revision(&mut tx, id.get(), rollback_of).await?;
                row
            }
            LockedWrite::Wish(change) => {
                Self::wish_row(&mut tx, project, id, WishGuard::of(&belt), change).await?
            }
        };
        let row = row.ok_or_else(|| anyhow::anyhow!("belt {id} changed under its row lock"))?;
        let written = belt_of(row)?;
        Self::record_written(&mut tx, &written, event).await?;
        finish(tx, commit).await?;
        self.announce();
        Ok(LockedOutcome::Written(Box::new(written)))
    }

    async fn next_id(conn: &mut DB::Connection) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as(DB::NEXT_ID)
            .fetch_one(conn)
            .await
            .map_err(classify)?;
        Ok(id)
    }

    /// Inserts one belt under `id`; `false` when the id is taken (nothing written).
    async fn insert_row(
        conn: &mut DB::Connection,
        id: i64,
        belt: &NewBelt,
    ) -> Result<bool, StoreError> {
        let at = epoch_millis(belt.at);
        let inserted = sqlx::query(statements::INSERT)
            .bind(id)
            .bind(belt.project.as_str())
            .bind(belt.spec.name.as_str())
            .bind(belt.spec.name.to_lowercase())
            .bind(spec_json(&belt.spec)?)
            .bind(belt.author.name.as_str())
            .bind(belt.author.email.as_str())
            .bind(at)
            .execute(conn)
            .await
            .map_err(|err| name_taken_or_classified(err, &belt.spec.name))?;
        Ok(DB::rows_affected(&inserted) > 0)
    }

    /// Creates a belt in one transaction: allocate an id (skipping ids that explicit creates
    /// took), insert, commit.
    pub(super) async fn create_belt(
        &self,
        belt: NewBelt,
        commit: Commit,
    ) -> Result<Belt, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let id = loop {
            let id = match belt.id {
                Some(id) => id.get(),
                None => Self::next_id(&mut tx).await?,
            };
            if Self::insert_row(&mut tx, id, &belt).await? {
                break id;
            }
            if let Some(id) = belt.id {
                return Err(StoreError::IdTaken(id));
            }
        };
        self.keep_revision(&mut tx, id, None).await?;
        let created = Belt {
            id: BeltId::new(id)
                .ok_or_else(|| anyhow::anyhow!("allocated id {id} is not positive"))?,
            project: belt.project,
            version: 1,
            spec: belt.spec,
            created_by: belt.author.clone(),
            created_at: belt.at,
            modified_by: belt.author,
            modified_at: belt.at,
            wish: Wish::default(),
        };
        Self::record_written(
            &mut tx,
            &created,
            Some(events::created(&created.created_by, created.created_at)),
        )
        .await?;
        finish(tx, commit).await?;
        self.announce();
        Ok(created)
    }

    /// Many belts in one transaction; an id already taken is skipped, not an error.
    pub(super) async fn insert_belts(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let mut inserted = 0;
        for belt in belts {
            let id = match belt.id {
                Some(id) => id.get(),
                None => Self::next_id(&mut tx).await?,
            };
            if Self::insert_row(&mut tx, id, &belt).await? {
                self.keep_revision(&mut tx, id, None).await?;
                inserted += 1;
                let event = events::created(&belt.author, belt.at);
                Self::record_in(&mut tx, belt.project.as_str(), id, Some(1), &event).await?;
            }
        }
        tx.commit().await.map_err(classify)?;
        self.announce();
        Ok(inserted)
    }

    /// One page of the project's belts whose name contains the search, read in one read-only
    /// snapshot so the revision, the ids and the rows describe the same moment.
    pub(super) async fn list_page(
        &self,
        project: &ProjectName,
        query: &ListQuery,
    ) -> Result<Page, StoreError> {
        let pattern = like_pattern(&query.search);
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_SNAPSHOT)
            .await
            .map_err(classify)?;
        let ids = self.search_ids(&mut tx, project, &pattern).await?;
        let page = page_of(&ids, query.offset, query.limit);
        let rows: Vec<BeltRow> = if page.is_empty() {
            Vec::new()
        } else {
            let select = statements::select_page(page.len());
            let mut rows = sqlx::query_as(&select).bind(project.as_str());
            for id in page {
                rows = rows.bind(*id);
            }
            rows.fetch_all(&mut *tx).await.map_err(classify)?
        };
        tx.commit().await.map_err(classify)?;
        Ok(Page {
            belts: belts_of(rows)?,
            total: ids.len() as u64,
        })
    }

    /// The sorted ids that match `pattern`, from the cache while the project's roster revision
    /// stands.
    async fn search_ids(
        &self,
        conn: &mut DB::Connection,
        project: &ProjectName,
        pattern: &str,
    ) -> Result<Arc<[i64]>, StoreError> {
        let (revision,): (i64,) = sqlx::query_as(statements::ROSTER_REVISION)
            .bind(project.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(classify)?;
        let scan = async {
            let ids: Vec<(i64,)> = sqlx::query_as(statements::SEARCH_IDS)
                .bind(project.as_str())
                .bind(pattern)
                .fetch_all(&mut *conn)
                .await
                .map_err(classify)?;
            Ok(ids.into_iter().map(|(id,)| id).collect())
        };
        self.searches
            .ids_or_scan(project.as_str(), pattern, revision, scan)
            .await
    }
}

/// Commits the transaction, or rolls a dry run back. On PostgreSQL an id a rolled-back create took
/// from the sequence stays taken (sequences are not transactional): a gap, never a reuse.
async fn finish<DB: Dialect>(
    tx: sqlx::Transaction<'_, DB>,
    commit: Commit,
) -> Result<(), StoreError> {
    match commit {
        Commit::Yes => tx.commit().await,
        Commit::DryRun => tx.rollback().await,
    }
    .map_err(classify)
}

/// A write that breaks the unique name of a project names that name; anything else is classified.
fn name_taken_or_classified(err: sqlx::Error, name: &str) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::NameTaken(name.to_owned())
    } else {
        classify(err)
    }
}

/// `search` as a LIKE pattern over the folded name, with `%`, `_` and the escape itself literal.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The ids of one page: `limit` of them from `offset`, fewer at the end.
fn page_of(ids: &[i64], offset: u64, limit: u64) -> &[i64] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(ids.len());
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(ids.len());
    &ids[start..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("A_b%"), "%a\\_b\\%%");
        assert_eq!(super::like_pattern(""), "%%");
        assert_eq!(super::like_pattern("x\\y"), "%x\\\\y%");
    }

    #[test]
    fn pages_are_slices_that_never_overrun() {
        let ids = [1, 2, 3, 4, 5];
        assert_eq!(super::page_of(&ids, 0, 2), &[1, 2]);
        assert_eq!(super::page_of(&ids, 4, 20), &[5]);
        assert!(super::page_of(&ids, 5, 20).is_empty());
        assert!(super::page_of(&ids, u64::MAX, u64::MAX).is_empty());
        assert_eq!(super::super::statements::placeholders(2, 3), "$2, $3, $4");
    }
}
