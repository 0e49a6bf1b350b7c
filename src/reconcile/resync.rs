//! The periodic resync: wish summaries (no documents) against the runtime's in-memory view; only
//! the belts that differ are queued.

use std::collections::{HashMap, HashSet};

use super::Reconciler;
use crate::domain::lifecycle::summary_status;
use crate::domain::{BeltId, BeltStatus, DesiredState};
use crate::runtime::Observed;
use crate::store::{StoreError, WishSummary};

impl Reconciler {
    /// Queues every belt whose wish differs from what runs, and every belt that runs without a
    /// wish to run (stopped, or gone); answers how many were queued. Refreshes the belts-by-status gauge on the way.
    pub async fn resync(&self) -> Result<usize, StoreError> {
        let wishes = self.store.wish_summaries().await?;
        let summaries = wishes.active;
        let deployed: HashSet<BeltId> = self.runtime.deployed().into_iter().collect();
        let mut statuses = HashMap::<BeltStatus, u64>::new();
        // A stopped belt that still runs is queued below, as one that runs without a wish.
        statuses.insert(BeltStatus::Stopped, wishes.stopped);
        let mut due = Vec::new();
        for wish in &summaries {
            let observed = self.runtime.observe(wish.id);
            if wish.desired != DesiredState::Deleting {
                *statuses.entry(summary_status(wish, observed)).or_default() += 1;
            }
            if differs(wish, observed, deployed.contains(&wish.id)) {
                due.push(wish.id);
            }
        }
        let wished: HashSet<BeltId> = summaries.iter().map(|w| w.id).collect();
        due.extend(deployed.difference(&wished));
        self.metrics.set_belts_by_status(&statuses);
        for id in &due {
            self.queue.push(*id);
        }
        self.metrics.set_reconcile_queue_depth(self.queue.depth());
        Ok(due.len())
    }
}

/// The wish and what runs disagree.
fn differs(wish: &WishSummary, observed: Option<Observed>, deployed: bool) -> bool {
    match wish.desired {
        DesiredState::Running => !matches!(
            observed,
            Some(o) if Some(o.version) == wish.deployed_version && o.generation == wish.generation
        ),
        DesiredState::Stopped => deployed,
        DesiredState::Deleting => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProjectName;
    use crate::runtime::Phase;

    fn wish(desired: DesiredState) -> WishSummary {
        WishSummary {
            id: BeltId::new(1).unwrap(),
            project: ProjectName::global(),
            version: 2,
            desired,
            generation: 3,
            deployed_version: Some(2),
        }
    }

    fn seen(version: i64, generation: i64) -> Option<Observed> {
        Some(Observed {
            version,
            generation,
            phase: Phase::Failed,
        })
    }

    #[test]
    fn only_wishes_that_differ_from_what_runs_are_queued() {
        let running = wish(DesiredState::Running);
        assert!(
            !differs(&running, seen(2, 3), true),
            "current, whatever its phase"
        );
        assert!(differs(&running, seen(1, 3), true), "older version");
        assert!(differs(&running, seen(2, 2), true), "older generation");
        assert!(differs(&running, None, false), "not deployed");
        let stopped = wish(DesiredState::Stopped);
        assert!(!differs(&stopped, None, false));
        assert!(differs(&stopped, seen(2, 3), true));
        assert!(differs(&wish(DesiredState::Deleting), None, false));
    }
}
