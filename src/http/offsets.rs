//! A belt's consumer-group offsets and lag (docs/api.md#offsets). Handlers extract, call one use
//! case, render.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::dry_run::{DryRun, RefusedDryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::scope::BeltScope;
use super::state::AppState;
use crate::belts::OffsetsReport;

/// One partition of an input topic.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionOffsetsBody {
    pub topic: String,
    pub partition: i32,
    /// The next offset the belt's consumer group reads; `null` when it has committed none.
    pub committed: Option<i64>,
    /// The oldest offset the broker still keeps.
    pub log_start: i64,
    /// The offset the next record produced gets.
    pub log_end: i64,
    /// Records the group has yet to read here.
    pub lag: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffsetsBody {
    /// Every partition of the belt's input topics that exists, by topic and partition.
    pub offsets: Vec<PartitionOffsetsBody>,
    pub total_lag: i64,
}

impl From<OffsetsReport> for OffsetsBody {
    fn from(report: OffsetsReport) -> Self {
        OffsetsBody {
            offsets: report
                .positions
                .into_iter()
                .map(|p| PartitionOffsetsBody {
                    lag: p.lag(),
                    topic: p.topic,
                    partition: p.partition,
                    committed: p.committed,
                    log_start: p.log_start,
                    log_end: p.log_end,
                })
                .collect(),
            total_lag: report.total_lag,
        }
    }
}

/// The belt's committed offsets, log-end offsets and lag per input partition, and the total lag.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/offsets",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
    ),
    responses(
        (status = 200, description = "Offsets and lag.", body = OffsetsBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 404, description = "No such belt, or this belt-api has no data plane.", body = ErrorBody),
        (status = 503, description = "The broker did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_offsets(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
) -> ApiResult<Json<OffsetsBody>> {
    let report = state.belts.offsets(scope.asked_by(&caller)).await?;
    Ok(Json(report.into()))
}

/// Moves the belt's consumer group: every partition to its start or end, or the named partitions
/// to the given offsets. Only while the belt is STOPPED.
#[utoipa::path(
    put,
    path = "/projects/{project}/belts/{id}/offsets",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        RefusedDryRunParam,
    ),
    request_body(content = Object,
        description = "`{\"reset\": \"earliest\"}`, `{\"reset\": \"latest\"}` or \
            `{\"offsets\": [{\"topic\": \"grnry_data_in_<type>\", \"partition\": 0, \"offset\": 42}]}`.",
        example = json!({"reset": "earliest"})),
    responses(
        (status = 200, description = "The offsets as they now are.", body = OffsetsBody),
        (status = 400, description = "The belt is not STOPPED, the body is invalid (the message names the field), or `dryRun=true` (no dry run here).", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles (`editor`).", body = ErrorBody),
        (status = 404, description = "No such belt, or this belt-api has no data plane.", body = ErrorBody),
        (status = 409, description = "The consumer group still has members.", body = ErrorBody),
        (status = 503, description = "The broker did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_offsets(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    dry_run: DryRun,
    body: Bytes,
) -> ApiResult<Json<OffsetsBody>> {
    let asked = scope.asked_by(&caller);
    let report = (state.belts)
        .write_offsets(asked, dry_run.refused(), &body)
        .await?;
    Ok(Json(report.into()))
}

/// Deletes the belt's consumer group with its committed offsets: the next START reads every
/// partition from its start. Only while the belt is STOPPED.
#[utoipa::path(
    delete,
    path = "/projects/{project}/belts/{id}/offsets",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        RefusedDryRunParam,
    ),
    responses(
        (status = 200, description = "The offsets as they now are (none committed).", body = OffsetsBody),
        (status = 400, description = "The belt is not STOPPED, or `dryRun=true` (no dry run here).", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles (`editor`).", body = ErrorBody),
        (status = 404, description = "No such belt, or this belt-api has no data plane.", body = ErrorBody),
        (status = 409, description = "The consumer group still has members.", body = ErrorBody),
        (status = 503, description = "The broker did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_offsets(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    dry_run: DryRun,
) -> ApiResult<Json<OffsetsBody>> {
    let asked = scope.asked_by(&caller);
    let report = (state.belts)
        .delete_offsets(asked, dry_run.refused())
        .await?;
    Ok(Json(report.into()))
}
