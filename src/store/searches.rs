//! The ids that match a search, remembered per project roster revision.
//!
//! Counting the matches of `name LIKE '%term%'` and walking to a deep `OFFSET` both read every belt
//! of the project, so listing cost grew with the store (39–108× from 1k to 100k belts). The
//! database keeps a revision per project that its triggers move in the same transaction as any
//! insert, delete or rename (migration 0003); while it stands, the sorted ids of a search cannot
//! have changed, so a page is a slice of them plus one lookup of at most `pagesize` rows by id.
//! The cache only decides *which* ids; their rows are always read fresh.
//!
//! Bounded by entries and by ids held in total (a `quick_cache` weighted by ids; its eviction keeps
//! the searches read again over those read once). An entry
//! is also trusted for at most [`MAX_AGE`], so a revision that failed to move (a restore from an
//! older backup, triggers disabled during a bulk load) is outlived within a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};

/// Searches remembered at most.
const MAX_ENTRIES: usize = 128;
/// Ids held at most over all entries (8 bytes each: 4 MB). A search matching more is not kept, nor
/// one that would take nearly all of it (over `quick_cache`'s 97 % share for one entry).
const MAX_IDS: usize = 512 * 1024;
/// The longest an entry is used, even while its revision stands.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    project: String,
    pattern: String,
}

#[derive(Clone)]
struct Entry {
    revision: i64,
    stored_at: Instant,
    ids: Arc<[i64]>,
}

/// An entry weighs its ids, and never less than an equal share of the whole: the weight bound
/// then caps both the ids held and the number of entries.
#[derive(Clone)]
struct IdsWeighter {
    least: u64,
}

impl Weighter<Key, Entry> for IdsWeighter {
    fn weight(&self, _: &Key, entry: &Entry) -> u64 {
        (entry.ids.len() as u64).max(self.least)
    }
}

pub(crate) struct SearchCache {
    entries: Cache<Key, Entry, IdsWeighter>,
    max_ids: usize,
}

impl Default for SearchCache {
    fn default() -> Self {
        SearchCache::with_limits(MAX_ENTRIES, MAX_IDS)
    }
}

impl SearchCache {
    pub(crate) fn with_limits(max_entries: usize, max_ids: usize) -> Self {
        let least = (max_ids / max_entries.max(1)).max(1) as u64;
        let options = OptionsBuilder::new()
            .estimated_items_capacity(max_entries)
            .weight_capacity(least * max_entries as u64)
            // One shard: the bounds hold for the whole cache, not per shard (a shard's share
            // would refuse the larger searches), and searches are rare next to their cost.
            .shards(1)
            .build()
            .expect("valid cache options");
        let entries = Cache::with_options(
            options,
            IdsWeighter { least },
            DefaultHashBuilder::default(),
            Default::default(),
        );
        SearchCache { entries, max_ids }
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
        let entry = self.entries.get(&key(project, pattern))?;
        if entry.revision != revision || now.duration_since(entry.stored_at) >= MAX_AGE {
            return None;
        }
        Some(entry.ids)
    }

    /// Remembers the matching ids of `pattern` as of `revision`, replacing older ones.
    pub(crate) fn put(&self, project: &str, pattern: &str, revision: i64, ids: Arc<[i64]>) {
        if ids.len() > self.max_ids {
            return;
        }
        let entry = Entry {
            revision,
            stored_at: Instant::now(),
            ids,
        };
        self.entries.insert(key(project, pattern), entry);
    }
}

fn key(project: &str, pattern: &str) -> Key {
    Key {
        project: project.to_owned(),
        pattern: pattern.to_owned(),
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

    fn held(cache: &SearchCache) -> (usize, usize) {
        let ids = (0..1_000)
            .filter_map(|n| cache.get("p", &n.to_string(), 1))
            .map(|ids| ids.len())
            .sum();
        (cache.entries.len(), ids)
    }

    #[test]
    fn entries_stay_within_bounds() {
        let cache = SearchCache::with_limits(4, 100);
        for n in 0..50 {
            cache.put("p", &n.to_string(), 1, ids(0..1));
        }
        let (entries, _) = held(&cache);
        assert!((1..=4).contains(&entries), "{entries} entries");
    }

    #[test]
    fn ids_held_stay_within_bounds() {
        let cache = SearchCache::with_limits(10, 10);
        cache.put("p", "0", 1, ids(0..6));
        cache.put("p", "1", 1, ids(0..6));
        let (_, held_ids) = held(&cache);
        assert!(held_ids <= 10, "{held_ids} ids held");
        assert!(
            cache.get("p", "1", 1).is_some(),
            "the newest search is kept"
        );
        cache.put("p", "huge", 1, ids(0..11));
        assert!(
            cache.get("p", "huge", 1).is_none(),
            "larger than the whole cache"
        );
        // Replacing an entry releases what it held.
        cache.put("p", "1", 2, ids(0..9));
        assert_eq!(cache.entries.weight(), 9);
        assert_eq!(cache.get("p", "1", 2).map(|ids| ids.len()), Some(9));
    }
}
