//! Running belts: state, START/STOP, logs (docs/api.md#the-state-machine,
//! docs/api.md#state-and-logs). Handlers extract, call one use case, render.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::caller::Caller;
use super::document::{Link, SelfLinks};
use super::dry_run::{DryRun, DryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::if_match::precondition;
use super::links::{query_string, BaseUrl};
use super::scope::BeltScope;
use super::state::AppState;
use crate::belts::MAX_LOG_LINES;
use crate::domain::{BeltStatus, Invalid};

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
    pub deployment_events: Option<Vec<Value>>,
    /// Per pod or process: `name`, `podEvents`, `containerStatus`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub pod_status: Option<Vec<Value>>,
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsBody {
    /// Number of pods (replicas) the logs come from.
    pub total_count: usize,
    /// Pod or process name → its last lines, each prefixed with an RFC 3339 timestamp.
    pub logs: BTreeMap<String, Vec<String>>,
    #[serde(rename = "_links", skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLinks>,
}

fn parse_lines(raw: Option<&str>) -> Result<u32, Invalid> {
    let Some(value) = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "lines")
        .map(|(_, value)| value.into_owned())
    else {
        return Ok(MAX_LOG_LINES);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_LOG_LINES).contains(&n) => Ok(n),
        _ => Err(Invalid::field_message(
            "lines",
            format!("Parameter 'lines' must be in between 1 and {MAX_LOG_LINES} but is '{value}'."),
        )),
    }
}

/// The last `lines` log lines of every replica (also answers POST, as a published client uses it).
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/logs",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("lines" = Option<u32>, Query, description = "Lines per replica, 1–500, default 500."),
    ),
    responses(
        (status = 200, description = "Logs keyed by pod; a stopped belt answers `{\"totalCount\": 0, \"logs\": {}}`.", body = LogsBody),
        (status = 400, description = "Bad `lines`.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles (logs need `editor`).", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 503, description = "The runtime did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<LogsBody>> {
    let lines = parse_lines(raw.as_deref());
    let asked = lines.clone().unwrap_or(MAX_LOG_LINES);
    let logs = (state.belts).logs(scope.asked_by(&caller), lines).await?;
    let Some(logs) = logs else {
        return Ok(Json(LogsBody {
            total_count: 0,
            logs: BTreeMap::new(),
            links: None,
        }));
    };
    let lines = asked.to_string();
    let query = query_string([("lines", lines.as_str())]);
    Ok(Json(LogsBody {
        total_count: logs.len(),
        logs,
        links: Some(SelfLinks {
            self_: Link {
                href: format!("{}?{}", base.href(uri.path()), query),
            },
        }),
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_lines;

    #[test]
    fn lines_are_bounded() {
        assert_eq!(parse_lines(None).unwrap(), 500);
        assert_eq!(parse_lines(Some("lines=5")).unwrap(), 5);
        assert_eq!(
            parse_lines(Some("lines=750")).unwrap_err().to_string(),
            "Parameter 'lines' must be in between 1 and 500 but is '750'."
        );
        assert!(parse_lines(Some("lines=0")).is_err());
        assert!(parse_lines(Some("lines=x")).is_err());
    }
}
