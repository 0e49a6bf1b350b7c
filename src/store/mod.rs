//! The Belt Store: seven capability traits ([`BeltRecords`], [`ReconcilerView`], [`RevisionLog`],
//! [`EventLog`], [`LagLog`], [`SavedSamples`], [`ConsoleSessions`]; [`BeltStore`] is all seven),
//! one SQL implementation generic over the database ([`SqlStore`]).
//! Every write is a single statement or a single transaction, and uniqueness (id; name per
//! project) is the database's job.

mod belt_cache;
mod bounded;
mod classify;
mod coalesce;
mod listen;
mod pool;
mod postgres;
pub(crate) mod revisions;
mod row;
mod searches;
mod sessions;
mod sql;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::lag_series::LagSample;
use crate::domain::samples::{Sample, SampleName, Saving};
use crate::domain::Refusal;
use crate::domain::{Belt, BeltEvent, BeltId, EventDraft, EventRetention, Invalid, ProjectName};

pub use crate::domain::{Revision, RevisionPage, RevisionSummary};
use bounded::Bounded;
pub(crate) use classify::{classify, is_unique_violation};
pub use postgres::PostgresStore;
pub use sessions::{ConsoleSessions, StoredSession};
pub use sql::{Dialect, SqlStore};
pub use sqlite::SqliteStore;

pub use crate::domain::transition::{NewBelt, Settlement, Transition};

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Case-insensitive substring of the name; `%` and `_` are literal.
    pub search: String,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub belts: Vec<Belt>,
    /// Belts of the project that match the search, on every page.
    pub total: u64,
}

pub use crate::domain::lifecycle::WishSummary;
/// A [`Commit::DryRun`] makes the whole write in its transaction (the next id, read without
/// using it up, the unique id and name, the row lock, the version and wish checks) and then rolls
/// it back.
pub use crate::domain::Commit;

/// What the reconciler's resync reads: the wishes that ask for work, and a count of the rest.
#[derive(Debug, Clone, Default)]
pub struct Wishes {
    /// Belts whose desired state is RUNNING or DELETING.
    pub active: Vec<WishSummary>,
    /// Belts whose desired state is STOPPED.
    pub stopped: u64,
}

/// Chooses the write from the belt as it stands under the lock: the domain's transition
/// (`crate::domain::transition`), `None` for nothing to write (an unchanged PUT), or a refusal (a
/// stale `If-Match`, a START of a belt that is deploying), and then nothing is written.
pub type Decide = Box<dyn FnOnce(&Belt) -> Result<Option<Transition>, Refusal> + Send>;

/// Chooses how a deletion ends from the belt as it stands under the lock, any desired state:
/// the domain's settlement (`transition::deleted`, `transition::deletion_refused`), or `None` for
/// nothing to write.
pub type Settle = Box<dyn FnOnce(&Belt) -> Option<Settlement> + Send>;

/// One page of a belt's events, newest first, and how many it has in all.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<BeltEvent>,
    pub total: u64,
}

/// Events after an id, oldest first, and the newest id pruning has removed: a reader whose last
/// id is below it has missed events.
#[derive(Debug, Clone, Default)]
pub struct EventBatch {
    pub events: Vec<BeltEvent>,
    pub pruned_through: i64,
}

