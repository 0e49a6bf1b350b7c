//! A page of a project's belts, with their status unless skipped, filtered by status when asked
//! (docs/api.md#listing).

use super::{Access, BeltError, Belts, Caller};
use crate::domain::{Belt, BeltStatus, Invalid, ProjectName};
use crate::store::ListQuery;

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Case-insensitive substring of the name; `%` and `_` are literal.
    pub search: String,
    pub offset: u64,
    pub limit: u64,
    /// Keep only belts in one of these states (none: keep all).
    pub states: Vec<BeltStatus>,
    /// Skip the status lookup; items carry no status.
    pub without_status: bool,
}

#[derive(Debug)]
pub struct Listed {
    pub items: Vec<(Belt, Option<BeltStatus>)>,
    /// Belts of the project that match the search, on every page.
    pub total: u64,
    /// Belts the page held before the state filter.
    pub fetched: u64,
}

impl Belts {
    /// `listing` is handed in as parsed, refusal included, so the role check answers first.
    pub async fn list(
        &self,
        caller: &Caller,
        project: &ProjectName,
        listing: Result<Listing, Invalid>,
    ) -> Result<Listed, BeltError> {
        let listing = caller.permit(project, Access::Read, listing)?;
        let query = ListQuery {
            search: listing.search,
            offset: listing.offset,
            limit: listing.limit,
        };
        let page = self.store.list(project, &query).await?;
        let fetched = page.belts.len() as u64;
        let items = page
            .belts
            .into_iter()
            .filter_map(|belt| {
                let status = (!listing.without_status).then(|| self.status_of(&belt));
                let wanted = listing.states.is_empty()
                    || status.is_some_and(|s| listing.states.contains(&s));
                wanted.then_some((belt, status))
            })
            .collect();
        Ok(Listed {
            items,
            total: page.total,
            fetched,
        })
    }
}
