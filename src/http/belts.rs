//! The belt resource: list, get, create, replace, delete, state (docs/api.md#paths,
//! docs/api.md#the-belt-document, docs/api.md#listing).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::caller::{Access, Caller};
use super::errors::ErrorBody;
use super::links::BaseUrl;
use super::openapi::BeltBody;
use super::scope::{BeltScope, ProjectScope};
use super::AppState;
use crate::domain::belt::now_millis;
use crate::domain::document::{export, BeltDocument};
use crate::domain::fields::refuse_nul_in_body;
use crate::domain::input::{parse_body, parse_spec};
use crate::domain::{Belt, BeltId, BeltSpec, BeltStatus, ProjectName};
use crate::error::{ApiError, ApiResult};
use crate::store::{Decide, LockedOutcome, LockedWrite, NewBelt};

pub(super) fn belt_path(project: &ProjectName, id: BeltId) -> String {
    format!("/projects/{project}/belts/{id}")
}

/// Status from the runtime's in-memory view: no runtime call.
pub(super) fn status_of(state: &AppState, belt: &Belt) -> BeltStatus {
    crate::state::status_of(belt, state.runtime.observe(belt.id))
}

fn document(state: &AppState, belt: &Belt, base: &BaseUrl) -> BeltDocument {
    BeltDocument::new(
        belt,
        Some(status_of(state, belt)),
        base.href(&belt_path(&belt.project, belt.id)),
    )
}

pub(super) fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a number is a valid header value")
}

/// A single-belt answer: the document with its `ETag`.
fn belt_response(state: &AppState, status: StatusCode, belt: &Belt, base: &BaseUrl) -> Response {
    let mut response = (status, Json(document(state, belt, base))).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(belt.version));
    response
}

