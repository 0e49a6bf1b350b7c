//! The writes of [`SqlStore`]: each stores what a domain transition or settlement decided
//! (`crate::domain::transition`) with one statement, its revision when it is a new version, and
//! its event, in one transaction. Nothing here decides a version, a generation, a status or
//! whether a deletion may end.

use sqlx::query::Query as SqlStatement;

use super::statements;
use super::{belt_of, Dialect};
use crate::domain::belt::epoch_millis;
use crate::domain::transition::{self, NewBelt, Settlement, Transition};
use crate::domain::{Belt, BeltId, DesiredState, ProjectName};
use crate::store::row::{spec_json, BeltRow};
use crate::store::{
    classify, is_unique_violation, Commit, Decide, LockedOutcome, Settle, StoreError,
};

/// A belt as the written columns hold it (`statements::INSERT`, `statements::UPDATE`).
struct Columns<'a> {
    belt: &'a Belt,
    name_folded: String,
    spec: String,
    deployed_spec: Option<String>,
}

impl<'a> Columns<'a> {
    fn of(belt: &'a Belt) -> Result<Self, StoreError> {
        let deployed = belt.wish.deployed.as_ref();
        Ok(Columns {
            belt,
            name_folded: belt.spec.name.to_lowercase(),
            spec: spec_json(&belt.spec)?,
            deployed_spec: deployed.map(|d| spec_json(&d.spec)).transpose()?,
        })
    }
}

/// An SQL statement with its arguments (named apart from the HTTP query, which only
/// `http/query.rs` reads).
type Statement<'q, DB> = SqlStatement<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

