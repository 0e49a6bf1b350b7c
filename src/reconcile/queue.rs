//! The work queue: belt ids, each at most once, waiting or backing off. A belt being reconciled
//! is never handed out twice; asked for again meanwhile, it is queued again when it is done.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;
use tokio::time::{Duration, Instant};

use crate::domain::BeltId;

#[derive(Default)]
pub struct WorkQueue {
    state: Mutex<State>,
    /// Signalled when an id becomes ready.
    ready: Notify,
}

#[derive(Default)]
struct State {
    ready: VecDeque<BeltId>,
    queued: HashSet<BeltId>,
    active: HashSet<BeltId>,
    /// Asked for while active: queued again when done.
    again: HashSet<BeltId>,
    /// Backing off after a failure: not before this instant.
    delayed: HashMap<BeltId, Instant>,
}

impl State {
    fn make_ready(&mut self, id: BeltId) -> bool {
        if self.active.contains(&id) {
            self.again.insert(id);
            return false;
        }
        if self.queued.insert(id) {
            self.ready.push_back(id);
            return true;
        }
        false
    }

    fn promote_due(&mut self, now: Instant) {
        let due: Vec<BeltId> = self
            .delayed
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.delayed.remove(&id);
            self.make_ready(id);
        }
    }
}

impl WorkQueue {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `id` unless it is already queued, or backing off (its retry comes at its time).
    pub fn push(&self, id: BeltId) {
        let mut state = self.state();
        if state.delayed.contains_key(&id) {
            return;
        }
        if state.make_ready(id) {
            self.ready.notify_one();
        }
    }

    /// Queues `id` now, even if it is backing off: a new wish is worth an attempt.
    pub fn push_now(&self, id: BeltId) {
        self.state().delayed.remove(&id);
        self.push(id);
    }

    /// Queues `id` after `delay` (the error policy's backoff).
    pub fn push_after(&self, id: BeltId, delay: Duration) {
        let mut state = self.state();
        state.again.remove(&id);
        state.delayed.insert(id, Instant::now() + delay);
    }

    /// The next id that is due, marked active until [`WorkQueue::done`].
    pub fn pop(&self) -> Option<BeltId> {
        let mut state = self.state();
        state.promote_due(Instant::now());
        let id = state.ready.pop_front()?;
        state.queued.remove(&id);
        state.active.insert(id);
        Some(id)
    }

    pub fn done(&self, id: BeltId) {
        let mut state = self.state();
        state.active.remove(&id);
        if state.again.remove(&id) && !state.delayed.contains_key(&id) && state.make_ready(id) {
            self.ready.notify_one();
        }
    }

    /// The ids in work when their workers were stopped (this replica lost the leadership):
    /// queued again, as a worker that finished would have left them.
    pub fn requeue_active(&self) {
        let mut state = self.state();
        let active: Vec<BeltId> = state.active.drain().collect();
        for id in active {
            state.again.remove(&id);
            state.make_ready(id);
        }
    }

    /// When the earliest backing-off id becomes due.
    pub fn next_due(&self) -> Option<Instant> {
        self.state().delayed.values().min().copied()
    }

    /// Ids waiting: due now or backing off.
    pub fn depth(&self) -> usize {
        let state = self.state();
        state.ready.len() + state.delayed.len()
    }

    /// Resolves when an id may have become ready.
    pub async fn notified(&self) {
        self.ready.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: i64) -> BeltId {
        BeltId::new(n).unwrap()
    }

    #[test]
    fn ids_are_deduplicated_and_never_handed_out_twice() {
        let queue = WorkQueue::default();
        queue.push(id(1));
        queue.push(id(1));
        queue.push(id(2));
        assert_eq!(queue.depth(), 2);
        assert_eq!(queue.pop(), Some(id(1)));
        queue.push(id(1));
        assert_eq!(queue.pop(), Some(id(2)));
        assert_eq!(queue.pop(), None, "1 is active: asked again, it waits");
        queue.done(id(1));
        assert_eq!(queue.pop(), Some(id(1)), "queued again once done");
    }

    #[tokio::test(start_paused = true)]
    async fn a_backing_off_id_waits_for_its_time_unless_a_wish_comes() {
        let queue = WorkQueue::default();
        queue.push_after(id(1), Duration::from_secs(4));
        queue.push(id(1));
        assert_eq!(queue.pop(), None, "a resync does not cut the backoff short");
        assert_eq!(queue.depth(), 1);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(queue.pop(), Some(id(1)));
        queue.done(id(1));
        queue.push_after(id(1), Duration::from_secs(4));
        queue.push_now(id(1));
        assert_eq!(queue.pop(), Some(id(1)), "a wish is tried at once");
    }

    #[test]
    fn ids_whose_workers_were_stopped_are_handed_out_again() {
        let queue = WorkQueue::default();
        queue.push(id(1));
        queue.push(id(2));
        assert_eq!(queue.pop(), Some(id(1)));
        queue.requeue_active();
        assert_eq!(queue.pop(), Some(id(2)));
        assert_eq!(queue.pop(), Some(id(1)), "no longer held as in work");
    }
}
