//! The HTTP surface: routes, extractors, error rendering, links, OpenAPI.

pub mod belts;
pub mod body_schema;
pub mod bulk;
pub mod caller;
pub mod document;
pub mod draining;
pub mod dry_run;
pub mod error;
pub mod errors;
pub mod history;
pub mod if_match;
pub mod invoke;
pub mod lag;
pub mod links;
pub mod list;
pub mod logs;
pub mod offsets;
pub mod openapi;
pub mod paging;
pub mod query;
pub mod render;
pub mod request_metrics;
pub mod revisions;
pub mod running;
pub mod samples;
pub mod scope;
pub mod service;
pub mod state;
pub mod streams;
pub mod trace;
pub mod ui;
pub mod watch;
pub mod whoami;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

pub use errors::MAX_BODY_BYTES;
pub use state::{AppState, Shared};

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
        .route("/belts/{id}/logs", get(logs::logs).post(logs::logs))
        .route("/belts/{id}/invoke", axum::routing::post(invoke::invoke))
        .route(
            "/belts/{id}/offsets",
            get(offsets::get_offsets)
                .put(offsets::put_offsets)
                .delete(offsets::delete_offsets),
        )
}

/// Routes of the v2 API only: mounted under `/projects/{project}`, never at the legacy root.
fn project_routes() -> Router<AppState> {
    Router::new()
        .route("/belts/state", axum::routing::post(bulk::change_states))
        .route("/belts/invoke", axum::routing::post(invoke::invoke_draft))
        .route("/belts/{id}/revisions", get(revisions::list_revisions))
        .route(
            "/belts/{id}/revisions/{version}",
            get(revisions::get_revision),
        )
        .route(
            "/belts/{id}/rollback",
            axum::routing::post(revisions::rollback),
        )
        .route("/belts/{id}/history", get(history::history))
        .route("/belts/{id}/lag", get(lag::lag))
        .route("/belts/{id}/samples", get(samples::list_samples))
        .route(
            "/belts/{id}/samples/{name}",
            get(samples::get_sample)
                .put(samples::put_sample)
                .delete(samples::delete_sample),
        )
        .route("/watch", get(watch::watch))
}

pub fn router(state: AppState) -> Router {
    let metrics = state.metrics.clone();
    let stopping = state.draining.clone();
    Router::new()
        .merge(belt_routes())
        .nest("/projects/{project}", belt_routes().merge(project_routes()))
        .route("/health", get(service::health))
        .route("/ready", get(service::ready))
        .route("/metrics", get(service::metrics))
        .route("/whoami", get(whoami::whoami))
        .merge(openapi::swagger_ui())
        .merge(ui::routes(&state))
        .fallback(ui::fallback)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(errors::refuse_nul_in_query))
        .layer(axum::middleware::from_fn_with_state(
            stopping,
            draining::refuse_when_stopping,
        ))
        .layer(axum::middleware::from_fn(errors::render_errors))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            request_metrics::record,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(trace::request_span)
                .on_response(trace::record_status),
        )
        .with_state(state)
}
