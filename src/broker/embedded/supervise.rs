//! The broker's controller: start it and wait until it serves; when it exits while belt-api
//! runs, start it again after a growing delay; stop it (SIGTERM, SIGKILL after a grace).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::child::{spawn, Launch, Running};
use super::probe::answers;
use crate::broker::BrokerError;

const BACKOFF_INITIAL: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Whether the embedded broker serves right now (false while it restarts), for `/ready`.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<AtomicBool>);

impl Health {
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, up: bool) {
        self.0.store(up, Ordering::Relaxed);
    }
}

/// What one `step` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The broker had exited and serves again.
    Restarted,
    /// The broker exited (or a restart failed); the next step tries again after this delay.
    Failed(Duration),
}

pub(crate) struct Supervisor {
    launch: Launch,
    ready_timeout: Duration,
    run: Option<Running>,
    health: Health,
    backoff: Duration,
}

impl Supervisor {
    pub fn new(launch: Launch, ready_timeout: Duration) -> Supervisor {
        Supervisor {
            launch,
            ready_timeout,
            run: None,
            health: Health::default(),
            backoff: BACKOFF_INITIAL,
        }
    }

    pub fn health(&self) -> Health {
        self.health.clone()
    }

    pub fn pid(&self) -> Option<i32> {
        self.run.as_ref().map(|run| run.pid)
    }

    /// Starts the broker and waits, at most the ready timeout, until it answers a metadata
    /// request. The running process is kept before the wait, so a cancelled start still stops it.
    pub async fn start(&mut self) -> Result<(), BrokerError> {
        self.run = Some(spawn(&self.launch).await?);
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(BrokerError::Exited {
                    status,
                    log: self.launch.log(),
                });
            }
            if answers(self.launch.advertised, Duration::from_secs(2)).await {
                self.health.set(true);
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop(Duration::from_secs(2)).await;
                return Err(BrokerError::NotReady {
                    waited: self.ready_timeout,
                    log: self.launch.log(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One turn of the controller: waits until the broker exits, then starts it again after the
    /// backoff (which doubles per failure in a row and resets once it serves). Cancel-safe.
    pub async fn step(&mut self) -> Step {
        if let Some(run) = self.run.as_mut() {
            let status = (&mut run.exited).await.unwrap_or_else(|_| "unknown".into());
            self.run = None;
            self.health.set(false);
            tracing::warn!(%status, log = %self.launch.log().display(), "the embedded Kafka broker exited; restarting it");
        }
        tokio::time::sleep(self.backoff).await;
        match self.start().await {
            Ok(()) => {
                self.backoff = BACKOFF_INITIAL;
                tracing::info!(broker = %self.launch.advertised, "the embedded Kafka broker serves again");
                Step::Restarted
            }
            Err(err) => {
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
                tracing::error!(error = %err, retry_in = ?self.backoff, "restarting the embedded Kafka broker failed");
                Step::Failed(self.backoff)
            }
        }
    }

    /// SIGTERM, then SIGKILL when it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        self.health.set(false);
        let Some(mut run) = self.run.take() else {
            return;
        };
        run.signal(Signal::SIGTERM);
        if tokio::time::timeout(grace, &mut run.exited).await.is_err() {
            tracing::warn!(
                ?grace,
                "the embedded Kafka broker ignored SIGTERM: killing it"
            );
            run.signal(Signal::SIGKILL);
            let _ = run.exited.await;
        }
    }

    /// How the broker ended, when it has (it is then no longer kept as running).
    fn exited(&mut self) -> Option<String> {
        use tokio::sync::oneshot::error::TryRecvError;
        let status = match self.run.as_mut()?.exited.try_recv() {
            Ok(status) => status,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Closed) => "unknown".into(),
        };
        self.run = None;
        Some(status)
    }
}
