//! Listing belts: search, paging, `_links`, state filter (docs/api.md#listing).

use axum::extract::{OriginalUri, State};
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::document::{BeltDocument, Link};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::links::{query_string, BaseUrl};
use super::query::{status_item, Query};
use super::render::belt_path;
use super::scope::ProjectScope;
use super::state::AppState;
use crate::belts::Listing;
use crate::domain::{BeltStatus, Invalid};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BeltList {
    /// Belts of the project that match `search`, on all pages.
    pub total_count: u64,
    #[serde(rename = "_links")]
    pub links: ListLinks,
    pub items: Vec<BeltDocument<'static>>,
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

fn parse_list_query(query: &Query) -> Result<ListParams, Invalid> {
    let search = query.search()?;
    let page = query.page()?;
    let mut params = ListParams {
        search_given: search.is_some(),
        search: search.unwrap_or_default(),
        pagesize: page.limit,
        offset: page.offset,
        exclude: query.single("exclude")?.map(str::to_owned),
        ..Default::default()
    };
    for item in query.items("expand") {
        // The count is always returned; `totalCount` is accepted for old clients.
        if !item.eq_ignore_ascii_case("totalCount") {
            params
                .states
                .push(status_item("expand", item, "totalCount or ")?);
        }
        params.expand.push(item.to_string());
    }
    for item in query.items("exclude") {
        if !item.eq_ignore_ascii_case("status") {
            return Err(Invalid::field_message(
                "exclude",
                format!("Parameter 'exclude' may only be 'status' but is '{item}'."),
            ));
        }
        params.exclude_status = true;
    }
    if params.exclude_status && !params.states.is_empty() {
        return Err(Invalid::field_message(
            "expand",
            "Parameter 'expand' cannot filter by state when 'exclude=status' skips the state lookup.",
        ));
    }
    Ok(params)
}

impl ListParams {
    fn listing(&self) -> Listing {
        Listing {
            search: self.search.clone(),
            offset: self.offset,
            limit: self.pagesize,
            states: self.states.clone(),
            without_status: self.exclude_status,
        }
    }
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
        ("search" = Option<String>, Query, description = "Case-insensitive substring of the name; `%` and `_` are literal; at most 1024 characters.", max_length = 1024),
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
    query: Query,
) -> ApiResult<Json<BeltList>> {
    let params = parse_list_query(&query);
    let listing = params
        .as_ref()
        .map(ListParams::listing)
        .map_err(Clone::clone);
    let listed = state.belts.list(&caller.0, &project, listing).await?;
    // The use case has already answered a refused query; this only unwraps it.
    let params = params?;
    let links = page_links(&base, uri.path(), &params, listed.fetched, listed.total);
    let items = listed
        .items
        .into_iter()
        .map(|(belt, status)| {
            let href = base.href(&belt_path(&belt.project, belt.id));
            BeltDocument::owned(belt, status, href)
        })
        .collect();
    Ok(Json(BeltList {
        total_count: listed.total,
        links,
        items,
    }))
}

fn page_links(
    base: &BaseUrl,
    path: &str,
    params: &ListParams,
    fetched: u64,
    total: u64,
) -> ListLinks {
    let has_next = params.offset.saturating_add(fetched) < total && fetched > 0;
    ListLinks {
        self_: list_href(base, path, params, params.offset),
        next: has_next.then(|| list_href(base, path, params, params.offset + params.pagesize)),
        prev: (params.offset > 0).then(|| {
            list_href(
                base,
                path,
                params,
                params.offset.saturating_sub(params.pagesize),
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_list_query(raw: Option<&str>) -> Result<ListParams, Invalid> {
        super::parse_list_query(&Query::of(raw))
    }

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
}
