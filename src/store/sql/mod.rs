//! The one implementation of the store's capabilities ([`super::BeltStore`]) over SQL, generic
//! over the database. Each statement is written once (SQLite accepts PostgreSQL's `$n`
//! placeholders); what differs between the databases is the small table of [`Dialect`] constants
//! that `sqlite.rs` and `postgres.rs` fill. The capabilities are implemented where their
//! statements are: belts and the reconciler's view here, `events.rs`, `revisions.rs`, `lag.rs`,
//! `samples.rs`, `sessions.rs`.

/// Writes a generic `impl` block of [`SqlStore`] (inherent, or of the trait named) with what the
/// SQL code needs of a database driver, stated here once: Rust does not carry an impl's where
/// clauses over to another impl, so without this every block would repeat them.
macro_rules! sql_impl {
    ($(#[$attr:meta])* impl $($capability:path)? { $($body:tt)* }) => {
        $(#[$attr])*
        impl<DB> $($capability for)? $crate::store::sql::SqlStore<DB>
        where
            DB: $crate::store::sql::Dialect,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
            for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
            for<'r> $crate::store::row::BeltRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, i64, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (i64, i64, i64, i64, i64): sqlx::FromRow<'r, DB::Row>,
            for<'r> (String,): sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::store::row::SummaryRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::store::revisions::RevisionRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::store::revisions::RevisionSummaryRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::store::sql::events::EventRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::store::sql::samples::SampleRow: sqlx::FromRow<'r, DB::Row>,
            for<'r> $crate::store::sessions::StoredSession: sqlx::FromRow<'r, DB::Row>,
            for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        {
            $($body)*
        }
    };
}

mod events;
mod lag;
mod queries;
mod revisions;
mod samples;
mod sessions;
mod statements;
mod writes;

use async_trait::async_trait;
use sqlx::Pool;

use super::belt_cache::BeltCache;
use super::coalesce::{Coalescer, Fetch};
use super::listen::{new_origin, Hearers, Listening};
use super::row::{summary, BeltRow, SummaryRow};
use super::searches::SearchCache;
use super::{
    classify, BeltRecords, Commit, Decide, Elsewhere, ListQuery, LockedOutcome, NewBelt, Page,
    ReconcilerView, Settle, Settlement, StoreError, Wishes,
};
use crate::domain::{Belt, BeltId, ProjectName};

/// The statements that differ from one database to the other.
pub trait Dialect: sqlx::Database {
    /// Opens the read-only snapshot in which a page of the roster is read.
    const BEGIN_SNAPSHOT: &'static str;
    /// Opens a transaction that may write; on SQLite it takes the write lock up front.
    const BEGIN_WRITE: &'static str;
    /// Appended to the read of [`BeltRecords::write_locked`] to lock the row until the commit.
    const LOCK_ROW: &'static str;
    /// Takes the next id from the database's sequence; answers one `BIGINT`.
    const NEXT_ID: &'static str;
    /// Reads the id [`Dialect::NEXT_ID`] would take, taking nothing; answers one `BIGINT`. `Some`
    /// where the sequence is not transactional (PostgreSQL), so that a dry run, rolled back, does
    /// not use up an id: the console's editor dry-runs a new belt at every pause in typing.
    const PEEK_ID: Option<&'static str>;
    /// Serializes the event log's writers until their commit, so ids commit in order.
    const LOCK_EVENTS: &'static str;
    /// Tells the other processes on the database about a committed event: sent in the writing
    /// transaction, so delivered only with its commit; `None` where no other process can write.
    const NOTIFY_EVENT: Option<&'static str>;
    /// Opens the prune's transaction: its two statements see one snapshot, so the horizons it
    /// moves are exactly those of the events it deletes, while writers go on appending.
    const BEGIN_PRUNE: &'static str;
    /// Serializes the console's session openings until their commit, so that the live sessions
    /// are counted and one inserted with no other opening in between.
    const LOCK_SESSIONS: &'static str;

    /// How many rows a statement changed (each driver has its own result type).
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// A pool of one database and the searches remembered for it.
pub struct SqlStore<DB: Dialect> {
    pool: Pool<DB>,
    searches: SearchCache,
    /// Revisions kept per belt (docs/api.md#revisions-and-rollback).
    revision_retention: i64,
    /// Sent after each commit that recorded events (see [`super::EventLog::event_announcements`]),
    /// this process's and, on PostgreSQL, other processes' (`store/listen.rs`).
    announcer: tokio::sync::watch::Sender<()>,
    /// Belts remembered between reads, only where this process is the database's one writer
    /// (SQLite; `belt_cache.rs` says why not on PostgreSQL).
    belts: Option<BeltCache>,
    /// Reads by id coalesced into batches, where every read must go to the database
    /// (PostgreSQL; `coalesce.rs` says why).
    reads: Option<Coalescer>,
    /// This process in its notifications ([`Dialect::NOTIFY_EVENT`]).
    origin: String,
    /// Other processes' commits, for the reconciler ([`ReconcilerView::elsewhere`]).
    elsewhere: tokio::sync::broadcast::Sender<Elsewhere>,
    /// Listens to the other processes while the store lives; `None` on SQLite.
    listening: Option<Listening>,
}

impl<DB: Dialect> SqlStore<DB> {
    pub(crate) fn new(pool: Pool<DB>, revision_retention: u32) -> Self {
        SqlStore {
            pool,
            searches: SearchCache::default(),
            revision_retention: i64::from(revision_retention.max(1)),
            announcer: tokio::sync::watch::channel(()).0,
            belts: None,
            reads: None,
            origin: new_origin(),
            elsewhere: tokio::sync::broadcast::channel(1024).0,
            listening: None,
        }
    }

    /// Remembers belts between reads: only for a database no other process writes.
    pub(crate) fn with_belt_cache(mut self) -> Self {
        self.belts = Some(BeltCache::default());
        self
    }

    /// After a write that may have changed belt `id`, committed or not.
    fn forget(&self, id: BeltId) {
        if let Some(belts) = &self.belts {
            belts.forget(id);
        }
    }

    /// Where commits heard from other processes go: this store's watches and reconciler.
    pub(crate) fn hearers(&self) -> Hearers {
        Hearers {
            origin: self.origin.clone(),
            announcer: self.announcer.clone(),
            elsewhere: self.elsewhere.clone(),
        }
    }

    pub(crate) fn with_listening(mut self, listening: Listening) -> Self {
        self.listening = Some(listening);
        self
    }
}

sql_impl! {
impl {
    /// Coalesces reads by id into batches of one statement each, at most `batches` in flight
    /// (each holds a pooled connection while its statement runs).
    pub(crate) fn with_coalesced_reads(mut self, batches: usize) -> Self {
        let pool = self.pool.clone();
        let fetch: Fetch = std::sync::Arc::new(move |ids| {
            let pool = pool.clone();
            Box::pin(async move { Self::read_by_ids(&pool, ids).await })
        });
        self.reads = Some(Coalescer::new(batches, fetch));
        self
    }

    /// The belts of `ids` that are not being deleted, of any project. The statement is padded to
    /// a power of two of placeholders by repeating the last id, so a connection prepares at most
    /// seven shapes of it instead of one per batch size.
    async fn read_by_ids(pool: &Pool<DB>, ids: Vec<BeltId>) -> Result<Vec<Belt>, StoreError> {
        let padded = ids.len().next_power_of_two();
        let statement = statements::select_by_ids(padded);
        let mut query = sqlx::query_as::<DB, BeltRow>(&statement);
        for index in 0..padded {
            query = query.bind(ids[index.min(ids.len() - 1)].get());
        }
        let rows = query.fetch_all(pool).await.map_err(classify)?;
        belts_of(rows)
    }
}
}

/// Maps a stored row back to a belt; a row that does not map is a bug or a corrupt store.
fn belt_of(row: BeltRow) -> Result<Belt, StoreError> {
    Belt::try_from(row).map_err(StoreError::Other)
}

fn belts_of(rows: Vec<BeltRow>) -> Result<Vec<Belt>, StoreError> {
    rows.into_iter().map(belt_of).collect()
}

sql_impl! {
#[async_trait]
impl BeltRecords {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(statements::PING)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn create(&self, belt: NewBelt, commit: Commit) -> Result<Belt, StoreError> {
        self.create_belt(belt, commit).await
    }

    async fn insert_many(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError> {
        self.insert_belts(belts).await
    }

    async fn get(&self, project: &ProjectName, id: BeltId) -> Result<Option<Belt>, StoreError> {
        if let Some(belt) = self.belts.as_ref().and_then(|belts| belts.get(project, id)) {
            return Ok(Some(belt));
        }
        if let Some(reads) = &self.reads {
            return reads.get(project, id).await;
        }
        let ticket = self.belts.as_ref().map(BeltCache::ticket);
        let row: Option<BeltRow> = sqlx::query_as(&statements::SELECT_ONE)
            .bind(project.as_str())
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        let belt = row.map(belt_of).transpose()?;
        if let (Some(belts), Some(ticket), Some(belt)) = (&self.belts, ticket, &belt) {
            belts.offer(ticket, belt);
        }
        Ok(belt)
    }

    async fn list(&self, project: &ProjectName, query: &ListQuery) -> Result<Page, StoreError> {
        self.list_page(project, query).await
    }

    async fn write_locked(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
        commit: Commit,
    ) -> Result<LockedOutcome, StoreError> {
        self.write_under_lock(project, id, decide, commit).await
    }
}
}

sql_impl! {
#[async_trait]
impl ReconcilerView {
    async fn wish_summaries(&self) -> Result<Wishes, StoreError> {
        let rows: Vec<SummaryRow> = sqlx::query_as(statements::WISH_SUMMARIES)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let (stopped,): (i64,) = sqlx::query_as(statements::COUNT_STOPPED)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        let active = rows
            .into_iter()
            .map(summary)
            .collect::<Result<_, _>>()
            .map_err(StoreError::Other)?;
        Ok(Wishes {
            active,
            stopped: stopped.max(0) as u64,
        })
    }

    async fn get_any(&self, id: BeltId) -> Result<Option<Belt>, StoreError> {
        let row: Option<BeltRow> = sqlx::query_as(&statements::SELECT_ANY)
            .bind(id.get())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(belt_of).transpose()
    }

    async fn settle_deletion(
        &self,
        id: BeltId,
        settle: Settle,
    ) -> Result<Option<Settlement>, StoreError> {
        self.settle_under_lock(id, settle).await
    }

    fn elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<Elsewhere>> {
        Some(self.elsewhere.subscribe())
    }
}
}
