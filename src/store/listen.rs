//! What other processes on the same PostgreSQL database commit, heard through `LISTEN/NOTIFY`.
//! Each write that records an event also sends a notification in its transaction (delivered only
//! if it commits, and in commit order); every process listens on one connection of its own and,
//! on a notification from another process, announces to its watches (which read the event log
//! from where they are) and tells the reconciler which belt to look at. Nothing is polled.
//!
//! A lost connection is made again; once it listens again every watch is woken and the
//! reconciler resyncs, since whatever was committed meanwhile went unheard.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgNotification, PgPool};
use tokio::sync::{broadcast, watch};

use super::Elsewhere;
use crate::domain::BeltId;

/// The channel every notification goes on.
pub(crate) const CHANNEL: &str = "belt_events";

/// Between two attempts to listen again after the connection was lost.
const RETRY: Duration = Duration::from_secs(1);

/// A notification's text: the process that committed, the belt (0: some belts of the project),
/// the project.
pub(crate) fn payload(origin: &str, belt: i64, project: &str) -> String {
    format!("{origin} {belt} {project}")
}

/// Who a process is in its notifications: its own commits are announced as they commit.
pub(crate) fn new_origin() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{nanos:x}-{n}", std::process::id())
}

/// Where a heard commit goes.
pub(crate) struct Hearers {
    pub origin: String,
    /// The store's own announcer, which the watch hubs wait on.
    pub announcer: watch::Sender<()>,
    pub elsewhere: broadcast::Sender<Elsewhere>,
}

impl Hearers {
    fn heard(&self, notification: &PgNotification) {
        let mut words = notification.payload().splitn(3, ' ');
        let (Some(origin), Some(belt)) = (words.next(), words.next()) else {
            return;
        };
        if origin == self.origin {
            return;
        }
        self.announcer.send_replace(());
        if let Some(id) = belt.parse().ok().and_then(BeltId::new) {
            let _ = self.elsewhere.send(Elsewhere::Belt(id));
        }
    }

    fn missed(&self) {
        self.announcer.send_replace(());
        let _ = self.elsewhere.send(Elsewhere::Missed);
    }
}

/// Listens on `pool` (one connection of its own) until the task is aborted.
pub(crate) async fn listen(pool: PgPool, hearers: Hearers) {
    let mut first = true;
    loop {
        let mut listener = match listening(&pool).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen to other replicas' commits; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        if !first {
            tracing::info!("listening to other replicas' commits again");
            hearers.missed();
        }
        first = false;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => hearers.heard(&notification),
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "listening to other replicas' commits failed");
                    break;
                }
            }
        }
        tracing::warn!("the connection listening to other replicas' commits was lost");
        drop(listener);
        tokio::time::sleep(RETRY).await;
    }
}

async fn listening(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// The listening task, stopped with the store.
pub(crate) struct Listening(pub tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}
