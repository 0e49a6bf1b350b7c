//! The reconciler's writes: what becomes of a belt being deleted once the runtime answered
//! (docs/api.md#delete). Only a belt whose desired state is DELETING is settled; any other was
//! settled already (or never deleted), and then there is nothing to write.

use time::OffsetDateTime;

use super::Transition;
use crate::domain::{Belt, BeltStatus, DesiredState, EventAction, EventDraft, Wish};

/// How a deletion ends in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The runtime removed what ran: the document goes too, and this is its `deleted` event.
    Remove(EventDraft),
    /// The runtime refused: the belt is back, stopped, as this transition stores it.
    Restore(Box<Transition>),
}

/// The runtime removed what ran of `current`: remove its document; `None` unless it is DELETING.
pub fn deleted(current: &Belt, at: OffsetDateTime) -> Option<Settlement> {
    being_deleted(current)?;
    Some(Settlement::Remove(EventDraft::observed(
        EventAction::Deleted,
        at,
    )))
}

/// The runtime refused to remove what runs of `current` (objects it does not own): the wish goes
/// back to STOPPED, what was deployed and the generation stay, so a later START is a new
/// generation as always; `None` unless it is DELETING. The event says STOPPED → STOPPED: for
/// every reader the belt was never gone from STOPPED.
pub fn deletion_refused(current: &Belt, at: OffsetDateTime) -> Option<Settlement> {
    being_deleted(current)?;
    let next = Belt {
        wish: Wish {
            desired: DesiredState::Stopped,
            ..current.wish.clone()
        },
        ..current.clone()
    };
    let stopped = Some(BeltStatus::Stopped);
    let event = EventDraft {
        from: stopped,
        to: stopped,
        ..EventDraft::observed(EventAction::StatusChanged, at)
            .with_reason("the runtime refused the deletion: objects in use")
    };
    Some(Settlement::Restore(Box::new(Transition::of(next, event))))
}

fn being_deleted(current: &Belt) -> Option<()> {
    (current.wish.desired == DesiredState::Deleting).then_some(())
}
