//! The edge's side of a graceful shutdown (docs/api.md#process-and-service-endpoints): once the
//! service is stopping, `/ready` answers 503 so that load balancers stop sending, a request that
//! still arrives is refused with 503 and `Retry-After` (never a reset: it may go to another
//! replica), and every answer closes its connection, so that no client reuses a connection that is
//! about to close. Requests already being answered go on.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// What a refused request is told to wait before it asks again (on this replica or, behind a
/// Service, on another one).
pub const RETRY_AFTER_SECS: u64 = 1;

/// Whether the service is stopping, and how many requests it is answering.
#[derive(Debug, Clone)]
pub struct Draining {
    closing: tokio::sync::watch::Receiver<bool>,
    in_flight: Arc<AtomicUsize>,
}

impl Draining {
    /// `closing` turns `true` when the service stops.
    pub fn new(closing: tokio::sync::watch::Receiver<bool>) -> Self {
        Draining {
            closing,
            in_flight: Arc::default(),
        }
    }

    pub fn stopping(&self) -> bool {
        *self.closing.borrow()
    }

    /// Requests whose handler has not answered yet (the body of a stream is not counted: streams
    /// end on their own when the service stops).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// The answer of a request that arrived after the service began to stop.
    pub fn refusal() -> Response {
        let refused = ApiError::Unavailable(
            "belt-api is shutting down; send the request again (another replica answers it)."
                .into(),
        );
        let mut response = refused.into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    }
}

/// Counts one request while its handler runs.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The probes answer as themselves while stopping: `/health` stays 200 (the process is alive and
/// must not be restarted), `/ready` says 503 in its own words, `/metrics` still counts.
fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/ready" | "/metrics")
}

/// Refuses what arrives once the service is stopping, and closes the connection after every
/// answer from then on.
pub async fn refuse_when_stopping(
    State(draining): State<Draining>,
    request: Request,
    next: Next,
) -> Response {
    let _counted = Counted::enter(&draining.in_flight);
    let mut response = if draining.stopping() && !is_probe(request.uri().path()) {
        Draining::refusal()
    } else {
        next.run(request).await
    };
    if draining.stopping() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
