//! The coalescer against a fetch that tests hold: what each batch read, when it began, and what
//! each reader was handed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use super::*;
use crate::domain::lifecycle::tests::belt;
use crate::domain::Wish;

fn project(name: &str) -> ProjectName {
    ProjectName::parse(name).unwrap()
}

fn id(n: i64) -> BeltId {
    BeltId::new(n).unwrap()
}

fn stored(n: i64, project_name: &str) -> Belt {
    Belt {
        id: id(n),
        project: project(project_name),
        ..belt(1, Wish::default())
    }
}

/// A database of `belts` whose batches wait for a permit each, so a test decides when a batch
/// answers; it records the ids each batch asked for and how many ran at once at most.
struct Held {
    belts: Vec<Belt>,
    permits: Semaphore,
    batches: Mutex<Vec<Vec<i64>>>,
    running: AtomicUsize,
    most_at_once: AtomicUsize,
    fail: bool,
}

impl Held {
    fn new(belts: Vec<Belt>) -> Arc<Self> {
        Arc::new(Held {
            belts,
            permits: Semaphore::new(0),
            batches: Mutex::default(),
            running: AtomicUsize::new(0),
            most_at_once: AtomicUsize::new(0),
            fail: false,
        })
    }

    fn failing() -> Arc<Self> {
        let mut held = Arc::into_inner(Held::new(vec![])).unwrap();
        held.fail = true;
        Arc::new(held)
    }

    fn fetch(self: &Arc<Self>) -> Fetch {
        let held = self.clone();
        Arc::new(move |ids: Vec<BeltId>| {
            let held = held.clone();
            Box::pin(async move {
                held.batches
                    .lock()
                    .unwrap()
                    .push(ids.iter().map(|id| id.get()).collect());
                let now = held.running.fetch_add(1, Ordering::SeqCst) + 1;
                held.most_at_once.fetch_max(now, Ordering::SeqCst);
                held.permits.acquire().await.unwrap().forget();
                held.running.fetch_sub(1, Ordering::SeqCst);
                if held.fail {
                    return Err(StoreError::Unavailable("the database is away".into()));
                }
                Ok(held
                    .belts
                    .iter()
                    .filter(|belt| ids.contains(&belt.id))
                    .cloned()
                    .collect())
            })
        })
    }

    fn batches(&self) -> Vec<Vec<i64>> {
        self.batches.lock().unwrap().clone()
    }

