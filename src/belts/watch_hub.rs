//! One reader of the event log per project that has open watches (docs/api.md#watch). Every
//! commit is announced to the whole process; the hub of each watched project reads what is new
//! once, keeps the newest events in memory, and wakes its streams, which take their events from
//! there. A thousand streams of a project thus cost one query per commit, not a thousand. A
//! stream whose resume point is older than what the hub holds reads the store itself until it
//! has caught up (`watch.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::{oneshot, watch};

use crate::domain::{BeltEvent, BeltId, ProjectName};
use crate::store::EventLog;

/// Events read from the store at once.
pub(super) const BATCH: u64 = 500;

/// The most events a hub keeps: a stream further behind reads the store.
const WINDOW: usize = 2048;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hubs of the projects being watched, each alive while a stream holds it.
pub(super) struct WatchHubs {
    store: Arc<dyn EventLog>,
    hubs: Mutex<HashMap<ProjectName, Weak<Hub>>>,
}

/// The newest events of one project.
pub(super) struct Hub {
    recent: Mutex<Recent>,
    /// The newest id read, for the streams to wait on.
    newest: watch::Sender<i64>,
    /// Set when the store failed the reader: the streams end, their readers resume elsewhere.
    failed: AtomicBool,
    /// Dropped with the hub, which ends its reader.
    _stop: oneshot::Sender<()>,
}

/// Every event of the project with an id in `(floor, newest]`, oldest first.
struct Recent {
    events: VecDeque<Arc<BeltEvent>>,
    floor: i64,
    newest: i64,
}

/// What a stream finds in the hub after its last id.
pub(super) enum Found {
    /// The events after it (of the belt asked for, if any), and the id it has now seen up to.
    Events(Vec<Arc<BeltEvent>>, i64),
    /// The hub does not reach back that far: the store must be read.
    TooOld,
}

impl WatchHubs {
    pub(super) fn new(store: Arc<dyn EventLog>) -> Self {
        WatchHubs {
            store,
            hubs: Mutex::new(HashMap::new()),
        }
    }

    /// The project's hub, started when there is none, holding what comes after `start` when it
    /// is new.
    pub(super) fn join(&self, project: &ProjectName, start: i64) -> Arc<Hub> {
        let mut hubs = lock(&self.hubs);
        hubs.retain(|_, hub| hub.strong_count() > 0);
        if let Some(hub) = hubs.get(project).and_then(Weak::upgrade) {
            if !hub.failed() {
                return hub;
            }
        }
        let (hub, stopped) = Hub::new(start);
        let hub = Arc::new(hub);
        hubs.insert(project.clone(), Arc::downgrade(&hub));
        let reader = Reader {
            store: self.store.clone(),
            project: project.clone(),
            hub: Arc::downgrade(&hub),
        };
        // Subscribed now: a commit from here on is heard; the reader's first read (at once)
        // takes whatever committed after `start` before that.
        tokio::spawn(reader.run(self.store.event_announcements(), stopped));
        hub
    }
}

impl Hub {
    /// A hub holding what comes after `start`, and what resolves when it is dropped.
    fn new(start: i64) -> (Hub, oneshot::Receiver<()>) {
        let (stop, stopped) = oneshot::channel();
        let hub = Hub {
            recent: Mutex::new(Recent {
                events: VecDeque::new(),
                floor: start,
                newest: start,
            }),
            newest: watch::channel(start).0,
            failed: AtomicBool::new(false),
            _stop: stop,
        };
        (hub, stopped)
    }

    /// Changes whenever new events were read (or the hub failed).
    pub(super) fn subscribe(&self) -> watch::Receiver<i64> {
        self.newest.subscribe()
    }

    pub(super) fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// At most `limit` events after `last` (of `belt` only when given).
    pub(super) fn after(&self, last: i64, belt: Option<BeltId>, limit: usize) -> Found {
        let recent = lock(&self.recent);
        if last < recent.floor {
            return Found::TooOld;
        }
        let first = recent.events.partition_point(|event| event.id <= last);
        let mut seen = last.max(recent.floor);
        let mut events = Vec::new();
        for event in recent.events.range(first..).take(limit) {
            seen = event.id;
            if belt.is_none_or(|belt| belt == event.belt) {
                events.push(event.clone());
            }
        }
        if recent.events.len() - first <= limit {
            seen = seen.max(recent.newest);
        }
        Found::Events(events, seen)
    }

