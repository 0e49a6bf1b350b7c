//! Test-invoke (docs/api.md#test-invoke): run the belt's callback, or a draft of it, on sample
//! events. The handler extracts and renders; the use case does the rest.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;

use super::caller::Caller;
use super::dry_run::{DryRun, RefusedDryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::scope::{BeltScope, ProjectScope};
use super::state::AppState;
use crate::belts::Access;
use crate::invoke::InvokeReport;

/// Runs the callback on sample events in a sandbox and answers what each event produced.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/{id}/invoke",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        RefusedDryRunParam,
    ),
    request_body(content = Object, description = "`events`: 1–100 sample events, each \
        `{\"headers\": {name: string}, \"event\": any, \"profile\"?: any}`; or instead \
        `sample`: the name of a sample saved with the belt (`…/samples/{name}`), whose events run; \
        optional drafts that replace the stored values for this call only: `extractorFn`, \
        `requirementsPy`, `parameter`.",
        example = json!({"events": [{"headers": {"grnry-correlation-id": "c-1"}, "event": {"id": 7}}],
            "extractorFn": "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]]}\n"})),
    responses(
        (status = 200, description = "The user's code ran (whatever it did): per event its updates or its error, and the run's outcome.", body = InvokeReport),
        (status = 400, description = "Bad body (the message names the field; both or neither of `events` and `sample`; a `sample` the belt does not keep), or `dryRun=true` (test-invoke has no dry run: it stores nothing, but runs code).", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles (test-invoke needs `editor`).", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 429, description = "Every test-invoke slot is busy, or the project holds its share of them; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds after which a slot is likely free."))),
        (status = 503, description = "Test-invoke is not available on this machine.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn invoke(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    dry_run: DryRun,
    body: Bytes,
) -> ApiResult<Json<InvokeReport>> {
    let asked = scope.asked_by(&caller);
    // The role first, as the use case checks it, then the refused parameter: a viewer gets 403.
    asked.permit(Access::Write, dry_run.refused())?;
    let report = (state.invocations).invoke(asked, &body).await?;
    Ok(Json(report))
}

/// Runs the callback of a belt not saved yet on sample events in a sandbox.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/invoke",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        RefusedDryRunParam,
    ),
    request_body(content = Object, description = "`events`: 1–100 sample events, each \
        `{\"headers\": {name: string}, \"event\": any, \"profile\"?: any}`; `extractorFn`: the \
        callback (required, checked as a create checks it); optional `requirementsPy` and \
        `parameter`, as a create takes them. No `sample`: a belt not saved yet keeps none.",
        example = json!({"events": [{"event": {"id": 7}}],
            "extractorFn": "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]]}\n"})),
    responses(
        (status = 200, description = "The user's code ran (whatever it did): per event its updates or its error, and the run's outcome.", body = InvokeReport),
        (status = 400, description = "Bad body (the message names the field: a missing or invalid `extractorFn`, `events`, a `sample`), or `dryRun=true`.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles (needs `editor` on the project).", body = ErrorBody),
        (status = 429, description = "Every test-invoke slot is busy, or the project holds its share of them (drafts and belts of the project together); see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds after which a slot is likely free."))),
        (status = 503, description = "Test-invoke is not available on this machine, or not for drafts (the local runtime could reserve no uids for them), or the cluster's answer about the test pod is not understood.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn invoke_draft(
    State(state): State<AppState>,
    caller: Caller,
    ProjectScope(project): ProjectScope,
    dry_run: DryRun,
    body: Bytes,
) -> ApiResult<Json<InvokeReport>> {
    // The role first, then the refused parameter: a viewer gets 403.
    caller
        .0
        .permit(&project, Access::Write, dry_run.refused())?;
    let report = (state.invocations)
        .invoke_draft(&caller.0, &project, &body)
        .await?;
    Ok(Json(report))
}
