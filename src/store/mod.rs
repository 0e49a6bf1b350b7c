//! The Belt Store: one trait, one implementation per database. Every write is a single statement or
//! a single transaction, and uniqueness (id; name per project) is the database's job.

mod postgres;
mod queries;
mod row;
mod searches;
mod sqlite;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{Belt, BeltId, BeltSpec, DesiredState, Person, ProjectName};
use crate::error::ApiError;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, Clone)]
pub struct NewBelt {
    /// `None`: the store picks the next free id.
    pub id: Option<BeltId>,
    pub project: ProjectName,
    pub spec: BeltSpec,
    pub author: Person,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Change {
    pub spec: BeltSpec,
    pub by: Person,
    pub at: OffsetDateTime,
    /// The version the change was computed from; the update only applies on top of it.
    pub expected_version: i64,
}

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

#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(Box<Belt>),
    VersionMismatch { current: i64 },
    NotFound,
}

#[derive(Debug)]
pub enum DeleteOutcome {
    Deleted,
    VersionMismatch { current: i64 },
    NotFound,
}

/// A START or STOP, as stored.
#[derive(Debug, Clone)]
pub enum WishChange {
    /// Deploy this version of the belt: desired RUNNING, generation + 1.
    Start { version: i64, spec: Box<BeltSpec> },
    /// Desired STOPPED; what was deployed stays recorded.
    Stop,
    /// Desired DELETING: the belt is gone for every reader and writer; the reconciler removes
    /// what runs, then the document (docs/api.md#delete).
    Delete,
}

/// The wish as the caller read it; the change only applies on top of exactly that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WishGuard {
    pub desired: DesiredState,
    pub generation: i64,
}

impl WishGuard {
    pub fn of(belt: &Belt) -> Self {
        WishGuard {
            desired: belt.wish.desired,
            generation: belt.wish.generation,
        }
    }
}

/// A belt's wish without its spec or document: what the reconciler's resync compares with what
/// runs, so that a resync of many unchanged belts reads no documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WishSummary {
    pub id: BeltId,
    pub project: ProjectName,
    pub version: i64,
    pub desired: DesiredState,
    pub generation: i64,
    /// The version the last START deployed.
    pub deployed_version: Option<i64>,
}

impl WishSummary {
    pub fn of(belt: &Belt) -> Self {
        WishSummary {
            id: belt.id,
            project: belt.project.clone(),
            version: belt.version,
            desired: belt.wish.desired,
            generation: belt.wish.generation,
            deployed_version: belt.wish.deployed.as_ref().map(|d| d.version),
        }
    }
}

#[derive(Debug)]
pub enum WishOutcome {
    Stored(Box<Belt>),
    /// Someone else changed the wish since it was read.
    Changed,
    NotFound,
}

/// What a locked write does with the belt it found (see [`BeltStore::write_locked`]).
#[derive(Debug)]
pub enum LockedWrite {
    /// Replace the spec: version + 1, modified by/at.
    Replace {
        spec: Box<BeltSpec>,
        by: Person,
        at: OffsetDateTime,
    },
    /// Store a START or STOP.
    Wish(WishChange),
    /// Nothing to write (an unchanged PUT, a STOP of a belt that does not want to run).
    Nothing,
}

/// Chooses the write from the belt as it stands under the lock; an error refuses the request
/// (a stale `If-Match`, a START of a belt that is deploying) and nothing is written.
pub type Decide = Box<dyn FnOnce(&Belt) -> Result<LockedWrite, ApiError> + Send>;

#[derive(Debug)]
pub enum LockedOutcome {
    Written(Box<Belt>),
    /// `decide` chose [`LockedWrite::Nothing`]; the belt as it stands.
    Unchanged(Box<Belt>),
    /// `decide` refused; nothing was written.
    Refused(ApiError),
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

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::IdTaken(id) => {
                ApiError::AlreadyExists(format!("Belt with ID '{id}' already exists."))
            }
            StoreError::NameTaken(name) => ApiError::AlreadyExists(format!(
                "Parameter 'name' must be unique in the project but a belt named '{name}' already exists."
            )),
            StoreError::Unavailable(_) => {
                ApiError::Unavailable("The database did not answer in time; nothing was changed.".into())
            }
            StoreError::Other(err) => ApiError::Unexpected(err),
        }
    }
}