sql_impl! {
impl {
    /// Binds `$1`…`$16`: the written columns, then the project and the id.
    fn bind_columns<'q>(query: Statement<'q, DB>, c: &'q Columns<'q>) -> Statement<'q, DB> {
        let belt = c.belt;
        let deployed_version = belt.wish.deployed.as_ref().map(|d| d.version);
        query
            .bind(belt.spec.name.as_str())
            .bind(c.name_folded.as_str())
            .bind(belt.version)
            .bind(c.spec.as_str())
            .bind(belt.created_by.name.as_str())
            .bind(belt.created_by.email.as_str())
            .bind(epoch_millis(belt.created_at))
            .bind(belt.modified_by.name.as_str())
            .bind(belt.modified_by.email.as_str())
            .bind(epoch_millis(belt.modified_at))
            .bind(belt.wish.desired.as_str())
            .bind(deployed_version)
            .bind(c.deployed_spec.clone())
            .bind(belt.wish.generation)
            .bind(belt.project.as_str())
            .bind(belt.id.get())
    }

    /// Stores `next` over `read`, guarded on the version and generation of `read`.
    async fn update_row(
        conn: &mut DB::Connection,
        read: &Belt,
        next: &Belt,
    ) -> Result<(), StoreError> {
        let columns = Columns::of(next)?;
        let updated = Self::bind_columns(sqlx::query(&statements::UPDATE), &columns)
            .bind(read.version)
            .bind(read.wish.generation)
            .execute(conn)
            .await
            .map_err(|err| name_taken_or_classified(err, &next.spec.name))?;
        guard_held(DB::rows_affected(&updated), read)
    }

    /// Removes the document of `read`, guarded on its version and generation as `update_row` is.
    async fn delete_row(conn: &mut DB::Connection, read: &Belt) -> Result<(), StoreError> {
        let deleted = sqlx::query(&statements::DELETE)
            .bind(read.project.as_str())
            .bind(read.id.get())
            .bind(read.version)
            .bind(read.wish.generation)
            .execute(conn)
            .await
            .map_err(classify)?;
        guard_held(DB::rows_affected(&deleted), read)
    }

    /// Inserts the created belt; `false` when its id is taken (nothing written).
    async fn insert_row(conn: &mut DB::Connection, belt: &Belt) -> Result<bool, StoreError> {
        let columns = Columns::of(belt)?;
        let inserted = Self::bind_columns(sqlx::query(&statements::INSERT), &columns)
            .execute(conn)
            .await
            .map_err(|err| name_taken_or_classified(err, &belt.spec.name))?;
        Ok(DB::rows_affected(&inserted) > 0)
    }

    /// Stores a transition of the belt `read` in this transaction: the next belt, a revision when
    /// it is a new version, the roster moved when it leaves every list or comes back to them
    /// (DELETING in or out), and its event.
    async fn store_transition(
        &self,
        conn: &mut DB::Connection,
        read: &Belt,
        transition: &Transition,
    ) -> Result<(), StoreError> {
        let next = &transition.next;
        Self::update_row(&mut *conn, read, next).await?;
        if next.version != read.version {
            self.keep_revision(&mut *conn, next.id.get(), transition.restores)
                .await?;
        }
        let listed = |belt: &Belt| belt.wish.desired != DesiredState::Deleting;
        if listed(read) != listed(next) {
            Self::bump_roster(&mut *conn, next.project.as_str()).await?;
        }
        self.record_written(conn, next, &transition.event).await
    }

    /// Reads the belt with its row locked (see [`Dialect::BEGIN_WRITE`], [`Dialect::LOCK_ROW`]),
    /// lets `decide` choose the transition and stores it in the same transaction.
    pub(super) async fn write_under_lock(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
        commit: Commit,
    ) -> Result<LockedOutcome, StoreError> {
        let select = &statements::SELECT_ONE;
        let (mut tx, read) = self.begin_locked(select, Some(project), id).await?;
        let Some(read) = read else {
            return Ok(LockedOutcome::NotFound);
        };
        let transition = match decide(&read) {
            Err(refusal) => return Ok(LockedOutcome::Refused(refusal)),
            Ok(None) => return Ok(LockedOutcome::Unchanged(Box::new(read))),
            Ok(Some(transition)) => transition,
        };
        self.store_transition(&mut tx, &read, &transition).await?;
        let finished = finish(tx, commit).await;
        self.forget(id);
        finished?;
        self.announce();
        Ok(LockedOutcome::Written(Box::new(transition)))
    }

    /// Reads the belt `id` of any project and desired state with its row locked, lets `settle`
    /// choose how its deletion ends and stores that in the same transaction.
    pub(super) async fn settle_under_lock(
        &self,
        id: BeltId,
        settle: Settle,
    ) -> Result<Option<Settlement>, StoreError> {
        let (mut tx, read) = self.begin_locked(&statements::SELECT_ANY, None, id).await?;
        let Some(read) = read else {
            return Ok(None);
        };
        let Some(settlement) = settle(&read) else {
            return Ok(None);
        };
        match &settlement {
            Settlement::Remove(event) => {
                Self::delete_row(&mut tx, &read).await?;
                self.record_written(&mut tx, &read, event).await?;
            }
            Settlement::Restore(transition) => {
                self.store_transition(&mut tx, &read, transition).await?;
            }
        }
        let committed = tx.commit().await.map_err(classify);
        self.forget(id);
        committed?;
        self.announce();
        Ok(Some(settlement))
    }

    /// Opens a write transaction (see [`Dialect::BEGIN_WRITE`]) and reads, with its row locked
    /// until the commit ([`Dialect::LOCK_ROW`]), the belt `select` finds by `id`, and by
    /// `project` first when the statement names one.
    async fn begin_locked(
        &self,
        select: &str,
        project: Option<&ProjectName>,
        id: BeltId,
    ) -> Result<(sqlx::Transaction<'static, DB>, Option<Belt>), StoreError> {
        let mut tx = self
            .pool
            .begin_with(DB::BEGIN_WRITE)
            .await
            .map_err(classify)?;
        let select = format!("{select}{}", DB::LOCK_ROW);
        let mut query = sqlx::query_as::<DB, BeltRow>(&select);
        if let Some(project) = project {
            query = query.bind(project.as_str());
        }
        let row = query
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        Ok((tx, row.map(belt_of).transpose()?))
    }

    /// The id the next create takes. A dry run where the sequence is not transactional reads it
    /// without taking it (`peeked` holds the last one read, so that a loop past ids explicit
    /// creates took moves on instead of reading the same one again).
    async fn next_id(
        conn: &mut DB::Connection,
        commit: Commit,
        peeked: &mut Option<i64>,
    ) -> Result<BeltId, StoreError> {
        let id = match (commit, DB::PEEK_ID, *peeked) {
            (Commit::DryRun, Some(_), Some(last)) => last + 1,
            (Commit::DryRun, Some(peek), None) => {
                let (id,): (i64,) = sqlx::query_as(peek)
                    .fetch_one(conn)
                    .await
                    .map_err(classify)?;
                id
            }
            _ => {
                let (id,): (i64,) = sqlx::query_as(DB::NEXT_ID)
                    .fetch_one(conn)
                    .await
                    .map_err(classify)?;
                id
            }
        };
        *peeked = Some(id);
        BeltId::new(id).ok_or_else(|| anyhow::anyhow!("allocated id {id} is not positive").into())
    }

    /// Inserts the belt `new` asks for, under its id or the next free one (skipping ids that
    /// explicit creates took); `None` when its own id is taken. Its revision and its event too,
    /// and the other processes told of it unless `quietly` (a bulk insert tells them once).
    async fn insert_new(
        &self,
        conn: &mut DB::Connection,
        new: &NewBelt,
        (commit, quietly): (Commit, bool),
    ) -> Result<Option<Transition>, StoreError> {
        let mut peeked = None;
        loop {
            let id = match new.id {
                Some(id) => id,
                None => Self::next_id(&mut *conn, commit, &mut peeked).await?,
            };
            let created = transition::create(id, new);
            if Self::insert_row(&mut *conn, &created.next).await? {
                self.keep_revision(&mut *conn, id.get(), None).await?;
                let (belt, event) = (&created.next, &created.event);
                if quietly {
                    let project = belt.project.as_str();
                    Self::record_in(&mut *conn, project, id.get(), Some(belt.version), event)
                        .await?;
                } else {
                    self.record_written(&mut *conn, belt, event).await?;
                }
                return Ok(Some(created));
            }
            if new.id.is_some() {
                return Ok(None);
            }
        }
    }

    /// Creates a belt in one transaction (a dry run rolls it back).
    pub(super) async fn create_belt(
        &self,
        new: NewBelt,
        commit: Commit,
    ) -> Result<Belt, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let Some(created) = self.insert_new(&mut tx, &new, (commit, false)).await? else {
            let id = new
                .id
                .ok_or_else(|| anyhow::anyhow!("an allocated id was taken"))?;
            return Err(StoreError::IdTaken(id));
        };
        let finished = finish(tx, commit).await;
        // A new id has nothing remembered (a deleted belt's was forgotten); forgetting it anyway
        // keeps "every write forgets" without exceptions to reason about.
        self.forget(created.next.id);
        finished?;
        self.announce();
        Ok(created.next)
    }

    /// Many belts in one transaction; an id already taken is skipped, not an error. The other
    /// processes are told once per project: the new belts are STOPPED, no reconciler needs them.
    pub(super) async fn insert_belts(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let mut inserted = Vec::new();
        let mut projects = std::collections::BTreeSet::new();
        for new in &belts {
            if let Some(created) = self.insert_new(&mut tx, new, (Commit::Yes, true)).await? {
                projects.insert(created.next.project.as_str().to_owned());
                inserted.push(created.next.id);
            }
        }
        for project in &projects {
            self.notify_in(&mut tx, project, 0).await?;
        }
        let committed = tx.commit().await.map_err(classify);
        for id in &inserted {
            self.forget(*id);
        }
        committed?;
        self.announce();
        Ok(inserted.len() as u64)
    }
}
}

