//! Leadership on PostgreSQL: a session-level advisory lock held on one connection of its own
//! (not from the pool, whose connections come and go). The server releases it only when that
//! session ends, so a leader that dies, is killed or loses its connection lets a follower in, and
//! while the session lives no one else can take it.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use super::Campaign;

/// The lock's key. Advisory keys are per database, and session and transaction locks share
/// them: this one must differ from the event log's `pg_advisory_xact_lock` (store/postgres.rs).
const LEADER_KEY: i64 = 7_340_020;

pub struct AdvisoryLock {
    options: PgConnectOptions,
    /// The session that holds (or tries for) the lock.
    session: Option<PgConnection>,
    /// The longest a try or a check may take: an unanswered check is a lost lock.
    limit: Duration,
}

impl AdvisoryLock {
    /// For the database `url` names; each try and check is bounded by `limit`.
    pub fn new(url: &str, limit: Duration) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .context("reading the database URL")?
            .application_name("belt-api leader");
        Ok(AdvisoryLock {
            options,
            session: None,
            limit,
        })
    }

    async fn try_lock(&mut self) -> anyhow::Result<bool> {
        if self.session.is_none() {
            self.session = Some(self.options.connect().await?);
        }
        let session = self.session.as_mut().expect("connected above");
        let (won,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_KEY)
            .fetch_one(session)
            .await?;
        Ok(won)
    }

    /// Drops the session: if the server still has it, closing it releases the lock.
    fn let_go(&mut self) {
        self.session = None;
    }
}

#[async_trait]
impl Campaign for AdvisoryLock {
    async fn try_acquire(&mut self) -> anyhow::Result<bool> {
        match tokio::time::timeout(self.limit, self.try_lock()).await {
            Ok(Ok(won)) => Ok(won),
            Ok(Err(err)) => {
                self.let_go();
                Err(err.context("trying the leader lock"))
            }
            Err(_) => {
                self.let_go();
                anyhow::bail!(
                    "the database did not answer the leader lock within {:?}",
                    self.limit
                )
            }
        }
    }

    /// Closes the session politely, so the server frees the lock at once (a dropped connection
    /// frees it too, once the server notices).
    async fn release(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = tokio::time::timeout(self.limit, session.close()).await;
        }
    }

    /// A round trip on the lock's own session: the lock lives exactly as long as the session, so
    /// a session that answers still holds it.
    async fn still_leads(&mut self) -> bool {
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        let checked = tokio::time::timeout(self.limit, session.ping()).await;
        match checked {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "the leader lock's connection failed");
                self.let_go();
                false
            }
            Err(_) => {
                tracing::error!(limit = ?self.limit, "the leader lock's connection did not answer");
                self.let_go();
                false
            }
        }
    }
}
