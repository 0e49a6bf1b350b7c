//! The error policy: a belt whose reconcile fails is retried after a delay that doubles with each
//! failure in a row, up to a cap; one clean reconcile resets it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::domain::BeltId;

pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: Mutex<HashMap<BeltId, u32>>,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial: initial.max(Duration::from_millis(1)),
            max: max.max(initial),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a failure of `id` and answers how long to wait before the next attempt.
    pub fn failed(&self, id: BeltId) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let count = failures.entry(id).or_default();
        let delay = self
            .initial
            .saturating_mul(1u32 << (*count).min(20))
            .min(self.max);
        *count = count.saturating_add(1);
        delay
    }

    /// `id` reconciled cleanly; `true` when it had been failing.
    pub fn succeeded(&self, id: BeltId) -> bool {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset_on_success() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let id = BeltId::new(7).unwrap();
        let delays: Vec<u64> = (0..5).map(|_| backoff.failed(id).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
        assert!(backoff.succeeded(id));
        assert!(!backoff.succeeded(id));
        assert_eq!(backoff.failed(id), Duration::from_secs(1));
    }
}