#[async_trait]
pub trait BeltStore: Send + Sync + 'static {
    /// Answers when the database does (readiness): a real round trip that reads a table.
    async fn ping(&self) -> Result<(), StoreError>;
    async fn create(&self, belt: NewBelt) -> Result<Belt, StoreError>;
    async fn get(&self, project: &ProjectName, id: BeltId) -> Result<Option<Belt>, StoreError>;
    async fn list(&self, project: &ProjectName, query: &ListQuery) -> Result<Page, StoreError>;
    async fn update(
        &self,
        project: &ProjectName,
        id: BeltId,
        change: Change,
    ) -> Result<UpdateOutcome, StoreError>;
    /// `expected_version`: delete only that version (`If-Match`).
    async fn delete(
        &self,
        project: &ProjectName,
        id: BeltId,
        expected_version: Option<i64>,
    ) -> Result<DeleteOutcome, StoreError>;
    /// Stores a START or STOP, compare-and-set on the wish the caller validated it against.
    async fn set_wish(
        &self,
        project: &ProjectName,
        id: BeltId,
        guard: WishGuard,
        change: WishChange,
    ) -> Result<WishOutcome, StoreError>;
    /// Reads the belt with its row locked for writing (`SELECT … FOR UPDATE` on PostgreSQL, a
    /// write transaction on SQLite), lets `decide` choose the write from what it sees, and applies
    /// it in the same transaction. Concurrent writers queue on the lock instead of losing a
    /// compare-and-set, so a write without a precondition never fails for contention, and of
    /// writers that name the same version exactly one sees it.
    async fn write_locked(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
    ) -> Result<LockedOutcome, StoreError>;
    /// Many belts in one transaction; for seeding benchmarks and imports.
    async fn insert_many(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError>;

    // The reconciler's (docs/architecture.md#the-reconciler). `get`, `list` and `write_locked`
    // see no belt whose desired state is DELETING; these do.

    /// Every belt's wish, without spec or document.
    async fn wish_summaries(&self) -> Result<Vec<WishSummary>, StoreError>;
    /// One belt by id, of any project and in any desired state, DELETING included.
    async fn get_any(&self, id: BeltId) -> Result<Option<Belt>, StoreError>;
    /// Deletes the document if its desired state is DELETING; `false` when it is not (or gone).
    async fn delete_if_deleting(&self, id: BeltId) -> Result<bool, StoreError>;
    /// A deletion the runtime refused: DELETING back to STOPPED; `false` when not DELETING.
    async fn undo_delete(&self, id: BeltId) -> Result<bool, StoreError>;
}

pub struct StoreOptions {
    pub max_connections: u32,
    pub timeout: Duration,
}

/// A pooled connection idle for longer than this is pinged before use; one used more recently is
/// trusted. sqlx's default pings on every acquire, a second database round trip per request
/// (it still pings on release, off the request's path).
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// The pool settings both databases share.
pub(crate) fn pool_options<DB: sqlx::Database>(
    options: &StoreOptions,
) -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.timeout)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR || idle_since_an_outage(meta.idle_for) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// When a database call last failed as unavailable, as time since [`clock_base`].
static LAST_OUTAGE_MS: AtomicU64 = AtomicU64::new(u64::MAX);

fn clock_base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn note_outage() {
    let now = clock_base().elapsed().as_millis() as u64;
    LAST_OUTAGE_MS.store(now, Ordering::Relaxed);
}

/// A pooled connection that went idle before the database last failed may have been cut with it
/// (a restarted server, a dropped proxy); it is pinged before use, so that after an outage stale
/// connections are replaced instead of failing the first requests.
fn idle_since_an_outage(idle_for: Duration) -> bool {
    let outage = LAST_OUTAGE_MS.load(Ordering::Relaxed);
    if outage == u64::MAX {
        return false;
    }
    let idle_since = clock_base().elapsed().saturating_sub(idle_for).as_millis() as u64;
    idle_since <= outage
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
    Ok(Arc::new(Bounded {
        inner: store,
        limit: options.timeout.saturating_mul(2),
    }))
}

/// Every store call bounded in time on this side of the connection. The server's own statement
/// timeout ends slow statements; this ends calls to a database that does not answer at all (a
/// network partition, a frozen server), which no server-side timeout can reach. Twice the
/// dependency timeout: one for the pool, one for the statements of a healthy but slow database.
struct Bounded {
    inner: Arc<dyn BeltStore>,
    limit: Duration,
}

impl Bounded {
    async fn bound<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(answer) => answer,
            Err(_) => {
                note_outage();
                Err(StoreError::Unavailable(format!(
                    "no answer within {} ms",
                    self.limit.as_millis()
                )))
            }
        }
    }
}

