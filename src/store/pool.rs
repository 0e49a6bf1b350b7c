//! The pool settings both databases share, and the ping-on-idle policy that follows outages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::StoreOptions;

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

pub(super) fn note_outage() {
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
