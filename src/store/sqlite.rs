//! The embedded store: one SQLite file under `BELT_DATA_DIR`.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use super::queries::impl_belt_store;
use super::{classify, StoreError, StoreOptions};

pub struct SqliteStore {
    pool: SqlitePool,
    searches: super::searches::SearchCache,
}

impl SqliteStore {
    pub async fn connect(url: &str, options: &StoreOptions) -> anyhow::Result<Self> {
        let connect = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            // WAL lets readers go on while one writer writes; writers queue on the busy timeout.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.timeout)
            .foreign_keys(true);
        if let Some(dir) = connect.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let pool = super::pool_options::<sqlx::Sqlite>(options)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore {
            pool,
            searches: Default::default(),
        })
    }

    async fn next_id(conn: &mut SqliteConnection) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as(
            "UPDATE belt_id_sequence SET next_id = next_id + 1 WHERE singleton = 1 \
             RETURNING next_id - 1",
        )
        .fetch_one(conn)
        .await
        .map_err(classify)?;
        Ok(id)
    }
}

// SQLite has no row locks: `BEGIN IMMEDIATE` takes the database's write lock before the read.
impl_belt_store!(
    SqliteStore,
    SqliteConnection,
    "BEGIN",
    "BEGIN IMMEDIATE",
    ""
);
