//! The production store: PostgreSQL.

use std::str::FromStr;

use super::{Dialect, SqlStore, StoreOptions};
use sqlx::postgres::PgConnectOptions;

pub type PostgresStore = SqlStore<sqlx::Postgres>;

impl SqlStore<sqlx::Postgres> {
    pub async fn connect(url: &str, options: &StoreOptions) -> anyhow::Result<Self> {
        // A statement that outlives the timeout is cancelled by the server, so a stuck database
        // turns into a 503 instead of a request that never ends.
        let timeout_ms = options.timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)?
            .options([("statement_timeout", timeout_ms.as_str())])
            .application_name("belt-api");
        let pool = super::pool::pool_options::<sqlx::Postgres>(options)
            .connect_with(connect.clone())
            .await?;
        migrate(url).await?;
        let store = SqlStore::new(pool, options.revision_retention)
            .with_coalesced_reads(coalesced_batches(options.max_connections));
        // A pool of its own, of one connection: the listener keeps it for good, and a pool's
        // slot taken for good would shrink the pool the requests share.
        let listener_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(connect);
        let listening = tokio::spawn(super::listen::listen(listener_pool, store.hearers()));
        Ok(store.with_listening(super::listen::Listening(listening)))
    }
}

/// Batches of coalesced reads in flight at most: a quarter of the pool, so reads never take
/// every connection from the writes and lists beside them.
fn coalesced_batches(max_connections: u32) -> usize {
    (max_connections as usize / 4).max(1)
}

/// Applies what is missing of the schema, on a connection of its own without the requests'
/// `statement_timeout`: the migrator holds an advisory lock while it migrates, so a replica that
/// starts beside another waits on that lock for as long as the other migrates, and a migration
/// may take longer than a request may (docs/architecture.md, "Migrations and rolling upgrades").
async fn migrate(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let options = PgConnectOptions::from_str(url)?.application_name("belt-api migrations");
    let mut connection = sqlx::PgConnection::connect_with(&options).await?;
    sqlx::migrate!("migrations/postgres")
        .run(&mut connection)
        .await?;
    connection.close().await?;
    Ok(())
}

impl Dialect for sqlx::Postgres {
    const BEGIN_SNAPSHOT: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_ROW: &'static str = " FOR UPDATE";
    const NEXT_ID: &'static str = "SELECT nextval('belt_id_sequence')";
    // `last_value` is the last id taken once `is_called`, else the first still to take.
    const PEEK_ID: Option<&'static str> = Some(
        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM belt_id_sequence",
    );

    // A transaction-scoped advisory lock: taken just before the insert, released by the commit.
    const LOCK_EVENTS: &'static str = "SELECT pg_advisory_xact_lock(7340012)";
    // `store/listen.rs` hears it on every replica.
    const NOTIFY_EVENT: Option<&'static str> = Some("SELECT pg_notify($1, $2)");
    // Not the events lock: a prune would hold every write for as long as it ranks the log.
    // Events appended meanwhile are newer than any it prunes and invisible to its snapshot.
    const BEGIN_PRUNE: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ";
    // Not a row lock: there is no row to lock before the insert, and a count under READ
    // COMMITTED would let two openings both see room for one more.
    const LOCK_SESSIONS: &'static str = "SELECT pg_advisory_xact_lock(7340013)";

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }
}