    /// Waits until `count` batches have begun.
    async fn begun(&self, count: usize) {
        for _ in 0..1000 {
            if self.batches.lock().unwrap().len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("{count} batches never began: {:?}", self.batches());
    }
}

/// Waits until `count` readers queue behind the batches in flight.
async fn queued(reads: &Coalescer, count: usize) {
    for _ in 0..1000 {
        if reads.queued() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{count} readers never queued");
}

fn spawn_read(
    reads: &Arc<Coalescer>,
    project_name: &str,
    n: i64,
) -> tokio::task::JoinHandle<Answer> {
    let reads = reads.clone();
    let project = project(project_name);
    tokio::spawn(async move { reads.get(&project, id(n)).await })
}

#[tokio::test]
async fn a_read_alone_goes_at_once_in_a_batch_of_its_own() {
    let held = Held::new(vec![stored(1, "a")]);
    let reads = Arc::new(Coalescer::new(2, held.fetch()));
    held.permits.add_permits(1);
    let belt = reads.get(&project("a"), id(1)).await.unwrap();
    assert_eq!(belt.map(|belt| belt.id), Some(id(1)));
    assert_eq!(held.batches(), vec![vec![1]]);
}

#[tokio::test]
async fn reads_that_arrive_during_a_batch_share_the_next_one() {
    let held = Held::new((1..=5).map(|n| stored(n, "a")).collect());
    let reads = Arc::new(Coalescer::new(1, held.fetch()));
    let first = spawn_read(&reads, "a", 1);
    held.begun(1).await;
    let waiting: Vec<_> = (2..=5).map(|n| spawn_read(&reads, "a", n)).collect();
    // All four queue behind the batch in flight before it answers.
    queued(&reads, 4).await;
    held.permits.add_permits(2);
    assert_eq!(first.await.unwrap().unwrap().unwrap().id, id(1));
    for (read, n) in waiting.into_iter().zip(2..) {
        assert_eq!(read.await.unwrap().unwrap().unwrap().id, id(n));
    }
    // The four came after the first batch began, so none was answered by it: each read is
    // answered by a statement that began after it arrived (read-after-write holds).
    assert_eq!(held.batches(), vec![vec![1], vec![2, 3, 4, 5]]);
}

#[tokio::test]
async fn another_projects_belt_under_the_same_id_reads_as_absent() {
    let held = Held::new(vec![stored(7, "a")]);
    let reads = Arc::new(Coalescer::new(1, held.fetch()));
    let blocker = spawn_read(&reads, "a", 9);
    held.begun(1).await;
    let own = spawn_read(&reads, "a", 7);
    let other = spawn_read(&reads, "b", 7);
    queued(&reads, 2).await;
    held.permits.add_permits(2);
    assert!(blocker.await.unwrap().unwrap().is_none());
    assert_eq!(own.await.unwrap().unwrap().unwrap().project, project("a"));
    assert!(other.await.unwrap().unwrap().is_none());
    // One id asked for once, though two readers wanted it.
    assert_eq!(held.batches()[1], vec![7]);
}

#[tokio::test]
async fn no_more_batches_run_at_once_than_allowed_and_none_holds_more_than_max_batch() {
    let held = Held::new(vec![]);
    let reads = Arc::new(Coalescer::new(2, held.fetch()));
    let all: Vec<_> = (1..=200).map(|n| spawn_read(&reads, "a", n)).collect();
    held.begun(2).await;
    // Every read is either in one of the two batches in flight or queued behind them.
    let in_flight: usize = held.batches().iter().map(Vec::len).sum();
    queued(&reads, 200 - in_flight).await;
    held.permits.add_permits(1000);
    for read in all {
        assert!(read.await.unwrap().unwrap().is_none());
    }
    assert_eq!(held.most_at_once.load(Ordering::SeqCst), 2);
    let batches = held.batches();
    assert!(batches.iter().all(|batch| batch.len() <= MAX_BATCH));
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 200);
    assert!(batches.len() < 200, "nothing was coalesced: {batches:?}");
}

#[tokio::test]
async fn a_failed_batch_fails_each_of_its_readers_with_its_kind() {
    let held = Held::failing();
    let reads = Arc::new(Coalescer::new(1, held.fetch()));
    let blocker = spawn_read(&reads, "a", 1);
    held.begun(1).await;
    let waiting: Vec<_> = (2..=3).map(|n| spawn_read(&reads, "a", n)).collect();
    queued(&reads, 2).await;
    held.permits.add_permits(2);
    for read in std::iter::once(blocker).chain(waiting) {
        let err = read.await.unwrap().unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_reader_that_gives_up_takes_neither_its_batch_nor_its_slot() {
    let held = Held::new(vec![stored(2, "a")]);
    let reads = Arc::new(Coalescer::new(1, held.fetch()));
    // The reader that started the batch gives up while its statement runs.
    let starter = spawn_read(&reads, "a", 1);
    held.begun(1).await;
    let waiting = spawn_read(&reads, "a", 2);
    queued(&reads, 1).await;
    starter.abort();
    held.permits.add_permits(2);
    assert_eq!(waiting.await.unwrap().unwrap().unwrap().id, id(2));
    // The slot came back: a later read still goes.
    held.permits.add_permits(1);
    assert!(reads.get(&project("a"), id(2)).await.unwrap().is_some());
}

#[tokio::test]
async fn a_batch_that_panics_answers_an_error_and_frees_its_slot() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let fetch: Fetch = Arc::new(move |_ids| {
        let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
        Box::pin(async move {
            assert!(!first, "a bug in the first batch");
            Ok(vec![])
        })
    });
    let reads = Coalescer::new(1, fetch);
    assert!(reads.get(&project("a"), id(1)).await.is_err());
    assert!(reads.get(&project("a"), id(1)).await.unwrap().is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
