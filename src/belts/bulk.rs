//! START or STOP by selector (docs/api.md#bulk-start-and-stop), as Kafka Connect's
//! `restart?onlyFailed=true`: every belt of a project whose status and name match goes through
//! the single START/STOP use case, so each transition is checked as it would be alone, and each
//! belt's outcome is answered. A dry run tries each belt's START/STOP as a single dry run would
//! (under its row lock, rolled back) and answers what each would do; nothing is stored.

use super::wish::action_of;
use super::{Access, Asked, BeltError, Belts, Caller, Edit};
use crate::domain::{BeltId, BeltStatus, Commit, Invalid, Precondition, ProjectName};
use crate::store::ListQuery;

/// The most belts one call acts on; a larger selection is refused, not cut.
pub const MAX_BULK_BELTS: usize = 1000;
/// Belts read per page while the selection is made.
const SELECTION_PAGE: u64 = 250;

/// Which belts: those in one of `states` (any, when empty) whose name contains `search`.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub states: Vec<BeltStatus>,
    pub search: Option<String>,
}

/// What happened to one selected belt.
#[derive(Debug)]
pub struct BulkOutcome {
    pub id: BeltId,
    /// The status the action leads to, or, when refused, the status the belt is in.
    pub status: BeltStatus,
    /// Why the single START/STOP refused this belt.
    pub refusal: Option<BeltError>,
}

impl Belts {
    /// `selector` and `commit` are handed in as parsed, refusals included, so the role check
    /// answers first.
    pub async fn change_states(
        &self,
        caller: &Caller,
        project: &ProjectName,
        (selector, commit): (Result<Selector, Invalid>, Result<Commit, Invalid>),
        body: &[u8],
    ) -> Result<Vec<BulkOutcome>, BeltError> {
        let parsed = selector.and_then(|selector| Ok((selector, commit?)));
        let (selector, commit) = caller.permit(project, Access::Write, parsed)?;
        action_of(body)?;
        let selected = self.select(project, &selector).await?;
        let mut outcomes = Vec::with_capacity(selected.len());
        for (id, before) in selected {
            let asked = Asked {
                caller,
                project,
                id,
            };
            let edit = Edit {
                asked,
                expect: Ok(Precondition::Any),
                commit: Ok(commit),
            };
            let outcome = match self.change_state(edit, body).await {
                Ok(status) => BulkOutcome {
                    id,
                    status,
                    refusal: None,
                },
                Err(refusal) => BulkOutcome {
                    id,
                    status: self.status_now(project, id).await.unwrap_or(before),
                    refusal: Some(refusal),
                },
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// The selected belts in id order with their status; more than [`MAX_BULK_BELTS`] is a 400.
    async fn select(
        &self,
        project: &ProjectName,
        selector: &Selector,
    ) -> Result<Vec<(BeltId, BeltStatus)>, BeltError> {
        let mut selected = Vec::new();
        let mut query = ListQuery {
            search: selector.search.clone().unwrap_or_default(),
            offset: 0,
            limit: SELECTION_PAGE,
        };
        loop {
            let page = self.store.list(project, &query).await?;
            let read = page.belts.len() as u64;
            for belt in page.belts {
                let status = self.status_of(&belt);
                if selector.states.is_empty() || selector.states.contains(&status) {
                    selected.push((belt.id, status));
                }
            }
            if selected.len() > MAX_BULK_BELTS {
                return Err(too_many(selector).into());
            }
            query.offset += read;
            if read < SELECTION_PAGE || query.offset >= page.total {
                return Ok(selected);
            }
        }
    }

    async fn status_now(&self, project: &ProjectName, id: BeltId) -> Option<BeltStatus> {
        let belt = self.store.get(project, id).await.ok()??;
        Some(self.status_of(&belt))
    }
}

fn too_many(selector: &Selector) -> Invalid {
    let field = if selector.states.is_empty() {
        "search"
    } else {
        "status"
    };
    Invalid::field_message(
        field,
        format!(
            "Parameter '{field}' selects more than {MAX_BULK_BELTS} belts; narrow the selection \
             with 'status' and 'search'."
        ),
    )
}
