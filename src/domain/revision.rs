//! A belt's kept versions (docs/api.md#revisions-and-rollback): who stored each and when, and the
//! document of each.

use time::OffsetDateTime;

use super::{Belt, Person};

/// One stored version, without its document: who made it and when.
#[derive(Debug, Clone)]
pub struct RevisionSummary {
    pub version: i64,
    pub modified_by: Person,
    pub modified_at: OffsetDateTime,
    /// The version whose content a rollback restored in this one.
    pub rollback_of: Option<i64>,
}

/// A page of a belt's revisions, newest first.
#[derive(Debug, Clone)]
pub struct RevisionPage {
    pub items: Vec<RevisionSummary>,
    /// Revisions of the belt that are kept, on every page.
    pub total: u64,
}

/// One stored version with its document; the belt as it was then, with no wish.
#[derive(Debug, Clone)]
pub struct Revision {
    pub belt: Belt,
    pub rollback_of: Option<i64>,
}
