//! What every handler reaches: the use cases, and what the HTTP edge itself needs (token
//! verification, trusted forwarded hosts, metrics). The application builds them (`app/state.rs`,
//! the composition root); the edge only holds them.

use std::sync::Arc;

use crate::auth::Verifier;
use crate::belts::invoke::Invocations;
use crate::belts::sessions::SessionBook;
use crate::belts::Belts;
use crate::metrics::Metrics;

use super::draining::Draining;

/// One `Arc`, because axum clones the state for each request and cloning many `Arc`s costs an
/// atomic increment and decrement each per request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The handlers see the use cases only: no store, no runtime.
pub struct Shared {
    pub belts: Belts,
    pub invocations: Invocations,
    /// The console's sessions, kept in the store (docs/console.md#sign-in-and-sessions).
    pub sessions: Arc<SessionBook>,
    pub verifier: Arc<Verifier>,
    pub trusted_hosts: Arc<Vec<String>>,
    /// The console's OIDC client (docs/console.md); its router reads it once.
    pub console: crate::config::ConsoleConfig,
    pub metrics: Arc<Metrics>,
    /// Whether the service is stopping (graceful shutdown), and what it is still answering.
    pub draining: Draining,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
