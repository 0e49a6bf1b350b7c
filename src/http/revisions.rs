//! A belt's revisions and its rollback (docs/api.md#revisions-and-rollback). Handlers extract,
//! call one use case, render.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::document::{BeltDocument, Link, SelfLinks};
use super::dry_run::{DryRun, DryRunParam};
use super::error::{ApiError, ApiResult};
use super::errors::ErrorBody;
use super::if_match::{etag, precondition};
use super::links::BaseUrl;
use super::list::ListLinks;
use super::paging::page_links;
use super::query::Query;
use super::render::{belt_path, replaced_response};
use super::scope::BeltScope;
use super::state::AppState;
use crate::domain::timestamp::format_timestamp;
use crate::domain::{Invalid, Person, RevisionSummary};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionItem {
    pub version: i64,
    pub modified_by: Person,
    #[schema(example = "2021-09-24T08:38:50.848Z")]
    pub modified_at: String,
    /// The version whose content a rollback restored in this one; `null` otherwise.
    pub rollback_of: Option<i64>,
    #[serde(rename = "_links")]
    pub links: SelfLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionList {
    /// Revisions the belt keeps, on all pages.
    pub total_count: u64,
    #[serde(rename = "_links")]
    pub links: ListLinks,
    pub items: Vec<RevisionItem>,
}

/// The `{version}` of `…/revisions/{version}`.
pub struct VersionParam(pub Result<i64, Invalid>);

impl<S: Send + Sync> FromRequestParts<S> for VersionParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, &())
            .await
            .map_err(|_| ApiError::BadParameter("Path parameters are not valid UTF-8.".into()))?;
        let value = raw.iter().find(|(k, _)| *k == "version").map(|(_, v)| v);
        let value = value.unwrap_or_default();
        Ok(VersionParam(match value.trim().parse::<i64>() {
            Ok(version) if version >= 1 => Ok(version),
            _ => Err(Invalid::field_message(
                "version",
                format!("Parameter 'version' must be a positive integer but is '{value}'."),
            )),
        }))
    }
}

/// The versions a belt keeps, newest first: who stored each and when.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/revisions",
    tag = "revisions",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("pagesize" = Option<u64>, Query, description = "1–250, default 20."),
        ("offset" = Option<u64>, Query, description = "Default 0."),
    ),
    responses(
        (status = 200, description = "A page of revisions, newest first.", body = RevisionList),
        (status = 400, description = "Bad id or query parameter.", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_revisions(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    OriginalUri(uri): OriginalUri,
    query: Query,
) -> ApiResult<Json<RevisionList>> {
    let paging = query.page();
    let asked = scope.asked_by(&caller);
    let page = state.belts.revisions(asked, paging.clone()).await?;
    let paging = paging?;
    let belt = belt_path(&scope.project, scope.id);
    let item = |revision: &RevisionSummary| RevisionItem {
        version: revision.version,
        modified_by: revision.modified_by.clone(),
        modified_at: format_timestamp(revision.modified_at),
        rollback_of: revision.rollback_of,
        links: SelfLinks {
            self_: Link {
                href: base.href(&format!("{belt}/revisions/{}", revision.version)),
            },
        },
    };
    let shown = page.items.len() as u64;
    Ok(Json(RevisionList {
        total_count: page.total,
        links: page_links(&base, uri.path(), paging, shown, page.total),
        items: page.items.iter().map(item).collect(),
    }))
}

/// The belt document as it was at one version (without `status`).
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/revisions/{version}",
    tag = "revisions",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("version" = i64, Path, description = "A version the belt keeps."),
    ),
    responses(
        (status = 200, description = "The document of that version.", body = BeltDocument,
            headers(("ETag" = String, description = "\"<version>\""))),
        (status = 400, description = "Bad id or version.", body = ErrorBody),
        (status = 404, description = "No such belt, or the version is unknown or pruned.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_revision(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    VersionParam(version): VersionParam,
    base: BaseUrl,
) -> ApiResult<Response> {
    let revision = state
        .belts
        .revision(scope.asked_by(&caller), version)
        .await?;
    let belt = &revision.belt;
    let href = base.href(&format!(
        "{}/revisions/{}",
        belt_path(&belt.project, belt.id),
        belt.version
    ));
    let mut response = Json(BeltDocument::new(belt, None, href)).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(belt.version));
    Ok(response)
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct RollbackBody {
    /// The version to restore; default: the newest kept version older than the current one.
    pub version: Option<i64>,
}

/// Store a kept version's content as a new version (version + 1), as a PUT of it would.
#[utoipa::path(
    post,
    path = "/projects/{project}/belts/{id}/rollback",
    tag = "revisions",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("If-Match" = Option<String>, Header, description = "Only if the belt is at this version (`\"3\"`)."),
        DryRunParam,
    ),
    request_body(content = Option<RollbackBody>, description = "Optional; `{\"version\": 2}`."),
    responses(
        (status = 200, description = "The belt after the rollback; version + 1.", body = BeltDocument,
            headers(("ETag" = String))),
        (status = 304, description = "That version's content is the current content; nothing changed."),
        (status = 400, description = "Invalid version, or the restored content is no longer accepted.", body = ErrorBody),
        (status = 404, description = "No such belt, or the version is unknown or pruned.", body = ErrorBody),
        (status = 409, description = "The restored name is taken by another belt.", body = ErrorBody),
        (status = 412, description = "`If-Match` does not name the current version.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    headers: HeaderMap,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Response> {
    let edit = scope.edit_by(&caller, precondition(&headers));
    let rolled = (state.belts)
        .rollback(edit.committing(commit), &body)
        .await?;
    Ok(replaced_response(rolled, &base))
}
