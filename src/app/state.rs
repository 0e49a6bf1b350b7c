//! The composition root of the request path: the use cases built from the store, the runtime,
//! the reconciler, the registry and the invoker, and handed to the HTTP edge, which sees only
//! them.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::Verifier;
use crate::belts::invoke::Invocations;
use crate::belts::sessions::SessionBook;
use crate::belts::{Belts, OffsetsBackend, StreamLimits, WatchSettings};
use crate::config::EventsConfig;
use crate::domain::BeltDefaults;
use crate::http::draining::Draining;
use crate::http::{AppState, Shared};
use crate::invoke::Invoke;
use crate::metrics::Metrics;
use crate::reconcile::Reconciler;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::store::BeltStore;

/// What the application has built by the time it builds the router.
pub(super) struct Services {
    pub store: Arc<dyn BeltStore>,
    pub verifier: Arc<Verifier>,
    pub defaults: Arc<BeltDefaults>,
    pub registry: Option<Arc<Registry>>,
    pub trusted_hosts: Arc<Vec<String>>,
    pub console: crate::config::ConsoleConfig,
    pub metrics: Arc<Metrics>,
    pub runtime: Arc<dyn Runtime>,
    pub reconciler: Arc<Reconciler>,
    /// Runs test-invokes (the sandbox, or why there is none).
    pub invoker: Arc<dyn Invoke>,
    /// The broker the offsets API reads and writes, when belt-api has a data plane.
    pub offsets: Option<OffsetsBackend>,
    /// How watch streams pace themselves against their readers.
    pub watch: WatchSettings,
    /// How many streams may be open at once, per caller and in all.
    pub streams: StreamLimits,
    /// How often the lag controller measures (the console's sparklines follow it).
    pub lag_interval: Duration,
}

/// The use cases, and what the edge needs besides them.
pub(super) fn app_state(services: Services) -> AppState {
    // The edge learns that the service stops from the signal that ends the watches.
    let draining = Draining::new(services.watch.closing.clone());
    let invocations = Invocations::new(
        services.store.clone(),
        services.invoker.clone(),
        services.defaults.clone(),
    )
    .with_source_header(services.reconciler.settings().platform.source_header);
    let sessions = Arc::new(SessionBook::new(services.store.clone()));
    let mut belts = Belts::new(
        services.store,
        services.runtime,
        services.registry,
        services.reconciler,
        services.defaults,
    )
    .with_watch(services.watch)
    .with_stream_limits(services.streams)
    .with_invoker(services.invoker)
    .with_lag_interval(services.lag_interval);
    if let Some(plane) = services.offsets {
        belts = belts.with_offsets(plane);
    }
    AppState::new(Shared {
        belts,
        invocations,
        sessions,
        verifier: services.verifier,
        trusted_hosts: services.trusted_hosts,
        console: services.console,
        metrics: services.metrics,
        draining,
    })
}

/// How watches pace themselves; `closing` turns `true` when the service stops.
pub(super) fn watch_settings(
    events: &EventsConfig,
    closing: tokio::sync::watch::Receiver<bool>,
) -> WatchSettings {
    WatchSettings {
        buffer: events.watch_buffer.max(1),
        stall: Duration::from_millis(events.watch_stall_ms),
        closing,
    }
}

pub(super) fn stream_limits(events: &EventsConfig) -> StreamLimits {
    StreamLimits {
        per_caller: events.streams_per_caller,
        per_server: events.streams_per_server,
        ..StreamLimits::default()
    }
}
