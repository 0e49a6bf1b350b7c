//! The links of a page of a belt's revisions and history, as the listing's (docs/api.md#listing):
//! `_links.self`, `next` and `prev`; the page itself is read by `Query::page`.

use super::document::Link;
use super::links::{query_string, BaseUrl};
use super::list::ListLinks;
use crate::belts::Paging;

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

    use crate::domain::Invalid;
    use crate::http::query::Query;

    fn paging_of(raw: Option<&str>) -> Result<Paging, Invalid> {
        Query::of(raw).page()
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
