//! What this leader applied and has not seen back yet, so that it does not apply it again.
//!
//! On Kubernetes the runtime's view comes from watches: right after an apply, the view still shows
//! the old Deployment (or none) for a few milliseconds. A reconcile of the same belt in that window
//! — the periodic resync, or a wake queued while the apply ran — would find the view behind the
//! wish and apply the same spec again: harmless (server-side apply of an unchanged spec changes
//! nothing) but a wasted call, and a second "deployed" in the log. Kubernetes' own ReplicaSet
//! controller keeps "expectations" for the same reason. An expectation is dropped when the view
//! shows what was applied, when the belt leaves the runtime, or after [`PATIENCE`]: a Deployment
//! removed behind the leader's back right after its apply is applied again by the next reconcile
//! after that.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::BeltId;

/// How long an apply is trusted to show up in the view; watches take milliseconds.
pub(super) const PATIENCE: Duration = Duration::from_secs(5);

/// The (generation, version) of the wish a belt was last applied for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Applied {
    pub generation: i64,
    pub version: i64,
}

#[derive(Default)]
pub(super) struct Expectations(Mutex<HashMap<BeltId, (Applied, Instant)>>);

impl Expectations {
    /// `applied` was just applied for `id`.
    pub(super) fn expect(&self, id: BeltId, applied: Applied) {
        self.expect_at(id, applied, Instant::now());
    }

    fn expect_at(&self, id: BeltId, applied: Applied, now: Instant) {
        let mut expected = self.lock();
        // Bounded by the belts applied in the last PATIENCE: forget the stale ones on the way.
        expected.retain(|_, (_, at)| now.saturating_duration_since(*at) < PATIENCE);
        expected.insert(id, (applied, now));
    }

    /// Whether `wanted` was applied for `id` so recently that the view may not show it yet.
    pub(super) fn pending(&self, id: BeltId, wanted: Applied) -> bool {
        self.pending_at(id, wanted, Instant::now())
    }

    fn pending_at(&self, id: BeltId, wanted: Applied, now: Instant) -> bool {
        self.lock().get(&id).is_some_and(|(applied, at)| {
            *applied == wanted && now.saturating_duration_since(*at) < PATIENCE
        })
    }

    /// The view shows `id` as wished, or `id` left the runtime: nothing more to wait for.
    pub(super) fn settled(&self, id: BeltId) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BeltId, (Applied, Instant)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> BeltId {
        BeltId::new(n).unwrap()
    }

    const V1: Applied = Applied {
        generation: 1,
        version: 1,
    };

    #[test]
    fn an_apply_is_pending_until_seen_forgotten_or_too_old() {
        let expectations = Expectations::default();
        let start = Instant::now();
        expectations.expect_at(id(1), V1, start);
        assert!(expectations.pending_at(id(1), V1, start + Duration::from_millis(5)));
        assert!(!expectations.pending_at(id(2), V1, start), "another belt");
        let next = Applied {
            generation: 2,
            version: 1,
        };
        assert!(!expectations.pending_at(id(1), next, start), "a newer wish");
        assert!(
            !expectations.pending_at(id(1), V1, start + PATIENCE),
            "too old"
        );
        expectations.settled(id(1));
        assert!(!expectations.pending_at(id(1), V1, start));
    }

    #[test]
    fn stale_expectations_are_dropped_as_new_ones_come() {
        let expectations = Expectations::default();
        let start = Instant::now();
        expectations.expect_at(id(1), V1, start);
        expectations.expect_at(id(2), V1, start + PATIENCE);
        assert_eq!(expectations.lock().len(), 1);
    }
}