/// `If-Match`: `None` when absent or `*`; otherwise the versions it accepts.
pub(super) fn if_match(headers: &HeaderMap) -> ApiResult<Option<Vec<i64>>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadHeader("Header 'If-Match' is not valid text.".into()))?;
    if text.trim() == "*" {
        return Ok(None);
    }
    text.split(',')
        .map(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.trim_matches('"').parse::<i64>().map_err(|_| {
                ApiError::BadHeader(format!(
                    "Header 'If-Match' must hold belt versions such as '\"3\"' but is '{text}'."
                ))
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

pub(super) fn check_version(id: BeltId, current: i64, wanted: &Option<Vec<i64>>) -> ApiResult<()> {
    match wanted {
        Some(versions) if !versions.contains(&current) => {
            Err(ApiError::PreconditionFailed(format!(
                "Belt with ID '{id}' is at version '{current}', which 'If-Match' does not name."
            )))
        }
        _ => Ok(()),
    }
}

pub(super) async fn load(state: &AppState, project: &ProjectName, id: BeltId) -> ApiResult<Belt> {
    state
        .store
        .get(project, id)
        .await?
        .ok_or_else(|| ApiError::belt_not_found(id))
}

/// Parses a create/replace body and, when a registry is configured, checks its event types.
async fn accepted_spec(
    state: &AppState,
    caller: &Caller,
    project: &ProjectName,
    body: &[u8],
) -> ApiResult<(Option<BeltId>, BeltSpec)> {
    let map = parse_body(body)?;
    refuse_nul_in_body(&map)?;
    let input = parse_spec(&map, &state.defaults)?;
    if let Some(registry) = &state.registry {
        registry
            .check_event_types(
                project,
                &input.spec.event_types,
                &caller.token,
                &caller.claims,
            )
            .await?;
    }
    Ok((input.id, input.spec))
}

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
        ("export" = Option<String>, Query, description = "`true` (any case): only fields that differ from the server defaults, plus `id`."),
    ),
    responses(
        (status = 200, description = "The belt; with `export=true` only the fields a POST needs to recreate it.", body = BeltDocument,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Bad id.", body = ErrorBody),
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
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    caller.require(&scope.project, Access::Read)?;
    let belt = load(&state, &scope.project, scope.id).await?;
    if export_requested(raw.as_deref()) {
        let mut response = Json(Value::Object(export(&belt, &state.defaults))).into_response();
        response
            .headers_mut()
            .insert(header::ETAG, etag(belt.version));
        return Ok(response);
    }
    Ok(belt_response(&state, StatusCode::OK, &belt, &base))
}

fn export_requested(raw: Option<&str>) -> bool {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .any(|(key, value)| key == "export" && value.trim().eq_ignore_ascii_case("true"))
}

// ---------------------------------------------------------------------------------------------
// Create

/// Create a belt; the id is taken from the body's `id` or assigned.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts",
    tag = "belts",
    params(("project" = String, Path, description = "Project (Keycloak client).")),
    request_body(content = BeltBody, description = "The belt; only `name` and `eventTypes` are required."),
    responses(
        (status = 200, description = "The stored belt.", body = BeltDocument,
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
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(&project, Access::Write)?;
    let (id, spec) = accepted_spec(&state, &caller, &project, &body).await?;
    store_new(&state, &caller, project, id, spec, &base).await
}

/// Create a belt with the id in the path.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/{id}",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "The id the new belt gets (1 to 9223372036854775807)."),
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
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(&scope.project, Access::Write)?;
    let (body_id, spec) = accepted_spec(&state, &caller, &scope.project, &body).await?;
    if let Some(body_id) = body_id.filter(|body_id| *body_id != scope.id) {
        return Err(ApiError::BadParameter(format!(
            "Parameter 'id' is '{body_id}' in the body but '{}' in the path.",
            scope.id
        )));
    }
    store_new(&state, &caller, scope.project, Some(scope.id), spec, &base).await
}

async fn store_new(
    state: &AppState,
    caller: &Caller,
    project: ProjectName,
    id: Option<BeltId>,
    spec: BeltSpec,
    base: &BaseUrl,
) -> ApiResult<Response> {
    let belt = state
        .store
        .create(NewBelt {
            id,
            project,
            spec,
            author: caller.person(),
            at: now_millis(),
        })
        .await?;
    tracing::info!(belt = %belt.id, project = %belt.project, "belt created");
    let mut response = belt_response(state, StatusCode::OK, &belt, base);
    if let Ok(location) = HeaderValue::from_str(&base.href(&belt_path(&belt.project, belt.id))) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
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
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(&scope.project, Access::Write)?;
    let wanted = if_match(&headers)?;
    let (_, spec) = accepted_spec(&state, &caller, &scope.project, &body).await?;
    // The decision is taken on the belt as it stands under its row lock: concurrent writers
    // queue instead of racing, so without `If-Match` the last writer wins and every writer gets
    // its own version, and with `If-Match` exactly one writer sees the version it names.
    let id = scope.id;
    let (by, at) = (caller.person(), now_millis());
    let decide: Decide = Box::new(move |current: &Belt| {
        check_version(id, current.version, &wanted)?;
        if current.spec == spec {
            return Ok(LockedWrite::Nothing);
        }
        Ok(LockedWrite::Replace {
            spec: Box::new(spec),
            by,
            at,
        })
    });
    match state.store.write_locked(&scope.project, id, decide).await? {
        LockedOutcome::Written(belt) => {
            tracing::info!(belt = %belt.id, version = belt.version, "belt updated");
            Ok(belt_response(&state, StatusCode::OK, &belt, &base))
        }
        LockedOutcome::Unchanged(current) => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert(header::ETAG, etag(current.version));
            Ok(response)
        }
        LockedOutcome::Refused(refusal) => Err(refusal),
        LockedOutcome::NotFound => Err(ApiError::belt_not_found(id)),
    }
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
    ),
    responses(
        (status = 200, description = "Deleted.", body = Deleted),
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
) -> ApiResult<Json<Deleted>> {
    caller.require(&scope.project, Access::Write)?;
    let wanted = if_match(&headers)?;
    // A wish, carried out by the reconciler (docs/api.md#delete).
    let id = scope.id;
    crate::reconcile::delete_belt(
        state.store.as_ref(),
        &state.reconciler,
        &scope.project,
        id,
        move |belt: &Belt| check_version(id, belt.version, &wanted),
    )
    .await?;
    Ok(Json(Deleted { content: true }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"3\", W/\"4\""));
        assert_eq!(if_match(&headers).unwrap(), Some(vec![3, 4]));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(if_match(&headers).unwrap(), None);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
        assert!(if_match(&headers).is_err());
    }
}