    /// Adds events read after `newest`; `pruned_through` beyond it means some were pruned before
    /// they were read: streams that had not seen them must read the store (and resync).
    fn add(&self, events: Vec<BeltEvent>, pruned_through: i64) {
        let newest = {
            let mut recent = lock(&self.recent);
            if pruned_through > recent.newest {
                recent.events.clear();
                recent.floor = pruned_through;
                recent.newest = pruned_through;
            }
            // A prune between the read and its horizon may have taken some of these: those at
            // or below the floor are left to the store path, which says resync.
            for event in events {
                if event.id > recent.newest {
                    recent.newest = event.id;
                    recent.events.push_back(Arc::new(event));
                }
            }
            while recent.events.len() > WINDOW {
                if let Some(oldest) = recent.events.pop_front() {
                    recent.floor = oldest.id;
                }
            }
            recent.newest
        };
        self.newest.send_replace(newest);
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::SeqCst);
        self.newest.send_modify(|_| {});
    }

    /// The newest id read.
    pub(super) fn newest(&self) -> i64 {
        lock(&self.recent).newest
    }
}

/// The hub's side facing the store.
struct Reader {
    store: Arc<dyn EventLog>,
    project: ProjectName,
    hub: Weak<Hub>,
}

impl Reader {
    async fn run(self, mut announcements: watch::Receiver<()>, mut stopped: oneshot::Receiver<()>) {
        loop {
            announcements.borrow_and_update();
            if !self.read_new().await {
                return;
            }
            tokio::select! {
                changed = announcements.changed() => if changed.is_err() { return },
                _ = &mut stopped => return,
            }
        }
    }

    /// Reads until nothing new is left; `false` when the hub is gone or the store failed.
    async fn read_new(&self) -> bool {
        loop {
            let Some(hub) = self.hub.upgrade() else {
                return false;
            };
            let after = hub.newest();
            let batch = match self
                .store
                .events_after(&self.project, after, None, BATCH)
                .await
            {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::warn!(project = %self.project, error = %err, "watch streams end: the store did not answer");
                    hub.fail();
                    return false;
                }
            };
            let full = batch.events.len() as u64 == BATCH;
            hub.add(batch.events, batch.pruned_through);
            if !full {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EventAction;

    fn hub(start: i64) -> Hub {
        Hub::new(start).0
    }

    fn event(id: i64, belt: i64) -> BeltEvent {
        BeltEvent {
            id,
            project: ProjectName::parse("p").unwrap(),
            belt: BeltId::new(belt).unwrap(),
            at: time::OffsetDateTime::UNIX_EPOCH,
            actor: "someone".into(),
            action: EventAction::Created,
            version: Some(1),
            from: None,
            to: None,
            reason: None,
            output: None,
        }
    }

    fn found(hub: &Hub, last: i64, belt: Option<i64>, limit: usize) -> Option<(Vec<i64>, i64)> {
        let belt = belt.map(|b| BeltId::new(b).unwrap());
        match hub.after(last, belt, limit) {
            Found::Events(events, seen) => Some((events.iter().map(|e| e.id).collect(), seen)),
            Found::TooOld => None,
        }
    }

    #[test]
    fn a_stream_takes_what_follows_its_last_id_and_sees_up_to_the_newest() {
        let hub = hub(10);
        hub.add((11..=15).map(|id| event(id, 1 + id % 2)).collect(), 0);
        assert_eq!(
            found(&hub, 10, None, 100),
            Some((vec![11, 12, 13, 14, 15], 15))
        );
        assert_eq!(found(&hub, 13, None, 100), Some((vec![14, 15], 15)));
        // Of one belt: the others are skipped, yet seen.
        assert_eq!(found(&hub, 10, Some(2), 100), Some((vec![11, 13, 15], 15)));
        // A limit stops at the last event looked at.
        assert_eq!(found(&hub, 10, None, 2), Some((vec![11, 12], 12)));
        // Started after what the hub has read: nothing yet, and nothing skipped.
        assert_eq!(found(&hub, 20, None, 100), Some((vec![], 20)));
        // Before the hub began: the store must be read.
        assert_eq!(found(&hub, 9, None, 100), None);
        assert_eq!(*hub.subscribe().borrow(), 15);
    }

    #[test]
    fn the_window_forgets_the_oldest_and_a_stream_behind_it_reads_the_store() {
        let hub = hub(0);
        let count = WINDOW as i64 + 5;
        hub.add((1..=count).map(|id| event(id, 1)).collect(), 0);
        assert_eq!(found(&hub, 4, None, 1), None);
        assert_eq!(found(&hub, 5, None, 1), Some((vec![6], 6)));
    }

    #[test]
    fn events_pruned_before_the_hub_read_them_send_the_streams_behind_to_the_store() {
        let hub = hub(10);
        hub.add(vec![event(11, 1)], 0);
        // 12..=20 were pruned before the hub read them; 19 and 21 came in the same batch.
        hub.add(vec![event(19, 1), event(21, 1)], 20);
        assert_eq!(found(&hub, 11, None, 100), None);
        assert_eq!(found(&hub, 20, None, 100), Some((vec![21], 21)));
    }

    #[test]
    fn a_failed_hub_says_so_and_wakes_its_streams() {
        let hub = hub(0);
        let mut news = hub.subscribe();
        hub.fail();
        assert!(hub.failed());
        assert!(news.has_changed().unwrap());
        news.borrow_and_update();
    }
}
