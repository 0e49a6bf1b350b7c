//! Who runs the controllers when several replicas share one database (docs/api.md#several-replicas).
//! Every replica serves the whole API; only the leader runs the reconciler, the status-events
//! controller, the pruning of the event log and the lag watch, so that no belt is deployed twice
//! and no status change is recorded twice.
//!
//! A [`Campaign`] is how one replica becomes and stays the leader: on PostgreSQL a session-level
//! advisory lock ([`postgres::AdvisoryLock`]); on SQLite the process is the only one (the data
//! directory is locked, [`data_dir::claim`]), so it always leads ([`Alone`]). [`lead`] drives a
//! campaign and tells the application, which starts and stops the controllers.

pub mod data_dir;
pub mod lease;
pub mod postgres;

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, watch};

/// How often a follower tries to become the leader, and how often the leader checks it still is.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[async_trait]
pub trait Campaign: Send + 'static {
    /// Tries once to become the leader: `Ok(true)` when this process leads from now on.
    async fn try_acquire(&mut self) -> anyhow::Result<bool>;
    /// Whether this process still leads. `false` is final: the caller stops the controllers at
    /// once, and the campaign has let go of whatever it held.
    async fn still_leads(&mut self) -> bool;
    /// The service stops, its controllers stopped: hand the leadership over now rather than
    /// let a successor wait for it to expire. Best effort; what it held expires anyway.
    async fn release(&mut self) {}
}

/// The only process on its store (SQLite): always the leader.
pub struct Alone;

#[async_trait]
impl Campaign for Alone {
    async fn try_acquire(&mut self) -> anyhow::Result<bool> {
        Ok(true)
    }

    async fn still_leads(&mut self) -> bool {
        true
    }
}

/// Campaigns until `stop` (the service stops, its controllers already stopped), then releases
/// what it holds: `leading` turns `true` when this process becomes the leader and `false` as
/// soon as it is no longer sure it is. A follower tries every `interval`, the leader checks every
/// `interval`.
pub async fn lead(
    mut campaign: Box<dyn Campaign>,
    leading: watch::Sender<bool>,
    interval: Duration,
    stop: oneshot::Receiver<()>,
) {
    tokio::select! {
        // A stop already given wins over one more campaign.
        biased;
        _ = stop => {}
        never = campaign_on(campaign.as_mut(), &leading, interval) => match never {},
    }
    if leading.send_replace(false) {
        campaign.release().await;
        tracing::info!("leadership released: another replica may lead at once");
    }
}

async fn campaign_on(
    campaign: &mut dyn Campaign,
    leading: &watch::Sender<bool>,
    interval: Duration,
) -> std::convert::Infallible {
    loop {
        loop {
            match campaign.try_acquire().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "could not campaign for the leadership; trying again")
                }
            }
            tokio::time::sleep(interval).await;
        }
        tracing::info!("leadership gained: this replica runs the reconciler and the controllers");
        leading.send_replace(true);
        while campaign.still_leads().await {
            tokio::time::sleep(interval).await;
        }
        leading.send_replace(false);
        tracing::warn!("leadership lost: the controllers of this replica are stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Leads for the first `leads` checks, then loses the lock, then wins it again.
    struct Flaky {
        acquired: u32,
        leads: u32,
    }

    #[async_trait]
    impl Campaign for Flaky {
        async fn try_acquire(&mut self) -> anyhow::Result<bool> {
            self.acquired += 1;
            if self.acquired == 3 {
                self.leads = u32::MAX;
            }
            Ok(self.acquired != 2)
        }

        async fn still_leads(&mut self) -> bool {
            if self.leads == 0 {
                return false;
            }
            self.leads -= 1;
            true
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_lock_is_told_at_once_and_won_back_on_a_later_try() {
        let (sender, mut leading) = watch::channel(false);
        let campaign = Box::new(Flaky {
            acquired: 0,
            leads: 2,
        });
        let (_stop, stop) = oneshot::channel();
        let task = tokio::spawn(lead(campaign, sender, Duration::from_secs(1), stop));
        leading.changed().await.unwrap();
        assert!(*leading.borrow_and_update(), "the first try wins");
        leading.changed().await.unwrap();
        assert!(
            !*leading.borrow_and_update(),
            "after two checks the lock is lost"
        );
        leading.changed().await.unwrap();
        assert!(*leading.borrow_and_update(), "the third try wins again");
        task.abort();
    }

    /// Always wins; counts its releases.
    struct Counted(std::sync::Arc<std::sync::atomic::AtomicU32>);

    #[async_trait]
    impl Campaign for Counted {
        async fn try_acquire(&mut self) -> anyhow::Result<bool> {
            Ok(true)
        }

        async fn still_leads(&mut self) -> bool {
            true
        }

        async fn release(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_leader_releases_once_and_a_stopped_follower_not_at_all() {
        let released = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let (sender, mut leading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        let campaign = Box::new(Counted(released.clone()));
        let task = tokio::spawn(lead(campaign, sender, Duration::from_secs(1), stopped));
        leading.changed().await.unwrap();
        assert!(*leading.borrow_and_update());
        stop.send(()).unwrap();
        task.await.unwrap();
        assert!(!*leading.borrow(), "no longer leading once stopped");
        assert_eq!(released.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Stopped before it ever led: nothing to hand over.
        let (sender, _leading) = watch::channel(false);
        let (stop, stopped) = oneshot::channel();
        stop.send(()).unwrap();
        let campaign = Box::new(Counted(released.clone()));
        lead(campaign, sender, Duration::from_secs(1), stopped).await;
        assert_eq!(released.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
