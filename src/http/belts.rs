//! The belt resource: get, create, replace, delete (docs/api.md#paths,
//! docs/api.md#the-belt-document). Handlers extract, call one use case, render.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::body_schema::BeltBody;
use super::caller::Caller;
use super::document::{export, BeltDocument};
use super::dry_run::{DryRun, DryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::if_match::{etag, precondition};
use super::links::BaseUrl;
use super::query::Query;
use super::render::{belt_path, belt_response, replaced_response};
use super::scope::{BeltScope, ProjectScope};
use super::state::AppState;

// ---------------------------------------------------------------------------------------------
// Get

/// Get one belt. `export=true` answers only what a POST needs to recreate it.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id, a positive 64-bit integer."),
        ("export" = Option<bool>, Query, description = "`true` (any case): only fields that differ from the server defaults, plus `id`. `false` or absent: the whole document."),
    ),
    responses(
        (status = 200, description = "The belt; with `export=true` only the fields a POST needs to recreate it.", body = BeltDocument,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Bad id, or `export` neither `true` nor `false`.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 404, description = "No such belt in this project.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    query: Query,
) -> ApiResult<Response> {
    let shown = state.belts.get(scope.asked_by(&caller)).await?;
    // Read after the get, so that the role check and a missing belt answer first, as for every
    // refused value (docs/api.md#errors).
    if query.flag("export")? {
        let view = export(&shown.belt, state.belts.defaults());
        let mut response = Json(Value::Object(view)).into_response();
        response
            .headers_mut()
            .insert(header::ETAG, etag(shown.belt.version));
        return Ok(response);
    }
    Ok(belt_response(StatusCode::OK, &shown, &base))
}

// ---------------------------------------------------------------------------------------------
// Create

/// Create a belt; the id is taken from the body's `id` or assigned.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts",
    tag = "belts",
    params(("project" = String, Path, description = "Project (Keycloak client)."), DryRunParam),
    request_body(content = BeltBody, description = "The belt; only `name` and `eventTypes` are required."),
    responses(
        (status = 200, description = "The stored belt (with `dryRun=true`: the belt that would be stored).", body = BeltDocument,
            headers(("ETag" = String), ("Location" = String))),
        (status = 400, description = "Invalid field (the message names it).", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 409, description = "Id or name taken.", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB.", body = ErrorBody),
        (status = 503, description = "Database or event-type registry did not answer; nothing stored.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ProjectScope(project): ProjectScope,
    base: BaseUrl,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Response> {
    let shown = (state.belts)
        .create(&caller.0, project, None, &body, commit)
        .await?;
    Ok(created(&shown, &base))
}

/// Create a belt with the id in the path.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/{id}",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "The id the new belt gets (1 to 9223372036854775807)."),
        DryRunParam,
    ),
    request_body(content = BeltBody),
    responses(
        (status = 200, description = "The stored belt.", body = BeltDocument,
            headers(("ETag" = String), ("Location" = String))),
        (status = 400, description = "Invalid field or id.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 409, description = "Id or name taken.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_with_id(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Response> {
    let shown = (state.belts)
        .create(&caller.0, scope.project, Some(scope.id), &body, commit)
        .await?;
    Ok(created(&shown, &base))
}

/// The stored belt, with its `Location`.
fn created(shown: &crate::belts::Shown, base: &BaseUrl) -> Response {
    let mut response = belt_response(StatusCode::OK, shown, base);
    let path = belt_path(&shown.belt.project, shown.belt.id);
    if let Ok(location) = HeaderValue::from_str(&base.href(&path)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Replace

/// Replace a belt: omitted fields get their defaults. 304 when nothing changes.
#[utoipa::path(
    put,
    path = "/projects/{project}/belts/{id}",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("If-Match" = Option<String>, Header, description = "Only replace this version (`\"3\"`)."),
        DryRunParam,
    ),
    request_body(content = BeltBody),
    responses(
        (status = 200, description = "The belt after the change; version + 1.", body = BeltDocument,
            headers(("ETag" = String))),
        (status = 304, description = "Nothing changed; the version stays."),
        (status = 400, description = "Invalid field.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 409, description = "Name taken.", body = ErrorBody),
        (status = 412, description = "`If-Match` does not name the current version.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    headers: HeaderMap,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Response> {
    let edit = scope.edit_by(&caller, precondition(&headers));
    let replaced = (state.belts)
        .replace(edit.committing(commit), &body)
        .await?;
    Ok(replaced_response(replaced, &base))
}

// ---------------------------------------------------------------------------------------------
// Delete

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted {
    pub content: bool,
}

/// Delete a belt.
#[utoipa::path(
    delete,
    path = "/projects/{project}/belts/{id}",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("If-Match" = Option<String>, Header, description = "Only delete this version."),
        DryRunParam,
    ),
    responses(
        (status = 200, description = "Deleted (with `dryRun=true`: the belt could be deleted; nothing was).", body = Deleted),
        (status = 400, description = "Bad id or `If-Match`.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 412, description = "`If-Match` does not name the current version.", body = ErrorBody),
        (status = 424, description = "The runtime holds objects of this name that belt-api does not manage; nothing was deleted.", body = ErrorBody),
        (status = 503, description = "The runtime did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    headers: HeaderMap,
    DryRun(commit): DryRun,
) -> ApiResult<Json<Deleted>> {
    let edit = scope.edit_by(&caller, precondition(&headers));
    (state.belts).delete(edit.committing(commit)).await?;
    Ok(Json(Deleted { content: true }))
}
