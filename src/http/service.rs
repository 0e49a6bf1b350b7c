//! Unauthenticated service endpoints: liveness, readiness, metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use super::error::ApiError;
use super::state::AppState;

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "service",
    responses((status = 200, description = "Alive.", body = Object, example = json!({"status": "UP"}))))]
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "UP"}))
}

/// The database answers: a real round trip, bounded by a short timeout, on every call.
#[utoipa::path(get, path = "/ready", tag = "service",
    responses(
        (status = 200, description = "Ready to serve.", body = Object, example = json!({"status": "UP"})),
        (status = 503, description = "The database does not answer, or the service is shutting down.", body = super::errors::ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    // First: a stopping replica must leave the load balancer's rotation at once, however well
    // its database answers.
    if state.draining.stopping() {
        return Err(ApiError::Unavailable(
            "belt-api is shutting down; it takes no new requests.".into(),
        ));
    }
    state.belts.ready().await?;
    Ok(Json(json!({"status": "UP"})))
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Metrics in the OpenMetrics text format.",
        body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}
