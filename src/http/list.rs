//! Listing belts: search, paging, `_links`, state filter (docs/api.md#listing).

use axum::extract::{OriginalUri, RawQuery, State};
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::document::{BeltDocument, Link};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::links::{query_string, BaseUrl};
use super::render::belt_path;
use super::scope::ProjectScope;
use super::state::AppState;
use crate::belts::Listing;
use crate::domain::{BeltStatus, Invalid};

pub(super) const DEFAULT_PAGE_SIZE: u64 = 20;
pub(super) const MAX_PAGE_SIZE: u64 = 250;
/// Names have at most 255 characters, so a longer search can hardly match; the bound keeps the
/// remembered searches small.
const MAX_SEARCH_CHARS: usize = 1024;

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

pub(super) fn natural(name: &str, value: &str, min: u64, max: u64) -> Result<u64, Invalid> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Invalid::field_message(
            name,
            format!("Parameter '{name}' must be a natural number but is '{value}'."),
        )),
    }
}

fn parse_list_query(raw: Option<&str>) -> Result<ListParams, Invalid> {
    let mut params = ListParams {
        pagesize: DEFAULT_PAGE_SIZE,
        ..Default::default()
    };
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "search" => {
                let chars = value.chars().count();
                if chars > MAX_SEARCH_CHARS {
                    return Err(Invalid::field_message("search", format!(
                        "Parameter 'search' must be at most {MAX_SEARCH_CHARS} characters long but has {chars}."
                    )));
                }
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
                        return Err(Invalid::field_message("expand", format!(
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
                        return Err(Invalid::field_message(
                            "exclude",
                            format!("Parameter 'exclude' may only be 'status' but is '{item}'."),
                        ));
                    }
                }
                params.exclude = Some(value.into_owned());
            }
            _ => {}
        }
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
    let params = parse_list_query(raw.as_deref());
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
