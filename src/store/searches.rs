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
//!
//! A search is read by one request at a time: the others that miss it meanwhile wait for that
//! scan. Before, an entry that aged out under load was scanned again by every list request due in
//! the scan's time, each holding a pool connection: 64 scans of a 100k-belt project in a row, the
//! list bursts of several hundred ms in bench/README.md.

use std::future::Future;
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
        SearchCache { entries }
    }

    /// The sorted matching ids of `pattern` in `project` as of `revision`: remembered, or read by
    /// `scan`, which runs once for all the requests that miss the same search at the same time.
    pub(crate) async fn ids_or_scan<E>(
        &self,
        project: &str,
        pattern: &str,
        revision: i64,
        scan: impl Future<Output = Result<Arc<[i64]>, E>>,
    ) -> Result<Arc<[i64]>, E> {
        let key = key(project, pattern);
        loop {
            let held = match self.entries.get_value_or_guard_async(&key).await {
                Ok(held) => held,
                Err(guard) => {
                    let ids = scan.await?;
                    // Waiting requests get these ids even when the cache does not admit them
                    // (over its share for one entry); an error lets the next waiter scan.
                    let _ = guard.insert(Entry::new(revision, ids.clone()));
                    return Ok(ids);
                }
            };
            if held.revision == revision && held.is_fresh(Instant::now()) {
                return Ok(held.ids);
            }
            if held.revision > revision {
                // This request reads an older snapshot than the one remembered: its own scan,
                // not kept.
                return scan.await;
            }
            // Outdated or too old: drop it, unless another request has already replaced it.
            self.entries
                .remove_if(&key, |entry| Arc::ptr_eq(&entry.ids, &held.ids));
        }
    }

    /// The sorted matching ids of `pattern` in `project`, if they were stored for `revision`.
    #[cfg(test)]
    fn get(&self, project: &str, pattern: &str, revision: i64) -> Option<Arc<[i64]>> {
        self.get_at(project, pattern, revision, Instant::now())
    }

    #[cfg(test)]
    fn get_at(
        &self,
        project: &str,
        pattern: &str,
        revision: i64,
        now: Instant,
    ) -> Option<Arc<[i64]>> {
        let entry = self.entries.get(&key(project, pattern))?;
        (entry.revision == revision && entry.is_fresh(now)).then_some(entry.ids)
    }

    /// Remembers the matching ids of `pattern` as of `revision`, replacing older ones.
    #[cfg(test)]
    fn put(&self, project: &str, pattern: &str, revision: i64, ids: Arc<[i64]>) {
        self.entries
            .insert(key(project, pattern), Entry::new(revision, ids));
    }
}

impl Entry {
    fn new(revision: i64, ids: Arc<[i64]>) -> Self {
        Entry {
            revision,
            stored_at: Instant::now(),
            ids,
        }
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now.duration_since(self.stored_at) < MAX_AGE
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

    /// A scan that takes a while and counts its runs.
    async fn counted(
        runs: &std::sync::atomic::AtomicUsize,
        ids: Arc<[i64]>,
    ) -> Result<Arc<[i64]>, ()> {
        runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Ok(ids)
    }

    #[tokio::test]
    async fn requests_that_miss_together_wait_for_one_scan() {
        let cache = SearchCache::default();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let asks = (0..64).map(|_| cache.ids_or_scan("p", "%a%", 7, counted(&runs, ids(1..4))));
        let answers = futures::future::join_all(asks).await;
        assert!(answers
            .iter()
            .all(|ids| ids.as_deref() == Ok(&[1, 2, 3][..])));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Remembered now: no scan.
        let again = cache
            .ids_or_scan("p", "%a%", 7, counted(&runs, ids(0..0)))
            .await;
        assert_eq!(again.as_deref(), Ok(&[1, 2, 3][..]));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_newer_revision_scans_again_and_an_older_one_is_not_kept() {
        let cache = SearchCache::default();
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let _ = cache
            .ids_or_scan("p", "%a%", 7, counted(&runs, ids(1..4)))
            .await;
        let newer = cache
            .ids_or_scan("p", "%a%", 8, counted(&runs, ids(1..3)))
            .await;
        assert_eq!(newer.as_deref(), Ok(&[1, 2][..]));
        assert_eq!(cache.get("p", "%a%", 8).as_deref(), Some(&[1, 2][..]));

        // A request in an older snapshot scans for itself and leaves the newer entry alone.
        let older = cache
            .ids_or_scan("p", "%a%", 7, counted(&runs, ids(1..4)))
            .await;
        assert_eq!(older.as_deref(), Ok(&[1, 2, 3][..]));
        assert_eq!(cache.get("p", "%a%", 8).as_deref(), Some(&[1, 2][..]));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_scan_leaves_the_next_request_to_scan() {
        let cache = SearchCache::default();
        let failed = cache
            .ids_or_scan("p", "%a%", 7, async { Err::<Arc<[i64]>, _>("down") })
            .await;
        assert_eq!(failed, Err("down"));
        let next = cache
            .ids_or_scan("p", "%a%", 7, async { Ok::<_, &str>(ids(1..2)) })
            .await;
        assert_eq!(next.as_deref(), Ok(&[1][..]));
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
