//! The writes of a belt's wish: START, STOP and DELETE (docs/api.md#start-and-stop,
//! docs/api.md#delete). Which action a status allows is [`status_after`], the one table.

use super::{Request, Transition};
use crate::domain::lifecycle::status_of;
use crate::domain::{
    Action, Belt, BeltStatus, Deployed, DesiredState, EventAction, EventDraft, Invalid, Observed,
    Refusal, Wish,
};

/// The status an action leads to from `current`; or the 400 of the START/STOP table.
pub fn status_after(current: BeltStatus, action: Action) -> Result<BeltStatus, Invalid> {
    use BeltStatus::*;
    match (current, action) {
        // START deploys the belt's current version; on an outdated or failed belt, a redeploy.
        (Stopped | RunningButOutdated | Failed, Action::Start) => Ok(Deploying),
        (Deploying | Running | RunningButOutdated | Failed, Action::Stop) => Ok(Stopped),
        (status, action) => Err(Invalid::field(
            "state",
            format!(
                "cannot be '{}' while Belt status is '{status}'",
                action.as_str()
            ),
        )),
    }
}

/// START or STOP, as `action` says.
pub fn change_state(
    current: &Belt,
    ask: &Request,
    action: Action,
    observed: Option<Observed>,
) -> Result<Transition, Refusal> {
    match action {
        Action::Start => start(current, ask, observed),
        Action::Stop => stop(current, ask, observed),
    }
}

/// Deploy the current version: desired RUNNING, what to deploy recorded, generation + 1 (a START
/// of the same version is a new generation, so the runtime redeploys it).
pub fn start(
    current: &Belt,
    ask: &Request,
    observed: Option<Observed>,
) -> Result<Transition, Refusal> {
    let wish = Wish {
        desired: DesiredState::Running,
        deployed: Some(Deployed {
            version: current.version,
            spec: current.spec.clone(),
        }),
        generation: current.wish.generation + 1,
    };
    wished(current, ask, Action::Start, observed, wish)
}

/// Desired STOPPED; what was deployed stays recorded, the generation stays.
pub fn stop(
    current: &Belt,
    ask: &Request,
    observed: Option<Observed>,
) -> Result<Transition, Refusal> {
    let wish = Wish {
        desired: DesiredState::Stopped,
        ..current.wish.clone()
    };
    wished(current, ask, Action::Stop, observed, wish)
}

/// Desired DELETING: the belt is gone for every reader and writer; the reconciler removes what
/// runs, then the document. Any status may be deleted.
pub fn delete(
    current: &Belt,
    ask: &Request,
    observed: Option<Observed>,
) -> Result<Transition, Refusal> {
    ask.expect.check(current.id, current.version)?;
    let from = status_of(current, observed);
    let next = Belt {
        wish: Wish {
            desired: DesiredState::Deleting,
            ..current.wish.clone()
        },
        ..current.clone()
    };
    let event = EventDraft::by(
        &ask.by,
        EventAction::DeleteRequested,
        ask.at,
        Some(from),
        None,
    );
    Ok(Transition::of(next, event))
}

/// `wish` stored, when the table allows `action` in the belt's status.
fn wished(
    current: &Belt,
    ask: &Request,
    action: Action,
    observed: Option<Observed>,
    wish: Wish,
) -> Result<Transition, Refusal> {
    ask.expect.check(current.id, current.version)?;
    let from = status_of(current, observed);
    let to = status_after(from, action)?;
    let kind = match action {
        Action::Start => EventAction::Started,
        Action::Stop => EventAction::Stopped,
    };
    let event = EventDraft::by(&ask.by, kind, ask.at, Some(from), Some(to));
    let next = Belt {
        wish,
        ..current.clone()
    };
    Ok(Transition::of(next, event))
}
