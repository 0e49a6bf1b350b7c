//! What bounds a long-lived answer (docs/api.md#streams): the token it was opened with, and a
//! share of the server. A watch or a log follow holds one slot of its caller and one of the
//! server while it is open, and ends at the token's `exp` with a last item saying why, since a
//! token that no longer opens a stream must not keep one open either. It also ends, with a last
//! item saying so, when the service stops: a graceful shutdown waits for open answers, and a
//! client told why can open it again elsewhere (a watch resumes after its last id).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Stream, StreamExt};
use tokio::time::Instant;

use super::{BeltError, Caller, StreamShare};

/// How many streams may be open at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// Per caller (the token's issuer and subject).
    pub per_caller: usize,
    /// On this server, of all callers together.
    pub per_server: usize,
    /// What a refused caller is told to wait (`Retry-After`).
    pub retry_after: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            per_caller: 16,
            per_server: 1024,
            retry_after: Duration::from_secs(10),
        }
    }
}

/// The open streams, counted per caller and in all.
#[derive(Debug, Default)]
pub struct StreamSlots {
    limits: StreamLimits,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_caller: HashMap<String, usize>,
}

/// One open stream's place; dropping it (the stream ended or its reader left) frees it at once.
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    caller: String,
}

impl StreamSlots {
    pub fn new(limits: StreamLimits) -> Arc<Self> {
        Arc::new(StreamSlots {
            limits,
            open: Mutex::default(),
        })
    }

    /// A slot for `caller`, or [`BeltError::TooManyStreams`] when its share or the server's is
    /// taken.
    pub fn take(self: &Arc<Self>, caller: &Caller) -> Result<StreamSlot, BeltError> {
        let key = caller.subject();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mine = open.by_caller.get(&key).copied().unwrap_or(0);
        let refused = if mine >= self.limits.per_caller {
            Some((StreamShare::Caller, self.limits.per_caller))
        } else if open.total >= self.limits.per_server {
            Some((StreamShare::Server, self.limits.per_server))
        } else {
            None
        };
        if let Some((share, cap)) = refused {
            let retry_after = self.limits.retry_after;
            return Err(BeltError::TooManyStreams {
                share,
                cap,
                retry_after,
            });
        }
        open.total += 1;
        *open.by_caller.entry(key.clone()).or_default() += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            caller: key,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_caller.get_mut(&self.caller) {
            *count -= 1;
            if *count == 0 {
                open.by_caller.remove(&self.caller);
            }
        }
    }
}

/// Why a stream ended on its own: the last item it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The token it was opened with reached its `exp`.
    TokenExpired,
    /// The service is stopping (SIGTERM).
    ShuttingDown,
}

impl StreamEnd {
    pub fn reason(self) -> &'static str {
        match self {
            StreamEnd::TokenExpired => "token expired",
            StreamEnd::ShuttingDown => "server shutting down",
        }
    }
}

/// An item of a bounded stream: what the stream carries, or, last, why it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounded<T> {
    Item(T),
    End(StreamEnd),
}

pub type BoundedStream<T> = Pin<Box<dyn Stream<Item = Bounded<T>> + Send>>;

/// `items` until the caller's token expires (then [`StreamEnd::TokenExpired`] and the end) or
/// `closing` turns `true` (then [`StreamEnd::ShuttingDown`]), holding `slot` until the stream
/// ends or is dropped.
pub fn bounded<T: Send + 'static>(
    items: impl Stream<Item = T> + Send + 'static,
    caller: &Caller,
    slot: StreamSlot,
    closing: tokio::sync::watch::Receiver<bool>,
) -> BoundedStream<T> {
    let expiry = Box::pin(tokio::time::sleep_until(expiry_of(caller)));
    let state = Some((items.boxed(), expiry, closing, slot));
    futures::stream::unfold(state, |state| async move {
        let (mut items, mut expiry, mut closing, slot) = state?;
        tokio::select! {
            biased;
            () = &mut expiry => Some((Bounded::End(StreamEnd::TokenExpired), None)),
            // Before the items: a stream whose own source ends because the service stops (a
            // watch's feed does) still says why.
            () = stopped(&mut closing) => Some((Bounded::End(StreamEnd::ShuttingDown), None)),
            item = items.next() => {
                let item = item?;
                Some((Bounded::Item(item), Some((items, expiry, closing, slot))))
            }
        }
    })
    .boxed()
}

