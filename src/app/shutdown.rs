//! Graceful shutdown (docs/api.md#process-and-service-endpoints), bounded by one grace period.
//!
//! On the signal: `closing` turns `true`, so `/ready` answers 503, new requests are refused with
//! 503 and `Retry-After` (`http::draining`) and open streams send their `end` line; the listener
//! takes the connections the kernel already queued (closing it with them queued would reset
//! them), then closes, so later ones are refused by the kernel and go to another replica; after a
//! short linger, in which those last connections are answered, every connection is told to close
//! once its request is answered. In-flight requests finish; the replicas and the broker stop.
//! Each step waits at most until the grace period, counted from the signal, is over (requests
//! until four fifths of it, so that the replicas stop even when a request hangs); then the
//! process exits anyway and the log says what was cut.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::http::draining::Draining;

/// Once stopping, the listener closes after this long without a queued connection.
const QUIET: Duration = Duration::from_millis(20);
/// ... or after this long in all, should connections keep coming.
const DRAIN_AT_MOST: Duration = Duration::from_secs(1);
/// How long connections accepted while draining get to send their request (and be refused with
/// 503) before connections are told to close: a connection told to close before its request was
/// read is closed without an answer. A second, not less: on a starved machine the last connections
/// may wait that long for their first read.
const LINGER: Duration = Duration::from_secs(1);

pub(super) struct Drain {
    closing: watch::Sender<bool>,
    grace: Duration,
    /// When the grace period is over: set when the service begins to stop.
    deadline: OnceLock<Instant>,
    draining: Draining,
}

impl Drain {
    pub(super) fn new(closing: watch::Sender<bool>, grace: Duration, draining: Draining) -> Self {
        Drain {
            closing,
            grace,
            deadline: OnceLock::new(),
            draining,
        }
    }

    fn deadline(&self) -> Instant {
        *self.deadline.get_or_init(|| Instant::now() + self.grace)
    }

    /// Until when requests may run: a fifth of the grace period is kept for what comes after
    /// them, so that the replicas are stopped even when a request hangs.
    fn requests_deadline(&self) -> Instant {
        self.deadline() - self.grace / 5
    }

    /// Serves `router` until `signal`, then drains as the module says; answers once every
    /// connection is closed or the grace period is over.
    pub(super) async fn serve(
        &self,
        listener: TcpListener,
        router: axum::Router,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (drained, listener_closed) = oneshot::channel();
        let accepting = Accepting {
            listener: Some(listener),
            closing: self.closing.subscribe(),
            draining_since: None,
            drained: Some(drained),
            swept: Default::default(),
        };
        let closing = self.closing.clone();
        let linger = LINGER.min(self.grace / 4);
        let serving = axum::serve(accepting, router).with_graceful_shutdown(async move {
            signal.await;
            closing.send_replace(true);
            let _ = listener_closed.await;
            tokio::time::sleep(linger).await;
        });
        let mut stopping = self.closing.subscribe();
        let over = async {
            stopped(&mut stopping).await;
            tokio::time::sleep_until(self.requests_deadline()).await;
        };
        tokio::select! {
            served = serving.into_future() => served,
            () = over => {
                tracing::warn!(
                    requests = self.draining.in_flight(),
                    grace = ?self.grace,
                    "the requests' share of the grace period is over: cutting those still being answered"
                );
                Ok(())
            }
        }
    }

    /// `work`, unless the grace period ends first: then `None`, and the log names what was cut.
    pub(super) async fn bound<T>(&self, what: &str, work: impl Future<Output = T>) -> Option<T> {
        match tokio::time::timeout_at(self.deadline(), work).await {
            Ok(done) => Some(done),
            Err(_) => {
                tracing::warn!(cut = what, grace = ?self.grace, "the grace period is over");
                None
            }
        }
    }
}

/// Resolves once `closing` is `true`; never when its sender is gone without saying so.
async fn stopped(closing: &mut watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The listener: accepts until the service stops, then takes what is queued, then closes.
struct Accepting {
    listener: Option<TcpListener>,
    closing: watch::Receiver<bool>,
    draining_since: Option<Instant>,
    /// Told when the listener is closed.
    drained: Option<oneshot::Sender<()>>,
    /// Connections found queued at the last moment, handed out before `None`.
    swept: std::collections::VecDeque<(TcpStream, SocketAddr)>,
}

impl Accepting {
    /// Takes every connection the kernel has queued, with non-blocking `accept` calls on the
    /// socket itself: a quiet period measured in wall time says nothing on a starved machine (the
    /// process may not have run while connections queued), and closing a listener resets every
    /// connection still queued on it.
    fn sweep(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let Ok(listener) = listener.into_std() else {
            return;
        };
        while let Ok((stream, address)) = listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if let Ok(stream) = TcpStream::from_std(stream) {
                self.swept.push_back((stream, address));
            }
        }
    }

    fn close(&mut self) {
        self.sweep();
        self.listener = None;
        if let Some(drained) = self.drained.take() {
            let _ = drained.send(());
        }
    }

    /// The next connection, `None` once the listener is closed.
    async fn next(&mut self) -> Option<std::io::Result<(TcpStream, SocketAddr)>> {
        loop {
            if let Some(swept) = self.swept.pop_front() {
                return Some(Ok(swept));
            }
            let listener = self.listener.as_ref()?;
            match self.draining_since {
                None => tokio::select! {
                    accepted = listener.accept() => return Some(accepted),
                    () = stopped(&mut self.closing) => self.draining_since = Some(Instant::now()),
                },
                // Stopping: the kernel's queue is read until it stays empty for a moment.
                Some(since) => {
                    if since.elapsed() < DRAIN_AT_MOST {
                        let queued = tokio::time::timeout(QUIET, listener.accept()).await;
                        if let Ok(Ok(queued)) = queued {
                            return Some(Ok(queued));
                        }
                    }
                    self.close();
                }
            }
        }
    }
}

impl axum::serve::Listener for Accepting {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.next().await {
                Some(Ok(accepted)) => return accepted,
                // As axum's own listener: a failed accept (a connection reset while queued, or
                // no file descriptor left) is logged and, after a pause, the next one is taken.
                Some(Err(err)) => {
                    tracing::debug!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None => std::future::pending::<()>().await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.listener {
            Some(listener) => listener.local_addr(),
            None => Err(std::io::Error::other("the listener is closed")),
        }
    }
}
