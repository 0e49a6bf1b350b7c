//! The writes of a belt's content: create (version 1), replace and rollback (the next version, or
//! nothing when the content is the same).

use time::OffsetDateTime;

use super::{Request, Transition};
use crate::domain::lifecycle::status_of;
use crate::domain::{
    Belt, BeltId, BeltSpec, BeltStatus, EventAction, EventDraft, Observed, Person, ProjectName,
    Refusal, Wish,
};

/// A belt to create, as its caller asks for it.
#[derive(Debug, Clone)]
pub struct NewBelt {
    /// `None`: the store picks the next free id.
    pub id: Option<BeltId>,
    pub project: ProjectName,
    pub spec: BeltSpec,
    pub author: Person,
    pub at: OffsetDateTime,
}

/// A new belt under `id` (the one asked for, or the one the store allocated): version 1, never
/// started, stopped.
pub fn create(id: BeltId, new: &NewBelt) -> Transition {
    let next = Belt {
        id,
        project: new.project.clone(),
        version: 1,
        spec: new.spec.clone(),
        created_by: new.author.clone(),
        created_at: new.at,
        modified_by: new.author.clone(),
        modified_at: new.at,
        wish: Wish::default(),
    };
    let stopped = Some(BeltStatus::Stopped);
    let event = EventDraft::by(&new.author, EventAction::Created, new.at, None, stopped);
    Transition::of(next, event)
}

/// `spec` as the next version; `None` when it is the current content (nothing to write). The
/// wish is untouched: a running belt goes on running what was deployed, now outdated.
pub fn replace(
    current: &Belt,
    ask: &Request,
    spec: BeltSpec,
    observed: Option<Observed>,
) -> Result<Option<Transition>, Refusal> {
    ask.expect.check(current.id, current.version)?;
    if current.spec == spec {
        return Ok(None);
    }
    let next = Belt {
        version: current.version + 1,
        spec,
        modified_by: ask.by.clone(),
        modified_at: ask.at,
        ..current.clone()
    };
    let (from, to) = (status_of(current, observed), status_of(&next, observed));
    let event = EventDraft::by(&ask.by, EventAction::Replaced, ask.at, Some(from), Some(to));
    Ok(Some(Transition::of(next, event)))
}

/// The content of kept version `restores` as the next version: a replace that says so.
pub fn rollback(
    current: &Belt,
    ask: &Request,
    spec: BeltSpec,
    restores: i64,
    observed: Option<Observed>,
) -> Result<Option<Transition>, Refusal> {
    let replaced = replace(current, ask, spec, observed)?;
    Ok(replaced.map(|transition| Transition {
        event: transition
            .event
            .with_reason(format!("rollback to version {restores}")),
        restores: Some(restores),
        ..transition
    }))
}
