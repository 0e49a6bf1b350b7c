//! What happened to a belt, as its history and the project's watch tell it: every write and every
//! status change the runtime reports, in one ordered log (docs/api.md#history).

use std::fmt;

use time::OffsetDateTime;

use super::{BeltId, BeltStatus, Person, ProjectName};

/// The actor of what belt-api saw happen by itself (a replica exited, a deletion finished).
pub const SERVICE_ACTOR: &str = "belt-api";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    Created,
    Replaced,
    Started,
    Stopped,
    DeleteRequested,
    Deleted,
    StatusChanged,
}

impl EventAction {
    pub const ALL: [EventAction; 7] = [
        EventAction::Created,
        EventAction::Replaced,
        EventAction::Started,
        EventAction::Stopped,
        EventAction::DeleteRequested,
        EventAction::Deleted,
        EventAction::StatusChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Created => "created",
            EventAction::Replaced => "replaced",
            EventAction::Started => "started",
            EventAction::Stopped => "stopped",
            EventAction::DeleteRequested => "deleteRequested",
            EventAction::Deleted => "deleted",
            EventAction::StatusChanged => "statusChanged",
        }
    }

    pub fn parse(text: &str) -> Option<EventAction> {
        EventAction::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl fmt::Display for EventAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event as a write or an observer states it; the store adds the id, the belt and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDraft {
    pub action: EventAction,
    pub actor: String,
    pub at: OffsetDateTime,
    pub from: Option<BeltStatus>,
    pub to: Option<BeltStatus>,
    pub reason: Option<String>,
    /// What a replica printed that explains it: shown to editors only (`output.rs`).
    pub output: Option<String>,
}

impl EventDraft {
    /// A write by `by`, from one status to another.
    pub fn by(
        by: &Person,
        action: EventAction,
        at: OffsetDateTime,
        from: Option<BeltStatus>,
        to: Option<BeltStatus>,
    ) -> Self {
        EventDraft {
            action,
            actor: by.name.clone(),
            at,
            from,
            to,
            reason: None,
            output: None,
        }
    }

    /// What belt-api saw happen by itself.
    pub fn observed(action: EventAction, at: OffsetDateTime) -> Self {
        EventDraft {
            action,
            actor: SERVICE_ACTOR.to_owned(),
            at,
            from: None,
            to: None,
            reason: None,
            output: None,
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// One stored event. `id` grows with every event of every project: the watch resumes from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeltEvent {
    pub id: i64,
    pub project: ProjectName,
    pub belt: BeltId,
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: EventAction,
    /// The belt's version when it happened.
    pub version: Option<i64>,
    pub from: Option<BeltStatus>,
    pub to: Option<BeltStatus>,
    pub reason: Option<String>,
    /// What a replica printed that explains it: shown to editors only (`output.rs`).
    pub output: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_reads_back_from_its_name() {
        for action in EventAction::ALL {
            assert_eq!(EventAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(EventAction::parse("Created"), None);
    }
}
