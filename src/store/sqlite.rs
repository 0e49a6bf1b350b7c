//! The embedded store: one SQLite file under `BELT_DATA_DIR`.

use std::str::FromStr;

use super::{Dialect, SqlStore, StoreOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};

pub type SqliteStore = SqlStore<sqlx::Sqlite>;

impl SqlStore<sqlx::Sqlite> {
    pub async fn connect(url: &str, options: &StoreOptions) -> anyhow::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers go on while one writer writes; writers queue on the busy timeout.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.timeout)
            .foreign_keys(true)
            // Each pooled connection keeps its own page cache (2 MiB by default). Reads of a large
            // store are scattered, so most miss it anyway and are served by the kernel's page
            // cache; 1 MiB keeps the B-trees' upper levels, and four connections stay within the
            // service's memory target (bench/README.md).
            .pragma("cache_size", "-1024");
        if let Some(dir) = connect.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let pool = super::pool::pool_options::<sqlx::Sqlite>(options)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        // The database file is under the data directory, which one belt-api owns: nothing else
        // writes it while this process runs, so belts read by id may be remembered.
        Ok(SqlStore::new(pool, options.revision_retention).with_belt_cache())
    }
}

impl Dialect for sqlx::Sqlite {
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    // SQLite has no row locks: `BEGIN IMMEDIATE` takes the database's write lock before the read.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK_ROW: &'static str = "";
    const NEXT_ID: &'static str = "UPDATE belt_id_sequence SET next_id = next_id + 1 \
         WHERE singleton = 1 RETURNING next_id - 1";
    // The sequence is a table: a dry run's rollback gives its id back.
    const PEEK_ID: Option<&'static str> = None;

    const LOCK_EVENTS: &'static str = "SELECT 1"; // writers already queue on the database lock
                                                  // One process per data directory (`leader/data_dir.rs`): no one else to tell.
    const NOTIFY_EVENT: Option<&'static str> = None;
    const BEGIN_PRUNE: &'static str = "BEGIN IMMEDIATE";
    // `BEGIN IMMEDIATE` already holds the database's write lock.
    const LOCK_SESSIONS: &'static str = "SELECT 1";

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}