#[derive(Debug)]
pub enum LockedOutcome {
    /// The transition as stored: its next belt and its event.
    Written(Box<Transition>),
    /// `decide` chose to write nothing; the belt as it stands.
    Unchanged(Box<Belt>),
    /// `decide` refused; nothing was written.
    Refused(Refusal),
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a belt with ID '{0}' already exists")]
    IdTaken(BeltId),
    #[error("a belt named '{0}' already exists in this project")]
    NameTaken(String),
    #[error("database did not answer: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// The belts themselves: what the use cases read and write. Every write records its event in
/// its own transaction; none writes a belt without one.
#[async_trait]
pub trait BeltRecords: Send + Sync + 'static {
    /// Answers when the database does (readiness): a real round trip that reads a table.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Stores the belt `transition::create` makes, with its `created` event. With
    /// [`Commit::DryRun`] the belt answered is the one that would have been stored.
    async fn create(&self, belt: NewBelt, commit: Commit) -> Result<Belt, StoreError>;
    async fn get(&self, project: &ProjectName, id: BeltId) -> Result<Option<Belt>, StoreError>;
    async fn list(&self, project: &ProjectName, query: &ListQuery) -> Result<Page, StoreError>;
    /// Reads the belt with its row locked for writing (`SELECT … FOR UPDATE` on PostgreSQL, a
    /// write transaction on SQLite), lets `decide` choose the transition from what it sees, and
    /// stores its next belt (one statement, guarded on the version and generation read) and its
    /// event in the same transaction. Concurrent writers queue on the lock instead of losing a
    /// compare-and-set, so a write without a precondition never fails for contention, and of
    /// writers that name the same version exactly one sees it. With [`Commit::DryRun`] the write
    /// is made and rolled back.
    async fn write_locked(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
        commit: Commit,
    ) -> Result<LockedOutcome, StoreError>;
    /// Many belts in one transaction, each with its `created` event; for seeding benchmarks and
    /// imports.
    async fn insert_many(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError>;
}

/// The reconciler's view (docs/architecture.md#the-reconciler). [`BeltRecords`] sees no belt
/// whose desired state is DELETING; this does.
#[async_trait]
pub trait ReconcilerView: Send + Sync + 'static {
    /// The wish of every belt that is not STOPPED, without spec or document, and how many are.
    async fn wish_summaries(&self) -> Result<Wishes, StoreError>;
    /// One belt by id, of any project and in any desired state, DELETING included.
    async fn get_any(&self, id: BeltId) -> Result<Option<Belt>, StoreError>;
    /// Reads the belt `id` (any project, any desired state) with its row locked, lets `settle`
    /// choose how its deletion ends, and stores that with its event in the same transaction: the
    /// document removed (one statement, guarded on the version and generation read), or the
    /// settlement's transition stored as [`BeltRecords::write_locked`] stores one. `None` when the
    /// belt is gone or `settle` chose nothing; then nothing is written.
    async fn settle_deletion(
        &self,
        id: BeltId,
        settle: Settle,
    ) -> Result<Option<Settlement>, StoreError>;
    /// What other processes on the same database committed (PostgreSQL's `NOTIFY`), so that the
    /// leader's reconciler hears a wish stored through any replica. `None` when no other process
    /// can write (a test's fake); on SQLite nothing is ever heard.
    fn elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<Elsewhere>> {
        None
    }
}

/// A commit of another process, as [`ReconcilerView::elsewhere`] hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elsewhere {
    /// An event of this belt was committed.
    Belt(BeltId),
    /// Commits may have gone unheard (the listening connection was lost and is back): look at
    /// every belt.
    Missed,
}

/// A belt's kept versions (docs/api.md#revisions-and-rollback); each write of a new version keeps
/// its own.
#[async_trait]
pub trait RevisionLog: Send + Sync + 'static {
    /// The kept revisions of a belt, newest first.
    async fn revisions(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<RevisionPage, StoreError>;
    /// One kept revision; `None` when unknown or pruned.
    async fn revision(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: i64,
    ) -> Result<Option<Revision>, StoreError>;
}

/// The event log (docs/api.md#history). Writes record their own events; these are for what
/// belt-api observes, and for the readers.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Records a status change the runtime reported, only if the belt's newest event is still
    /// `after` (0: none); answers the new event's id, `None` when another event came first.
    async fn record_status_change(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: Option<i64>,
        draft: EventDraft,
        after: i64,
    ) -> Result<Option<i64>, StoreError>;
    async fn history(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<EventPage, StoreError>;
    /// At most `limit` of the project's events after `after` (of one belt when given).
    async fn events_after(
        &self,
        project: &ProjectName,
        after: i64,
        belt: Option<BeltId>,
        limit: u64,
    ) -> Result<EventBatch, StoreError>;
    /// The newest event id of all projects; 0 when there is none.
    async fn newest_event_id(&self) -> Result<i64, StoreError>;
    /// Removes the events `retention` does not keep; answers how many.
    async fn prune_events(&self, retention: EventRetention) -> Result<u64, StoreError>;
    /// Changes after every commit that recorded events: what a watch waits on instead of polling.
    fn event_announcements(&self) -> tokio::sync::watch::Receiver<()>;
}