#[async_trait]
impl BeltStore for Bounded {
    async fn ping(&self) -> Result<(), StoreError> {
        self.bound(self.inner.ping()).await
    }
    async fn create(&self, belt: NewBelt) -> Result<Belt, StoreError> {
        self.bound(self.inner.create(belt)).await
    }
    async fn get(&self, project: &ProjectName, id: BeltId) -> Result<Option<Belt>, StoreError> {
        self.bound(self.inner.get(project, id)).await
    }
    async fn list(&self, project: &ProjectName, query: &ListQuery) -> Result<Page, StoreError> {
        self.bound(self.inner.list(project, query)).await
    }
    async fn update(
        &self,
        project: &ProjectName,
        id: BeltId,
        change: Change,
    ) -> Result<UpdateOutcome, StoreError> {
        self.bound(self.inner.update(project, id, change)).await
    }
    async fn delete(
        &self,
        project: &ProjectName,
        id: BeltId,
        expected_version: Option<i64>,
    ) -> Result<DeleteOutcome, StoreError> {
        self.bound(self.inner.delete(project, id, expected_version))
            .await
    }
    async fn set_wish(
        &self,
        project: &ProjectName,
        id: BeltId,
        guard: WishGuard,
        change: WishChange,
    ) -> Result<WishOutcome, StoreError> {
        self.bound(self.inner.set_wish(project, id, guard, change))
            .await
    }
    async fn write_locked(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
    ) -> Result<LockedOutcome, StoreError> {
        self.bound(self.inner.write_locked(project, id, decide))
            .await
    }
    async fn insert_many(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError> {
        // Bulk seeding may legitimately take long; it is not on a request's path.
        self.inner.insert_many(belts).await
    }
    async fn wish_summaries(&self) -> Result<Vec<WishSummary>, StoreError> {
        self.bound(self.inner.wish_summaries()).await
    }
    async fn get_any(&self, id: BeltId) -> Result<Option<Belt>, StoreError> {
        self.bound(self.inner.get_any(id)).await
    }
    async fn delete_if_deleting(&self, id: BeltId) -> Result<bool, StoreError> {
        self.bound(self.inner.delete_if_deleting(id)).await
    }
    async fn undo_delete(&self, id: BeltId) -> Result<bool, StoreError> {
        self.bound(self.inner.undo_delete(id)).await
    }
}

/// `search` as a LIKE pattern over the folded name, with `%`, `_` and the escape itself literal.
pub(crate) fn like_pattern(search: &str) -> String {
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
pub(crate) fn page_of(ids: &[i64], offset: u64, limit: u64) -> &[i64] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(ids.len());
    let end = start
        .saturating_add(usize::try_from(limit).unwrap_or(usize::MAX))
        .min(ids.len());
    &ids[start..end]
}

/// `$first, $first+1, …` for `count` bound values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors that mean "the database is not there right now" rather than "this request is wrong".
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    let classified = classify_error(err);
    if matches!(classified, StoreError::Unavailable(_)) {
        note_outage();
    }
    classified
}

fn classify_error(err: sqlx::Error) -> StoreError {
    match &err {
        // A connection cut in the middle of a message surfaces as an I/O or a protocol error.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(err.to_string()),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: 57014 statement timeout, 57P01-03 shutdown, 08xxx connection, 53xxx
            // out of resources (disk full, too many connections). SQLite (primary code, the low
            // byte of an extended one): 5/6 busy/locked, 10 I/O error, 11 corrupt, 13 disk full,
            // 14 cannot open, 26 not a database; the store cannot serve either way.
            let unavailable = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                let primary = code.parse::<u32>().ok().map(|c| c & 0xff);
                matches!(primary, Some(5 | 6 | 10 | 11 | 13 | 14 | 26))
            } else {
                code == "57014"
                    || code.starts_with("57P")
                    || code.starts_with("08")
                    || code.starts_with("53")
            };
            if unavailable {
                StoreError::Unavailable(err.to_string())
            } else {
                StoreError::Other(err.into())
            }
        }
        _ => StoreError::Other(err.into()),
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("A_b%"), "%a\\_b\\%%");
        assert_eq!(super::like_pattern(""), "%%");
        assert_eq!(super::like_pattern("x\\y"), "%x\\\\y%");
    }

    /// A SQLite file that is not a database (or cannot be opened) means the store cannot serve:
    /// 503, as for a PostgreSQL that is down, never a 500.
    #[tokio::test]
    async fn a_broken_sqlite_file_is_unavailable_not_unexpected() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("belts.db");
        std::fs::write(&path, vec![0x5a_u8; 8192]).unwrap();
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let err = sqlx::query("SELECT 1 FROM belt_rosters LIMIT 1")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            matches!(super::classify(err), super::StoreError::Unavailable(_)),
            "not a database"
        );
        let missing = dir.path().join("no-such-dir").join("belts.db");
        let err = sqlx::SqliteConnection::connect(&format!("sqlite://{}", missing.display()))
            .await
            .unwrap_err();
        assert!(
            matches!(super::classify(err), super::StoreError::Unavailable(_)),
            "cannot open"
        );
    }

    #[test]
    fn pages_are_slices_that_never_overrun() {
        let ids = [1, 2, 3, 4, 5];
        assert_eq!(super::page_of(&ids, 0, 2), &[1, 2]);
        assert_eq!(super::page_of(&ids, 4, 20), &[5]);
        assert!(super::page_of(&ids, 5, 20).is_empty());
        assert!(super::page_of(&ids, u64::MAX, u64::MAX).is_empty());
        assert_eq!(super::placeholders(2, 3), "$2, $3, $4");
    }
}
