//! The span of one reconcile, in the trace of the request that woke it (docs/api.md#traces): a
//! wake-up carries the waking span's context beside the belt's id, in memory, to the worker
//! that reconciles it. A reconcile nobody woke (a resync, a runtime event) begins a trace of its
//! own.

use std::collections::HashMap;
use std::sync::Mutex;

use tracing::Span;

use crate::domain::BeltId;
use crate::trace_context;

#[derive(Default)]
pub(super) struct Wakers(Mutex<HashMap<BeltId, opentelemetry::Context>>);

impl Wakers {
    /// Remembers the current span as the one that woke `id`; the first one since its last
    /// reconcile wins, as wake-ups of a queued belt merge into one reconcile.
    pub(super) fn woke(&self, id: BeltId) {
        if let Some(waker) = trace_context::current() {
            let mut wakers = self.0.lock().unwrap_or_else(|e| e.into_inner());
            wakers.entry(id).or_insert(waker);
        }
    }

    /// The span of reconciling `id` now: the child of the span that woke it, if one did.
    pub(super) fn span(&self, id: BeltId) -> Span {
        let span = tracing::info_span!(
            "reconcile",
            belt = %id,
            otel.name = "reconcile belt",
            trace_id = tracing::field::Empty,
        );
        let waker = self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        trace_context::adopt(&span, waker);
        span
    }
}