/// Commits the transaction, or rolls a dry run back (a dry run's create took no id from a sequence
/// that would not give it back: `next_id`).
pub(super) async fn finish<DB: Dialect>(
    tx: sqlx::Transaction<'_, DB>,
    commit: Commit,
) -> Result<(), StoreError> {
    match commit {
        Commit::Yes => tx.commit().await,
        Commit::DryRun => tx.rollback().await,
    }
    .map_err(classify)
}

/// A guarded write under the row lock changes exactly the row it read; anything else is a bug
/// (or a writer that ignored the lock), and nothing of it is committed.
fn guard_held(rows: u64, read: &Belt) -> Result<(), StoreError> {
    if rows == 1 {
        return Ok(());
    }
    let id = read.id;
    Err(anyhow::anyhow!("belt {id} changed under its row lock").into())
}

/// A write that breaks the unique name of a project names that name; anything else is classified.
fn name_taken_or_classified(err: sqlx::Error, name: &str) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::NameTaken(name.to_owned())
    } else {
        classify(err)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_columns_are_bound_in_the_order_the_statements_name_them() {
        let insert = super::statements::INSERT.as_str();
        assert!(
            insert.contains("generation, project, id) VALUES ($1, "),
            "{insert}"
        );
        assert!(insert.contains("$16)"), "{insert}");
        let update = super::statements::UPDATE.as_str();
        assert!(update.contains("name = $1, name_folded = $2"), "{update}");
        assert!(
            update.contains("generation = $14 WHERE project = $15"),
            "{update}"
        );
    }
}
