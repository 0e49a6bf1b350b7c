//! START or STOP every belt a selector picks (docs/api.md#bulk-start-and-stop). The handler
//! extracts, calls one use case, and renders each refusal in the error body the single
//! `POST …/belts/{id}/state` would have answered.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::dry_run::{DryRun, DryRunParam};
use super::error::{ApiError, ApiResult};
use super::errors::ErrorBody;
use super::query::Query;
use super::render::belt_path;
use super::scope::ProjectScope;
use super::state::AppState;
use crate::belts::{BulkOutcome, Selector};
use crate::domain::{BeltStatus, Invalid};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkResult {
    #[schema(example = "161")]
    pub id: String,
    /// `changed` or `refused`.
    #[schema(example = "changed")]
    pub outcome: &'static str,
    /// The status the action leads to; when refused, the status the belt is in.
    pub status: BeltStatus,
    /// Why the belt was refused, as `POST …/belts/{id}/state` answers it; only when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkAnswer {
    /// Belts selected (each has one result).
    pub total_count: usize,
    /// One per selected belt, in id order.
    pub results: Vec<BulkResult>,
}

/// `status` (comma list, repeatable) and `search` (bounded as the listing's); at least one.
fn selector_of(query: &Query) -> Result<Selector, Invalid> {
    let selector = Selector {
        states: query.statuses("status")?,
        search: query.search()?,
    };
    if selector.states.is_empty() && selector.search.is_none() {
        return Err(Invalid::field_message(
            "status",
            "Parameter 'status' or 'search' is required: name the belts to act on.",
        ));
    }
    Ok(selector)
}

fn result_of(project: &crate::domain::ProjectName, outcome: BulkOutcome) -> BulkResult {
    let error = outcome.refusal.map(|refusal| {
        let api = ApiError::from(refusal);
        ErrorBody {
            timestamp: crate::domain::belt::epoch_millis(time::OffsetDateTime::now_utc()),
            kind: api.kind().as_str(),
            message: api.to_string(),
            details: format!("uri={}/state", belt_path(project, outcome.id)),
        }
    });
    BulkResult {
        id: outcome.id.to_string(),
        outcome: if error.is_some() {
            "refused"
        } else {
            "changed"
        },
        status: outcome.status,
        error,
    }
}

/// START or STOP every belt of the project in one of the `status` values and/or whose name
/// contains `search`, each as a single `POST …/belts/{id}/state` would.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/state",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("status" = Option<String>, Query, description = "Belt states, comma-separated (e.g. `FAILED,STOPPED`)."),
        ("search" = Option<String>, Query, description = "Case-insensitive substring of the name, as in the listing (at most 1024 characters).", max_length = 1024),
        DryRunParam,
    ),
    request_body(content = Object, description = "`{\"action\": \"START\"}` or `{\"action\": \"STOP\"}` (any case).",
        example = json!({"action": "START"})),
    responses(
        (status = 200, description = "What happened to each selected belt, in id order (with `dryRun=true`: what would happen; nothing was done).", body = BulkAnswer),
        (status = 400, description = "No selector, a bad one, more than 1000 belts selected, or a bad action.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn change_states(
    State(state): State<AppState>,
    caller: Caller,
    ProjectScope(project): ProjectScope,
    query: Query,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Json<BulkAnswer>> {
    let selector = selector_of(&query);
    let outcomes = (state.belts)
        .change_states(&caller.0, &project, (selector, commit), &body)
        .await?;
    let results: Vec<BulkResult> = outcomes
        .into_iter()
        .map(|outcome| result_of(&project, outcome))
        .collect();
    Ok(Json(BulkAnswer {
        total_count: results.len(),
        results,
    }))
}
