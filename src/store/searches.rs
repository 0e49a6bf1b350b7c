//! The ids that match a search, remembered per project roster revision.
//!
//! Counting the matches of `name LIKE '%term%'` and walking to a deep `OFFSET` both read every belt
//! of the project, so listing cost grew with the store (39–108× from 1k to 100k belts). The
//! database keeps a revision per project that its triggers move in the same transaction as any
//! insert, delete or rename (migration 0003); while it stands, the sorted ids of a search cannot
//! have changed, so a page is a slice of them plus one lookup of at most `pagesize` rows by id.
//! The cache only decides *which* ids; their rows are always read fresh.
//!
//! Bounded by entries and by ids held in total; the least recently used entry goes first. An entry
//! is also trusted for at most [`MAX_AGE`], so a revision that failed to move (a restore from an
//! older backup, triggers disabled during a bulk load) is outlived within a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Searches remembered at most.
const MAX_ENTRIES: usize = 128;
/// Ids held at most over all entries (8 bytes each: 4 MB). A search matching more is not kept.
const MAX_IDS: usize = 512 * 1024;
/// The longest an entry is used, even while its revision stands.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    project: String,
    pattern: String,
}

struct Entry {
    revision: i64,
    stored_at: Instant,
    ids: Arc<[i64]>,
    last_used: u64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Key, Entry>,
    ids_held: usize,
    clock: u64,
}

pub(crate) struct SearchCache {
    entries: Mutex<Entries>,
    max_entries: usize,
    max_ids: usize,
}

impl Default for SearchCache {
    fn default() -> Self {
        SearchCache::with_limits(MAX_ENTRIES, MAX_IDS)
    }
}

impl SearchCache {
    pub(crate) fn with_limits(max_entries: usize, max_ids: usize) -> Self {
        SearchCache {
            entries: Mutex::new(Entries::default()),
            max_entries,
            max_ids,
        }
    }

    /// The sorted matching ids of `pattern` in `project`, if they were stored for `revision`.
    pub(crate) fn get(&self, project: &str, pattern: &str, revision: i64) -> Option<Arc<[i64]>> {
        self.get_at(project, pattern, revision, Instant::now())
    }

    fn get_at(
        &self,
        project: &str,
        pattern: &str,
        revision: i64,
        now: Instant,
    ) -> Option<Arc<[i64]>> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.clock += 1;
        let clock = entries.clock;
        let key = Key {
            project: project.to_owned(),
            pattern: pattern.to_owned(),
        };
        let entry = entries.map.get_mut(&key)?;
        if entry.revision != revision || now.duration_since(entry.stored_at) >= MAX_AGE {
            return None;
        }
        entry.last_used = clock;
        Some(entry.ids.clone())
    }

    /// Remembers the matching ids of `pattern` as of `revision`, replacing older ones.
    pub(crate) fn put(&self, project: &str, pattern: &str, revision: i64, ids: Arc<[i64]>) {
        if ids.len() > self.max_ids {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = Key {
            project: project.to_owned(),
            pattern: pattern.to_owned(),
        };
        if let Some(old) = entries.map.remove(&key) {
            entries.ids_held -= old.ids.len();
        }
        while entries.map.len() >= self.max_entries || entries.ids_held + ids.len() > self.max_ids {
            let Some(oldest) = entries
                .map
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some(evicted) = entries.map.remove(&oldest) {
                entries.ids_held -= evicted.ids.len();
            }
        }
        entries.clock += 1;
        let last_used = entries.clock;
        entries.ids_held += ids.len();
        entries.map.insert(
            key,
            Entry {
                revision,
                stored_at: Instant::now(),
                ids,
                last_used,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(range: std::ops::Range<i64>) -> Arc<[i64]> {
        range.collect::<Vec<_>>().into()
    }

    #[test]
    fn a_hit_needs_the_same_project_pattern_and_revision() {
        let cache = SearchCache::default();
        cache.put("p", "%a%", 7, ids(1..4));
        assert_eq!(cache.get("p", "%a%", 7).as_deref(), Some(&[1, 2, 3][..]));
        assert!(cache.get("p", "%a%", 8).is_none(), "the roster moved on");
        assert!(cache.get("p", "%b%", 7).is_none());
        assert!(cache.get("q", "%a%", 7).is_none());
        cache.put("p", "%a%", 8, ids(1..3));
        assert_eq!(cache.get("p", "%a%", 8).as_deref(), Some(&[1, 2][..]));
        assert!(cache.get("p", "%a%", 7).is_none());
    }

    #[test]
    fn entries_are_not_used_past_their_age() {
        let cache = SearchCache::default();
        cache.put("p", "%a%", 7, ids(1..4));
        let now = Instant::now();
        assert!(cache.get_at("p", "%a%", 7, now).is_some());
        assert!(cache.get_at("p", "%a%", 7, now + MAX_AGE).is_none());
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = SearchCache::with_limits(2, 100);
        cache.put("p", "a", 1, ids(0..1));
        cache.put("p", "b", 1, ids(0..1));
        cache.get("p", "a", 1);
        cache.put("p", "c", 1, ids(0..1));
        assert!(cache.get("p", "a", 1).is_some());
        assert!(cache.get("p", "b", 1).is_none());
        assert!(cache.get("p", "c", 1).is_some());
    }

    #[test]
    fn ids_held_stay_within_bounds() {
        let cache = SearchCache::with_limits(10, 10);
        cache.put("p", "a", 1, ids(0..6));
        cache.put("p", "b", 1, ids(0..6));
        assert!(cache.get("p", "a", 1).is_none(), "evicted to make room");
        assert!(cache.get("p", "b", 1).is_some());
        cache.put("p", "huge", 1, ids(0..11));
        assert!(
            cache.get("p", "huge", 1).is_none(),
            "larger than the whole cache"
        );
        assert!(cache.get("p", "b", 1).is_some());
        // Replacing an entry releases what it held.
        cache.put("p", "b", 2, ids(0..10));
        assert_eq!(cache.entries.lock().unwrap().ids_held, 10);
    }
}
