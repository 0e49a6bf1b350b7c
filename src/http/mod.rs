//! The HTTP surface: routes, extractors, error rendering, links, OpenAPI.

pub mod belts;
pub mod caller;
pub mod errors;
pub mod links;
pub mod list;
pub mod openapi;
pub mod running;
pub mod scope;
pub mod service;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::auth::Verifier;
use crate::domain::BeltDefaults;
pub use crate::metrics;
use crate::reconcile::Reconciler;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::store::BeltStore;

/// Bodies above this are refused with 413 before they are read to the end.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler reaches. One `Arc`, because axum clones the state for each request and
/// cloning eight `Arc`s costs eight atomic increments and decrements per request.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub store: Arc<dyn BeltStore>,
    pub verifier: Arc<Verifier>,
    pub defaults: Arc<BeltDefaults>,
    pub registry: Option<Arc<Registry>>,
    pub trusted_hosts: Arc<Vec<String>>,
    pub metrics: Arc<metrics::Metrics>,
    pub runtime: Arc<dyn Runtime>,
    pub reconciler: Arc<Reconciler>,
}

/// Every belt route, mounted under `/projects/{project}` and, for the legacy API, at the root
/// (project `global`).
fn belt_routes() -> Router<AppState> {
    Router::new()
        .route("/belts", get(list::list).post(belts::create))
        .route(
            "/belts/{id}",
            get(belts::get)
                .post(belts::create_with_id)
                .put(belts::update)
                .delete(belts::delete),
        )
        .route(
            "/belts/{id}/state",
            get(running::get_state).post(running::change_state),
        )
        .route("/belts/{id}/logs", get(running::logs).post(running::logs))
}

pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .merge(belt_routes())
        .nest("/projects/{project}", belt_routes())
        .route("/health", get(service::health))
        .route("/ready", get(service::ready))
        .route("/metrics", get(service::metrics))
        .merge(openapi::swagger_ui())
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(errors::refuse_nul_in_query))
        .layer(axum::middleware::from_fn(errors::render_errors))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::record,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
