//! What every handler reaches: the use cases, and what the HTTP edge itself needs (token
//! verification, trusted forwarded hosts, metrics).

use std::sync::Arc;

use crate::auth::Verifier;
use crate::belts::invoke::Invocations;
use crate::belts::{Belts, OffsetsBackend, StreamLimits, WatchSettings};
use crate::domain::BeltDefaults;
use crate::invoke::Invoke;
use crate::metrics::Metrics;
use crate::reconcile::Reconciler;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::store::BeltStore;

/// One `Arc`, because axum clones the state for each request and cloning many `Arc`s costs an
/// atomic increment and decrement each per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What the application hands over when it builds the router.
pub struct Services {
    pub store: Arc<dyn BeltStore>,
    pub verifier: Arc<Verifier>,
    pub defaults: Arc<BeltDefaults>,
    pub registry: Option<Arc<Registry>>,
    pub trusted_hosts: Arc<Vec<String>>,
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
}

/// The handlers see the use cases only: no store, no runtime.
pub struct Shared {
    pub belts: Belts,
    pub invocations: Invocations,
    pub verifier: Arc<Verifier>,
    pub trusted_hosts: Arc<Vec<String>>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(services: Services) -> Self {
        let invocations = Invocations::new(
            services.store.clone(),
            services.invoker.clone(),
            services.defaults.clone(),
        );
        let mut belts = Belts::new(
            services.store,
            services.runtime,
            services.registry,
            services.reconciler,
            services.defaults,
        )
        .with_watch(services.watch)
        .with_stream_limits(services.streams)
        .with_invoker(services.invoker);
        if let Some(plane) = services.offsets {
            belts = belts.with_offsets(plane);
        }
        AppState(Arc::new(Shared {
            belts,
            invocations,
            verifier: services.verifier,
            trusted_hosts: services.trusted_hosts,
            metrics: services.metrics,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
