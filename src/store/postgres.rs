//! The production store: PostgreSQL.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{PgConnection, PgPool};

use super::queries::impl_belt_store;
use super::{classify, StoreError, StoreOptions};

pub struct PostgresStore {
    pool: PgPool,
    searches: super::searches::SearchCache,
}

impl PostgresStore {
    pub async fn connect(url: &str, options: &StoreOptions) -> anyhow::Result<Self> {
        // A statement that outlives the timeout is cancelled by the server, so a stuck database
        // turns into a 503 instead of a request that never ends.
        let timeout_ms = options.timeout.as_millis().to_string();
        let connect = PgConnectOptions::from_str(url)?
            .options([("statement_timeout", timeout_ms.as_str())])
            .application_name("belt-api");
        let pool = super::pool_options::<sqlx::Postgres>(options)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PostgresStore {
            pool,
            searches: Default::default(),
        })
    }

    async fn next_id(conn: &mut PgConnection) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as("SELECT nextval('belt_id_sequence')")
            .fetch_one(conn)
            .await
            .map_err(classify)?;
        Ok(id)
    }
}

impl_belt_store!(
    PostgresStore,
    PgConnection,
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    "BEGIN",
    " FOR UPDATE"
);
