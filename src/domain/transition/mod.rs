//! Every write to a belt as one pure function: the belt as it stands and the request in, the belt
//! as it is to be stored and the event that tells it out, or a refusal (docs/api.md#history,
//! docs/api.md#start-and-stop). Versions, generations and the START/STOP table live here and only
//! here: the store persists a [`Transition`] (or the reconciler's [`Settlement`]) as it is, and the
//! use cases and the reconciler only ask for one.

mod settle;
mod spec;
mod wish;

#[cfg(test)]
mod tests;

use time::OffsetDateTime;

use super::{Belt, EventDraft, Person, Precondition};

pub use settle::{deleted, deletion_refused, Settlement};
pub use spec::{create, replace, rollback, NewBelt};
pub use wish::{change_state, delete, start, status_after, stop};

/// A belt's next state and the event its write records, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub next: Belt,
    pub event: EventDraft,
    /// A rollback: the version whose content the new version restores, kept with its revision.
    pub restores: Option<i64>,
}

impl Transition {
    fn of(next: Belt, event: EventDraft) -> Self {
        Transition {
            next,
            event,
            restores: None,
        }
    }
}

/// Who asks for a write to an existing belt, when, and on which versions it may apply
/// (`If-Match`).
#[derive(Debug, Clone)]
pub struct Request {
    pub expect: Precondition,
    pub by: Person,
    pub at: OffsetDateTime,
}
