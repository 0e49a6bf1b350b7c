//! How much of the event log is kept (docs/api.md#history). Retention is counted per project, so
//! one project's writes never prune another's history; within a project each belt keeps a floor
//! of its newest events, so a busy belt never erases a quiet one's history either.

/// The rule the store's prune applies: an event goes only when it is beyond both its project's
/// cap and its belt's floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRetention {
    per_project: u64,
    per_belt: u64,
}

impl EventRetention {
    /// A cap of 0 would prune what was just written before any reader saw it: at least 1 is kept.
    pub fn new(per_project: u64, per_belt: u64) -> Self {
        EventRetention {
            per_project: per_project.max(1),
            per_belt,
        }
    }

    /// Events of one project kept whatever its belts' floors are.
    pub fn per_project(&self) -> u64 {
        self.per_project
    }

    /// The newest events of each belt kept whatever else happens in its project.
    pub fn per_belt(&self) -> u64 {
        self.per_belt
    }

    /// Whether an event is kept, given how many newer events its project and its belt have. Only
    /// the event's own project and belt count: no other project's activity can change the answer.
    pub fn keeps(&self, newer_in_project: u64, newer_in_belt: u64) -> bool {
        newer_in_project < self.per_project || newer_in_belt < self.per_belt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_goes_only_beyond_both_its_projects_cap_and_its_belts_floor() {
        let retention = EventRetention::new(100, 5);
        assert!(retention.keeps(99, 50));
        assert!(retention.keeps(5_000, 4));
        assert!(!retention.keeps(100, 5));
        assert!(!retention.keeps(5_000, 50));
    }

    #[test]
    fn the_newest_event_of_a_project_is_always_kept() {
        let retention = EventRetention::new(0, 0);
        assert_eq!(retention.per_project(), 1);
        assert!(retention.keeps(0, 10));
        assert!(!retention.keeps(1, 10));
    }
}
