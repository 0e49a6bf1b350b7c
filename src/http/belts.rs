//! The belt resource: list, get, create, replace, delete, state (CONTRACT §2, §5, §6).

use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;

use super::caller::{Access, Caller};
use super::errors::ErrorBody;
use super::links::{query_string, BaseUrl};
use super::openapi::BeltBody;
use super::scope::{BeltScope, ProjectScope};
use super::AppState;
use crate::domain::belt::now_millis;
use crate::domain::document::{export, BeltDocument, Link};
use crate::domain::input::{parse_body, parse_spec};
use crate::domain::{Belt, BeltId, BeltSpec, BeltStatus, ProjectName};
use crate::error::{ApiError, ApiResult};
use crate::store::{Change, DeleteOutcome, ListQuery, NewBelt, UpdateOutcome};

const DEFAULT_PAGE_SIZE: u64 = 20;
const MAX_PAGE_SIZE: u64 = 250;

fn belt_path(project: &ProjectName, id: BeltId) -> String {
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
// List

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BeltList {
    /// Belts of the project that match `search`, on all pages.
    pub total_count: u64,
    #[serde(rename = "_links")]
    pub links: ListLinks,
    pub items: Vec<BeltDocument>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListLinks {
    #[serde(rename = "self")]
    pub self_: Link,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev: Option<Link>,
}

/// The query of a list request, parsed.
#[derive(Debug, Default)]
struct ListParams {
    search: String,
    pagesize: u64,
    offset: u64,
    /// As given, for the links.
    expand: Vec<String>,
    states: Vec<BeltStatus>,
    exclude_status: bool,
    exclude: Option<String>,
    search_given: bool,
}

fn natural(name: &str, value: &str, min: u64, max: u64) -> ApiResult<u64> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadParameter(format!(
            "Parameter '{name}' must be a natural number but is '{value}'."
        ))),
    }
}

fn parse_list_query(raw: Option<&str>) -> ApiResult<ListParams> {
    let mut params = ListParams {
        pagesize: DEFAULT_PAGE_SIZE,
        ..Default::default()
    };
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "search" => {
                params.search = value.into_owned();
                params.search_given = true;
            }
            "pagesize" => params.pagesize = natural("pagesize", &value, 1, MAX_PAGE_SIZE)?,
            "offset" => params.offset = natural("offset", &value, 0, i64::MAX as u64)?,
            "expand" => {
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if item.eq_ignore_ascii_case("totalCount") {
                        // The count is always returned; accepted for old clients.
                    } else if let Ok(status) = item.parse::<BeltStatus>() {
                        params.states.push(status);
                    } else {
                        return Err(ApiError::BadParameter(format!(
                            "Parameter 'expand' must name totalCount or belt states (RUNNING, FAILED, RUNNING_BUT_OUTDATED, DEPLOYING, STOPPED) but is '{item}'."
                        )));
                    }
                    params.expand.push(item.to_string());
                }
            }
            "exclude" => {
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if item.eq_ignore_ascii_case("status") {
                        params.exclude_status = true;
                    } else {
                        return Err(ApiError::BadParameter(format!(
                            "Parameter 'exclude' may only be 'status' but is '{item}'."
                        )));
                    }
                }
                params.exclude = Some(value.into_owned());
            }
            _ => {}
        }
    }
    if params.exclude_status && !params.states.is_empty() {
        return Err(ApiError::BadParameter(
            "Parameter 'expand' cannot filter by state when 'exclude=status' skips the state lookup."
                .into(),
        ));
    }
    Ok(params)
}

fn list_href(base: &BaseUrl, path: &str, params: &ListParams, offset: u64) -> Link {
    let offset = offset.to_string();
    let pagesize = params.pagesize.to_string();
    let expand = params.expand.join(",");
    let mut pairs = vec![
        ("offset", offset.as_str()),
        ("pagesize", pagesize.as_str()),
        ("expand", expand.as_str()),
    ];
    if params.search_given {
        pairs.push(("search", params.search.as_str()));
    }
    if let Some(exclude) = &params.exclude {
        pairs.push(("exclude", exclude.as_str()));
    }
    Link {
        href: format!("{}?{}", base.href(path), query_string(pairs)),
    }
}

