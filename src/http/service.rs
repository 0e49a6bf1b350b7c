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
        (status = 503, description = "The database does not answer.", body = super::errors::ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
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
