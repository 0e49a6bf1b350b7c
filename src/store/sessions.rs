//! The web console's sessions and the keys its replicas share (docs/console.md#sign-in-and-sessions).
//! The store keeps what the use case hands it and decides nothing: what a row holds, what is
//! sealed and when a session is over are `belts/sessions/`'s.

use async_trait::async_trait;

use super::StoreError;

/// A session as stored: its plain columns and its sealed secrets.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredSession {
    /// base64url(SHA-256) of the browser's cookie secret.
    pub key: String,
    pub project: String,
    pub role: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// When the access token is renewed, Unix seconds; `None` for a dev sign-in.
    pub renew_at: Option<i64>,
    /// One more at each renewal.
    pub version: i64,
    /// The secrets, sealed under a key only the cookie secret gives.
    pub sealed: String,
}

/// The console's sessions, shared by every replica on the database. Every write is one
/// statement or one transaction.
#[async_trait]
pub trait ConsoleSessions: Send + Sync + 'static {
    /// In one transaction: forgets the sessions expired at `now`, counts the others and stores
    /// `session` unless `limit` are live (then `false`). Concurrent openings queue on a lock, so
    /// never more than `limit` are kept.
    async fn open_session(
        &self,
        session: &StoredSession,
        now: i64,
        limit: u64,
    ) -> Result<bool, StoreError>;
    /// The session stored under `key`, expired or not.
    async fn session(&self, key: &str) -> Result<Option<StoredSession>, StoreError>;
    /// Takes the right to renew the session `key` until `until`, if it is still at `version` and
    /// nobody else holds that right at `now`; `false` otherwise.
    async fn claim_renewal(
        &self,
        key: &str,
        version: i64,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError>;
    /// Stores a renewal's secrets, its next `renew_at` and `version + 1`, only if the session is
    /// still at `version` (compare-and-set); `false` when it is not, or is gone.
    async fn store_renewal(
        &self,
        key: &str,
        version: i64,
        sealed: &str,
        renew_at: i64,
    ) -> Result<bool, StoreError>;
    /// Ends the session `key` on every replica at once.
    async fn close_session(&self, key: &str) -> Result<(), StoreError>;
    /// The shared key `name`: `candidate` when none was kept yet, otherwise the one kept first.
    async fn shared_key(&self, name: &str, candidate: &str) -> Result<String, StoreError>;
}
