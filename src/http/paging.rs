//! Paging of a belt's revisions and history, as the listing pages (docs/api.md#listing):
//! `pagesize` 1–250 (default 20) and `offset`, answered with `_links.self`, `next` and `prev`.

use super::document::Link;
use super::links::{query_string, BaseUrl};
use super::list::{ListLinks, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use super::query::Query;
use crate::belts::Paging;
use crate::domain::Invalid;

/// The page a query asks for; other parameters are ignored.
pub fn paging_of(query: &Query) -> Result<Paging, Invalid> {
    Ok(Paging {
        offset: query.natural("offset", 0..=i64::MAX as u64, 0)?,
        limit: query.natural("pagesize", 1..=MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)?,
    })
}

fn page_href(base: &BaseUrl, path: &str, paging: Paging, offset: u64) -> Link {
    let (offset, pagesize) = (offset.to_string(), paging.limit.to_string());
    let pairs = [("offset", offset.as_str()), ("pagesize", pagesize.as_str())];
    Link {
        href: format!("{}?{}", base.href(path), query_string(pairs)),
    }
}

/// `self`, and `next` / `prev` where there is such a page; `shown` items of `total` are on this one.
pub fn page_links(base: &BaseUrl, path: &str, paging: Paging, shown: u64, total: u64) -> ListLinks {
    let has_next = paging.offset.saturating_add(shown) < total && shown > 0;
    let back = paging.offset.saturating_sub(paging.limit);
    ListLinks {
        self_: page_href(base, path, paging, paging.offset),
        next: has_next.then(|| page_href(base, path, paging, paging.offset + paging.limit)),
        prev: (paging.offset > 0).then(|| page_href(base, path, paging, back)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging_of(raw: Option<&str>) -> Result<Paging, Invalid> {
        super::paging_of(&Query::of(raw))
    }

    #[test]
    fn paging_takes_the_listing_bounds() {
        let page = paging_of(Some("pagesize=250&offset=3")).unwrap();
        assert_eq!((page.limit, page.offset), (250, 3));
        let page = paging_of(None).unwrap();
        assert_eq!((page.limit, page.offset), (20, 0));
        for bad in ["pagesize=0", "pagesize=251", "offset=-1", "pagesize=x"] {
            assert!(paging_of(Some(bad)).is_err(), "{bad}");
        }
    }
}