/// A belt's lag over time (docs/api.md#lag-over-time): what the lag controller measured, kept a
/// day. A belt is known by its project, id and creation time, so a belt that takes a deleted
/// belt's id starts a series of its own.
#[async_trait]
pub trait LagLog: Send + Sync + 'static {
    async fn record_lag(&self, belt: &Belt, sample: LagSample) -> Result<(), StoreError>;
    /// The belt's samples taken at or after `since`, oldest first.
    async fn lag_samples(
        &self,
        belt: &Belt,
        since: time::OffsetDateTime,
    ) -> Result<Vec<LagSample>, StoreError>;
    /// The samples taken at or after `since` of each of `belts` that is `project`'s (a belt of
    /// another project is not read), oldest first, in one query: the console's list shows a page
    /// of belts at once. A belt without samples has no entry.
    async fn lag_samples_of(
        &self,
        project: &ProjectName,
        belts: &[&Belt],
        since: time::OffsetDateTime,
    ) -> Result<HashMap<BeltId, Vec<LagSample>>, StoreError>;
    /// Forgets every sample taken before `before`; answers how many.
    async fn prune_lag(&self, before: time::OffsetDateTime) -> Result<u64, StoreError>;
}

/// Decides, from the names of the samples a belt keeps as they stand under its row lock, whether
/// one more may be saved: the domain's `samples::admit`.
pub type AdmitSample = Box<dyn FnOnce(&[SampleName]) -> Result<Saving, Invalid> + Send>;

/// What [`SavedSamples::save_sample`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleSaved {
    Saved(Saving),
    /// `admit` refused; nothing was written.
    Refused(Invalid),
    /// No such belt in the project (or it is being deleted).
    NotFound,
}

/// The samples saved with a belt (docs/api.md#saved-samples), removed with it: its delete
/// removes them in the same transaction (a cascading foreign key).
#[async_trait]
pub trait SavedSamples: Send + Sync + 'static {
    /// The samples belt `id` of `project` keeps, ordered by name (byte order on both databases).
    async fn samples(&self, project: &ProjectName, id: BeltId) -> Result<Vec<Sample>, StoreError>;
    async fn sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        name: &SampleName,
    ) -> Result<Option<Sample>, StoreError>;
    /// Reads the belt with its row locked and the names of the samples it keeps, lets `admit`
    /// decide, and stores the sample (new, or over the one of its name) in the same transaction,
    /// so concurrent saves never keep more than `admit` allows. With [`Commit::DryRun`] the write
    /// is made and rolled back.
    async fn save_sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        sample: &Sample,
        admit: AdmitSample,
        commit: Commit,
    ) -> Result<SampleSaved, StoreError>;
    /// `false` when the belt keeps no sample of that name. With [`Commit::DryRun`] the delete is
    /// made and rolled back.
    async fn delete_sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        name: &SampleName,
        commit: Commit,
    ) -> Result<bool, StoreError>;
}

/// The whole store, as one database implements it: what the composition root opens and hands
/// on. A part that needs less takes the capability it needs (the reconciler a
/// [`ReconcilerView`]), and a test fake implements only that.
pub trait BeltStore:
    BeltRecords + ReconcilerView + RevisionLog + EventLog + LagLog + SavedSamples + ConsoleSessions
{
}

impl<T> BeltStore for T where
    T: BeltRecords
        + ReconcilerView
        + RevisionLog
        + EventLog
        + LagLog
        + SavedSamples
        + ConsoleSessions
        + ?Sized
{
}

pub struct StoreOptions {
    pub max_connections: u32,
    pub timeout: Duration,
    /// Revisions kept per belt; older ones are pruned as new ones are stored.
    pub revision_retention: u32,
}

/// Opens (and migrates) the store that `url` names.
pub async fn connect(url: &str, options: StoreOptions) -> anyhow::Result<Arc<dyn BeltStore>> {
    let store: Arc<dyn BeltStore> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url, &options).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(PostgresStore::connect(url, &options).await?)
    } else {
        anyhow::bail!("BELT_DATABASE_URL must start with sqlite:// or postgres:// ")
    };
    Ok(Arc::new(Bounded::new(
        store,
        options.timeout.saturating_mul(2),
    )))
}
