//! The console's sessions (`console_sessions`) and the keys its replicas share (`console_keys`).
//! An opening counts the live sessions and inserts under one lock, so the bound holds however
//! many replicas open at once; a renewal is a compare-and-set on the version, after a claim that
//! lets one replica at a time ask the provider.

use crate::store::sessions::{ConsoleSessions, StoredSession};
use crate::store::{classify, StoreError};

const PURGE: &str = "DELETE FROM console_sessions WHERE expires_at <= $1";

const COUNT: &str = "SELECT COUNT(*) FROM console_sessions";

const OPEN: &str = "INSERT INTO console_sessions \
     (key, project, role, expires_at, renew_at, version, sealed) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

const READ: &str = "SELECT key, project, role, expires_at, renew_at, version, sealed \
     FROM console_sessions WHERE key = $1";

const CLAIM: &str = "UPDATE console_sessions SET renewing_until = $4 \
     WHERE key = $1 AND version = $2 AND renewing_until <= $3";

const RENEWED: &str = "UPDATE console_sessions \
     SET sealed = $3, renew_at = $4, version = version + 1, renewing_until = 0 \
     WHERE key = $1 AND version = $2";

const CLOSE: &str = "DELETE FROM console_sessions WHERE key = $1";

/// One statement: the first key stored under the name wins, and every caller reads it back.
const SHARED_KEY: &str = "INSERT INTO console_keys (name, key) VALUES ($1, $2) \
     ON CONFLICT (name) DO UPDATE SET key = console_keys.key RETURNING key";

sql_impl! {
#[async_trait::async_trait]
impl ConsoleSessions {
    async fn open_session(
        &self,
        session: &StoredSession,
        now: i64,
        limit: u64,
    ) -> Result<bool, StoreError> {
        let mut tx = (self.pool).begin_with(DB::BEGIN_WRITE).await.map_err(classify)?;
        sqlx::query(DB::LOCK_SESSIONS).execute(&mut *tx).await.map_err(classify)?;
        sqlx::query(PURGE).bind(now).execute(&mut *tx).await.map_err(classify)?;
        let (live,): (i64,) = sqlx::query_as(COUNT).fetch_one(&mut *tx).await.map_err(classify)?;
        let opened = u64::try_from(live).unwrap_or(0) < limit;
        if opened {
            sqlx::query(OPEN)
                .bind(session.key.as_str())
                .bind(session.project.as_str())
                .bind(session.role.as_str())
                .bind(session.expires_at)
                .bind(session.renew_at)
                .bind(session.version)
                .bind(session.sealed.as_str())
                .execute(&mut *tx)
                .await
                .map_err(classify)?;
        }
        // Committed either way: the expired sessions are gone even when the bound refused.
        tx.commit().await.map_err(classify)?;
        Ok(opened)
    }

    async fn session(&self, key: &str) -> Result<Option<StoredSession>, StoreError> {
        sqlx::query_as(READ)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)
    }

    async fn claim_renewal(
        &self,
        key: &str,
        version: i64,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(CLAIM)
            .bind(key)
            .bind(version)
            .bind(now)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn store_renewal(
        &self,
        key: &str,
        version: i64,
        sealed: &str,
        renew_at: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(RENEWED)
            .bind(key)
            .bind(version)
            .bind(sealed)
            .bind(renew_at)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn close_session(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query(CLOSE)
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn shared_key(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        let (key,): (String,) = sqlx::query_as(SHARED_KEY)
            .bind(name)
            .bind(candidate)
            .fetch_one(&self.pool)
            .await
            .map_err(classify)?;
        Ok(key)
    }
}
}
