//! Belts read by id, remembered between reads, where belt-api is the database's only writer.
//!
//! On SQLite every write goes through this process (the data directory is one instance's, and the
//! database file is under it), so the process knows when a stored belt changes: a read of a belt
//! nobody wrote since can be answered from memory. `get` was the request whose cost was mostly the
//! database driver's (sqlx-sqlite hands every query to a worker thread and back: 28 % of a `get`'s
//! CPU in the profile of bench/README.md, "Issue 19"), and the most frequent one.
//!
//! Not on PostgreSQL: several replicas write one database there, and a write on one must be seen
//! by the next read on another (docs/architecture.md), which a cache in each process cannot promise.
//!
//! Correctness against a write that races a read: every write bumps an epoch and forgets the belt
//! *after* its commit, under one lock; a read remembers what it read only if no write bumped the
//! epoch since before its query began, checked under that same lock. So a row read before a commit
//! is either refused (the epoch moved) or stored before the write forgets it; a row read after
//! the commit is the new one. Entries are also trusted for at most [`MAX_AGE`], so a change made
//! behind belt-api's back (a restore of the file while it runs) is outlived within a minute.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use crate::domain::{Belt, BeltId, ProjectName};

/// Belts remembered at most (a few KB each, mostly the callback's text): the belts people and
/// tools are looking at, not the store; bench/README.md's RSS target (≤ 50 MB under load) holds
/// with it full.
const MAX_BELTS: usize = 1024;
/// The longest a remembered belt is answered.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Entry {
    belt: Arc<Belt>,
    stored_at: Instant,
}

pub(crate) struct BeltCache {
    belts: Cache<i64, Entry>,
    /// Moved by every write, under this lock; see the module's comment.
    epoch: Mutex<u64>,
}

/// What a read takes before its query: the epoch it may store its row under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

impl Default for BeltCache {
    fn default() -> Self {
        BeltCache {
            belts: Cache::new(MAX_BELTS),
            epoch: Mutex::new(0),
        }
    }
}

impl BeltCache {
    /// The belt `id` of `project` as last read, if no write touched it since and it is fresh.
    pub(crate) fn get(&self, project: &ProjectName, id: BeltId) -> Option<Belt> {
        self.get_at(project, id, Instant::now())
    }

    fn get_at(&self, project: &ProjectName, id: BeltId, now: Instant) -> Option<Belt> {
        let entry = self.belts.get(&id.get())?;
        if now.saturating_duration_since(entry.stored_at) > MAX_AGE {
            return None;
        }
        // A belt never changes project; another project's id reads as absent, as in the database.
        (entry.belt.project == *project).then(|| Belt::clone(&entry.belt))
    }

    /// Taken before a read's query.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(*self.lock())
    }

    /// Remembers what a read found, unless a write came after its ticket.
    pub(crate) fn offer(&self, ticket: Ticket, belt: &Belt) {
        let epoch = self.lock();
        if *epoch == ticket.0 {
            let entry = Entry {
                belt: Arc::new(belt.clone()),
                stored_at: Instant::now(),
            };
            self.belts.insert(belt.id.get(), entry);
        }
    }

    /// Called after every write that may have changed belt `id` (committed or not: a failed commit
    /// whose outcome is unknown is treated as written).
    pub(crate) fn forget(&self, id: BeltId) {
        let mut epoch = self.lock();
        *epoch += 1;
        self.belts.remove(&id.get());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // The guarded value is a counter that no panic can leave half-written.
        self.epoch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::tests::belt;
    use crate::domain::Wish;

    fn project(name: &str) -> ProjectName {
        ProjectName::parse(name).unwrap()
    }

    fn sample_belt(id: i64, project_name: &str) -> Belt {
        Belt {
            id: BeltId::new(id).unwrap(),
            project: project(project_name),
            ..belt(1, Wish::default())
        }
    }

    #[test]
    fn a_read_is_remembered_for_its_project_only() {
        let cache = BeltCache::default();
        let belt = sample_belt(7, "global");
        let ticket = cache.ticket();
        cache.offer(ticket, &belt);
        assert_eq!(cache.get(&project("global"), belt.id), Some(belt.clone()));
        assert_eq!(cache.get(&project("other"), belt.id), None);
    }

    #[test]
    fn a_write_after_the_ticket_keeps_the_read_out() {
        let cache = BeltCache::default();
        let belt = sample_belt(7, "global");
        let ticket = cache.ticket();
        // The write commits and forgets while the read's query is under way.
        cache.forget(belt.id);
        cache.offer(ticket, &belt);
        assert_eq!(cache.get(&project("global"), belt.id), None);
    }

    #[test]
    fn a_write_forgets_what_was_remembered() {
        let cache = BeltCache::default();
        let belt = sample_belt(7, "global");
        cache.offer(cache.ticket(), &belt);
        cache.forget(belt.id);
        assert_eq!(cache.get(&project("global"), belt.id), None);
        // A read after the write is remembered again.
        cache.offer(cache.ticket(), &belt);
        assert!(cache.get(&project("global"), belt.id).is_some());
    }

    #[test]
    fn an_entry_older_than_max_age_is_not_answered() {
        let cache = BeltCache::default();
        let belt = sample_belt(7, "global");
        cache.offer(cache.ticket(), &belt);
        let later = Instant::now() + MAX_AGE + Duration::from_secs(1);
        assert_eq!(cache.get_at(&project("global"), belt.id, later), None);
    }
}
