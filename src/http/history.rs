//! `GET …/belts/{id}/history` (docs/api.md#history): a belt's events, newest first, paged as the
//! listing is.

use axum::extract::{OriginalUri, State};
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::links::BaseUrl;
use super::list::ListLinks;
use super::paging::page_links;
use super::query::Query;
use super::scope::BeltScope;
use super::state::AppState;
use crate::domain::timestamp::format_timestamp;
use crate::domain::{BeltEvent, BeltStatus};

/// One event as history and watch show it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    /// Grows with every event of every project; a watch resumes after it.
    #[schema(example = 17)]
    pub id: i64,
    #[schema(example = "2026-12-02T15:04:05.123Z")]
    pub time: String,
    /// The token's name for writes; `belt-api` for what the runtime was seen doing.
    pub actor: String,
    /// `created`, `replaced`, `started`, `stopped`, `deleteRequested`, `deleted`, `statusChanged`.
    #[schema(example = "statusChanged")]
    pub action: String,
    pub version: Option<i64>,
    pub from_status: Option<BeltStatus>,
    pub to_status: Option<BeltStatus>,
    /// Why, when known: e.g. `replica grnry-belt-4-1-0 exited 1: ImportError: …`; the replica's
    /// own output (after `exited 1: `) only for editors.
    pub reason: Option<String>,
}

impl From<&BeltEvent> for HistoryItem {
    fn from(event: &BeltEvent) -> Self {
        HistoryItem {
            id: event.id,
            time: format_timestamp(event.at),
            actor: event.actor.clone(),
            action: event.action.as_str().to_owned(),
            version: event.version,
            from_status: event.from,
            to_status: event.to,
            reason: event.told_reason(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryList {
    /// Events of the belt that are retained, on all pages.
    pub total_count: u64,
    #[serde(rename = "_links")]
    pub links: ListLinks,
    pub items: Vec<HistoryItem>,
}

/// A belt's history: each write and each status change, newest first.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/history",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("pagesize" = Option<u64>, Query, description = "1–250, default 20."),
        ("offset" = Option<u64>, Query, description = "Default 0."),
    ),
    responses(
        (status = 200, description = "A page of the belt's events, newest first.", body = HistoryList),
        (status = 400, description = "Bad query parameter.", body = ErrorBody),
        (status = 404, description = "No such belt, and no retained events of one.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    OriginalUri(uri): OriginalUri,
    query: Query,
) -> ApiResult<Json<HistoryList>> {
    let page = query.page();
    let events = (state.belts)
        .history(scope.asked_by(&caller), page.clone())
        .await?;
    // The use case has already answered a refused query; this only unwraps it.
    let page = page?;
    let path = uri.path();
    let links = page_links(&base, path, page, events.events.len() as u64, events.total);
    Ok(Json(HistoryList {
        total_count: events.total,
        links,
        items: events.events.iter().map(HistoryItem::from).collect(),
    }))
}