/// List the belts of a project.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("search" = Option<String>, Query, description = "Case-insensitive substring of the name; `%` and `_` are literal."),
        ("pagesize" = Option<u64>, Query, description = "1–250, default 20."),
        ("offset" = Option<u64>, Query, description = "Default 0."),
        ("expand" = Option<String>, Query, description = "`totalCount` and/or belt states (comma-separated or repeated); states filter the page."),
        ("exclude" = Option<String>, Query, description = "`status`: skip the status lookup; items carry no `status`."),
    ),
    responses(
        (status = 200, description = "A page of belts, ascending id.", body = BeltList),
        (status = 400, description = "Bad query parameter.", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ProjectScope(project): ProjectScope,
    base: BaseUrl,
    OriginalUri(uri): OriginalUri,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<BeltList>> {
    caller.require(&project, Access::Read)?;
    let params = parse_list_query(raw.as_deref())?;
    let page = state
        .store
        .list(
            &project,
            &ListQuery {
                search: params.search.clone(),
                offset: params.offset,
                limit: params.pagesize,
            },
        )
        .await?;
    let path = uri.path();
    let items = page
        .belts
        .iter()
        .filter_map(|belt| {
            let status = (!params.exclude_status).then(|| status_of(&state, belt));
            if !params.states.is_empty() && !status.is_some_and(|s| params.states.contains(&s)) {
                return None;
            }
            let href = base.href(&belt_path(&belt.project, belt.id));
            Some(BeltDocument::new(belt, status, href))
        })
        .collect();
    let has_next = params.offset.saturating_add(page.belts.len() as u64) < page.total
        && !page.belts.is_empty();
    let links = ListLinks {
        self_: list_href(&base, path, &params, params.offset),
        next: has_next.then(|| list_href(&base, path, &params, params.offset + params.pagesize)),
        prev: (params.offset > 0).then(|| {
            list_href(
                &base,
                path,
                &params,
                params.offset.saturating_sub(params.pagesize),
            )
        }),
    };
    Ok(Json(BeltList {
        total_count: page.total,
        links,
        items,
    }))
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
        (status = 200, description = "The belt.", body = BeltDocument,
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
    // Without If-Match the last writer wins, but never by overwriting a version it did not see:
    // a lost compare-and-set is retried on the fresh version. Each loss means another writer won,
    // so with fewer than MAX_ATTEMPTS concurrent writers every one of them lands.
    const MAX_ATTEMPTS: usize = 16;
    for _ in 0..MAX_ATTEMPTS {
        let current = load(&state, &scope.project, scope.id).await?;
        check_version(scope.id, current.version, &wanted)?;
        if current.spec == spec {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response
                .headers_mut()
                .insert(header::ETAG, etag(current.version));
            return Ok(response);
        }
        let change = Change {
            spec: spec.clone(),
            by: caller.person(),
            at: now_millis(),
            expected_version: current.version,
        };
        match state.store.update(&scope.project, scope.id, change).await? {
            UpdateOutcome::Updated(belt) => {
                tracing::info!(belt = %belt.id, version = belt.version, "belt updated");
                return Ok(belt_response(&state, StatusCode::OK, &belt, &base));
            }
            UpdateOutcome::NotFound => return Err(ApiError::belt_not_found(scope.id)),
            UpdateOutcome::VersionMismatch { current } => {
                check_version(scope.id, current, &wanted)?;
            }
        }
    }
    Err(ApiError::PreconditionFailed(format!(
        "Belt with ID '{}' kept changing while this update was applied; read it again and retry.",
        scope.id
    )))
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
    let current = load(&state, &scope.project, scope.id).await?;
    check_version(scope.id, current.version, &wanted)?;
    let expected = wanted.as_ref().map(|_| current.version);
    // Runtime first, then the document (CONTRACT §7). The wish is set to STOPPED before the
    // runtime is touched, so a crash in between leaves a stopped belt, never an orphan.
    super::running::stop_wish(&state, &current).await?;
    state.runtime.remove(scope.id).await?;
    match state
        .store
        .delete(&scope.project, scope.id, expected)
        .await?
    {
        DeleteOutcome::Deleted => {
            tracing::info!(belt = %scope.id, project = %scope.project, "belt deleted");
            Ok(Json(Deleted { content: true }))
        }
        DeleteOutcome::NotFound => Err(ApiError::belt_not_found(scope.id)),
        DeleteOutcome::VersionMismatch { current } => {
            check_version(scope.id, current, &wanted)?;
            Err(ApiError::belt_not_found(scope.id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_defaults_and_limits() {
        let params = parse_list_query(None).unwrap();
        assert_eq!((params.pagesize, params.offset), (20, 0));
        let params = parse_list_query(Some("pagesize=250&offset=5&search=a%25b")).unwrap();
        assert_eq!((params.pagesize, params.offset), (250, 5));
        assert_eq!(params.search, "a%b");
        for bad in [
            "pagesize=-1",
            "pagesize=0",
            "pagesize=251",
            "pagesize=x",
            "offset=-1",
        ] {
            let err = parse_list_query(Some(bad)).unwrap_err().to_string();
            assert!(err.contains("must be a natural number"), "{bad}: {err}");
        }
        assert_eq!(
            parse_list_query(Some("pagesize=-1"))
                .unwrap_err()
                .to_string(),
            "Parameter 'pagesize' must be a natural number but is '-1'."
        );
    }

    #[test]
    fn expand_takes_states_and_total_count() {
        let params = parse_list_query(Some("expand=RUNNING,totalCount&expand=stopped")).unwrap();
        assert_eq!(
            params.states,
            vec![BeltStatus::Running, BeltStatus::Stopped]
        );
        assert!(parse_list_query(Some("expand=banana")).is_err());
        assert!(parse_list_query(Some("exclude=name")).is_err());
        assert!(
            parse_list_query(Some("exclude=status"))
                .unwrap()
                .exclude_status
        );
    }

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
