//! Running belts: state, START/STOP (docs/api.md#the-state-machine,
//! docs/api.md#state-and-logs); logs are in `logs`. Handlers extract, call one use case, render.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::dry_run::{DryRun, DryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::if_match::precondition;
use super::scope::BeltScope;
use super::state::AppState;
use crate::domain::state_details::{DeploymentEvent, PodDetails};
use crate::domain::BeltStatus;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StateBody {
    pub status: BeltStatus,
    /// Replicas asked for; present whenever the belt is deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_replicas: Option<String>,
    /// Deployment conditions (`type`, `status`, `reason`, `message`, times).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub deployment_events: Option<Vec<DeploymentEvent>>,
    /// Per pod or process: `name`, `podEvents`, `containerStatus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub pod_status: Option<Vec<PodDetails>>,
    /// Records waiting in the belt's input topics (docs/api.md#offsets); present when belt-api
    /// has a data plane and its broker answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_lag: Option<i64>,
}

/// The belt's status, and why, whenever it is deployed.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/state",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
    ),
    responses(
        (status = 200, description = "The status, with deployment and pod details when deployed.", body = StateBody),
        (status = 400, description = "Bad id.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 503, description = "The runtime did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_state(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
) -> ApiResult<Json<StateBody>> {
    let report = state.belts.state(scope.asked_by(&caller)).await?;
    let details = report.details;
    Ok(Json(StateBody {
        status: report.status,
        deployment_replicas: details.as_ref().map(|d| d.deployment_replicas.clone()),
        deployment_events: details.as_ref().map(|d| d.deployment_events.clone()),
        pod_status: details.map(|d| d.pod_status),
        total_lag: report.total_lag,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewStatus {
    pub status: BeltStatus,
}

/// START or STOP a belt. The wish is stored first; the reconciler then drives the runtime.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/{id}/state",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("If-Match" = Option<String>, Header, description = "Only if the belt is at this version."),
        DryRunParam,
    ),
    request_body(content = Object, description = "`{\"action\": \"START\"}` or `{\"action\": \"STOP\"}` (any case).",
        example = json!({"action": "START"})),
    responses(
        (status = 200, description = "The status the action leads to (with `dryRun=true`: would lead to).", body = NewStatus),
        (status = 400, description = "Action not allowed in the current status, or invalid.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 412, description = "`If-Match` does not name the current version.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn change_state(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    headers: HeaderMap,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Json<NewStatus>> {
    let edit = scope.edit_by(&caller, precondition(&headers));
    let status = (state.belts)
        .change_state(edit.committing(commit), &body)
        .await?;
    Ok(Json(NewStatus { status }))
}