/// Resolves once `closing` is `true`; never when its sender is gone without saying so (a
/// service that was never told to stop).
async fn stopped(closing: &mut tokio::sync::watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The instant the caller's token expires; at once for a token without `exp` (a verified token
/// always has one).
fn expiry_of(caller: &Caller) -> Instant {
    let now = Instant::now();
    let Some(exp) = caller.claims.exp else {
        return now;
    };
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let exp = Duration::from_secs(u64::try_from(exp).unwrap_or(0));
    now + exp.saturating_sub(since_epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Claims;

    fn caller(sub: &str, exp_in: i64) -> Caller {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let claims = Claims {
            sub: Some(sub.into()),
            iss: Some("idp".into()),
            exp: Some(now.as_secs() as i64 + exp_in),
            ..Claims::default()
        };
        Caller {
            claims,
            token: String::new(),
        }
    }

    /// A service that is never told to stop: its sender is gone without saying so.
    fn never_closing() -> tokio::sync::watch::Receiver<bool> {
        tokio::sync::watch::channel(false).1
    }

    #[tokio::test]
    async fn a_stream_ends_with_the_reason_when_the_service_stops() {
        let slots = StreamSlots::new(StreamLimits::default());
        let who = caller("a", 60);
        let (closing, closed) = tokio::sync::watch::channel(false);
        let slot = slots.take(&who).unwrap();
        let endless = futures::stream::iter([1, 2]).chain(futures::stream::pending());
        let mut stream = bounded(endless, &who, slot, closed);
        assert_eq!(stream.next().await, Some(Bounded::Item(1)));
        assert_eq!(stream.next().await, Some(Bounded::Item(2)));
        closing.send_replace(true);
        assert_eq!(
            stream.next().await,
            Some(Bounded::End(StreamEnd::ShuttingDown))
        );
        assert_eq!(stream.next().await, None);
        assert_eq!(slots.open.lock().unwrap().total, 0, "the slot is freed");
    }

    #[test]
    fn each_caller_and_the_server_have_their_share_and_a_drop_frees_it() {
        let limits = StreamLimits {
            per_caller: 2,
            per_server: 3,
            retry_after: Duration::from_secs(1),
        };
        let slots = StreamSlots::new(limits);
        let (a, b) = (caller("a", 60), caller("b", 60));
        let first = slots.take(&a).unwrap();
        let _second = slots.take(&a).unwrap();
        let refused = slots.take(&a).unwrap_err();
        assert!(matches!(
            refused,
            BeltError::TooManyStreams {
                share: StreamShare::Caller,
                cap: 2,
                ..
            }
        ));
        let _third = slots.take(&b).unwrap();
        assert!(matches!(
            slots.take(&b).unwrap_err(),
            BeltError::TooManyStreams {
                share: StreamShare::Server,
                cap: 3,
                ..
            }
        ));
        drop(first);
        assert!(slots.take(&a).is_ok(), "a dropped slot is free again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_ends_at_its_token_expiry_with_the_reason() {
        let slots = StreamSlots::new(StreamLimits::default());
        let who = caller("a", 5);
        let slot = slots.take(&who).unwrap();
        let ticks = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some((n, n + 1))
        });
        let started = Instant::now();
        let items: Vec<Bounded<u32>> = bounded(ticks, &who, slot, never_closing()).collect().await;
        let took = started.elapsed();
        assert_eq!(items.last(), Some(&Bounded::End(StreamEnd::TokenExpired)));
        assert!(items.len() >= 4 && items.len() <= 6, "{items:?}");
        assert!(took <= Duration::from_secs(5), "{took:?}");
        assert_eq!(slots.open.lock().unwrap().total, 0, "the slot is freed");
    }

    #[tokio::test]
    async fn a_stream_that_ends_first_sends_no_end_line() {
        let slots = StreamSlots::new(StreamLimits::default());
        let who = caller("a", 60);
        let slot = slots.take(&who).unwrap();
        let items: Vec<_> = bounded(futures::stream::iter([1, 2]), &who, slot, never_closing())
            .collect()
            .await;
        assert_eq!(items, vec![Bounded::Item(1), Bounded::Item(2)]);
    }
}
