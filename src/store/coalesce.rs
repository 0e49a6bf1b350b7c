//! Reads of one belt by id, coalesced: the reads that arrive while a few batches are in flight
//! are answered together by the next batch, one statement for all of them.
//!
//! Why: on PostgreSQL a `get` was one statement per request, and a statement costs its round
//! trip more than its row: a write and a wake-up of the client, of the server's backend, and the
//! pool's release ping, about 60 µs of the machine's CPU under load against a few µs of index
//! lookup (bench/README.md, "Coalesced reads"). Under load, reads queue for a connection anyway;
//! here they queue for a batch instead, and a batch of n costs about one round trip.
//!
//! Nothing is answered from memory: every read is answered by a statement that began after the
//! read arrived, so a read still sees every write committed before it, on any replica
//! (docs/architecture.md). A read that finds a batch slot free and nobody waiting goes at once,
//! alone and in its own task, so coalescing adds no waiting and no hop where there is nothing to
//! share.
//!
//! Between projects: a batch reads by id only, and each reader is handed its row only if the row
//! is of the reader's project, so a belt of another project under the same id reads as absent,
//! as the single-row statement did. Readers are served in arrival order, at most [`MAX_BATCH`]
//! at a time, so no project's flood of reads can hold another's back for longer than its turn.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::oneshot;

use super::StoreError;
use crate::domain::{Belt, BeltId, ProjectName};

/// Readers one statement answers at most: enough to empty the queue of a busy replica (the
/// bench drives 64 at once), few enough that one statement stays an index lookup of a page.
pub(crate) const MAX_BATCH: usize = 64;

/// Reads the belts of these ids, in any order, any project, without the ones being deleted.
pub(crate) type Fetch =
    Arc<dyn Fn(Vec<BeltId>) -> BoxFuture<'static, Result<Vec<Belt>, StoreError>> + Send + Sync>;

type Answer = Result<Option<Belt>, StoreError>;

pub(crate) struct Coalescer {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    fetch: Fetch,
    /// Batches in flight at most: each holds one pooled connection for its statement.
    batches: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Reader>,
    running: usize,
}

struct Reader {
    project: ProjectName,
    id: BeltId,
    reply: oneshot::Sender<Answer>,
}

impl Coalescer {
    pub(crate) fn new(batches: usize, fetch: Fetch) -> Self {
        Coalescer {
            inner: Arc::new(Inner {
                state: Mutex::default(),
                fetch,
                batches: batches.max(1),
            }),
        }
    }

    /// The belt `id` of `project`, read by a statement that begins after this call.
    pub(crate) async fn get(&self, project: &ProjectName, id: BeltId) -> Answer {
        // A free slot and nobody waiting: the read goes alone, in this task. Handing it to a
        // batch task would add a wake-up and a hop between threads to every read at moderate
        // load, where there is nothing to share (it lengthened the tail at half the peak rate).
        let alone = {
            let mut state = self.inner.lock();
            let free = state.running < self.inner.batches && state.queue.is_empty();
            state.running += usize::from(free);
            free
        };
        if alone {
            let slot = Slot(self.inner.clone());
            let read = self.inner.read(vec![id]).await;
            drop(slot);
            return read.map(|belts| {
                belts
                    .into_iter()
                    .find(|belt| belt.id == id && belt.project == *project)
            });
        }
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.inner.lock();
            state.queue.push_back(Reader {
                project: project.clone(),
                id,
                reply,
            });
            let start = state.running < self.inner.batches;
            state.running += usize::from(start);
            start
        };
        if start {
            // A task of its own: a reader that gives up (its request's timeout, a client gone)
            // must not take the batch it started, and the other readers' answers, with it.
            tokio::spawn(Inner::drain(self.inner.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Other(anyhow::anyhow!(
                "the batch that was to read belt {id} ended without an answer"
            )))
        })
    }
}

/// The slot of a read that went alone. However that read ends (answered, failed, or dropped
/// with its request), the slot serves the readers that queued meanwhile, or is given back.
struct Slot(Arc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.0.lock();
            let waiting = !state.queue.is_empty();
            state.running -= usize::from(!waiting);
            waiting
        };
        if waiting {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => drop(runtime.spawn(Inner::drain(self.0.clone()))),
                // No runtime left to run a batch on: nobody can be waiting for one either.
                Err(_) => self.0.lock().running -= 1,
            }
        }
    }
}

#[cfg(test)]
impl Coalescer {
    /// Readers waiting for a batch: tests wait for it instead of sleeping.
    fn queued(&self) -> usize {
        self.inner.lock().queue.len()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers batches until no reader waits, then gives its slot back.
    async fn drain(self: Arc<Self>) {
        loop {
            let batch: Vec<Reader> = {
                let mut state = self.lock();
                if state.queue.is_empty() {
                    state.running -= 1;
                    return;
                }
                let take = state.queue.len().min(MAX_BATCH);
                state.queue.drain(..take).collect()
            };
            let read = self.read(distinct_ids(&batch)).await;
            answer(batch, read);
        }
    }

    /// One statement for `ids`; a panic in it is an error for its readers, not a lost slot.
    async fn read(&self, ids: Vec<BeltId>) -> Result<Vec<Belt>, StoreError> {
        AssertUnwindSafe((self.fetch)(ids))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Other(anyhow::anyhow!(
                    "reading a batch of belts panicked"
                )))
            })
    }
}

fn distinct_ids(batch: &[Reader]) -> Vec<BeltId> {
    let mut ids: Vec<BeltId> = batch.iter().map(|reader| reader.id).collect();
    ids.sort_unstable_by_key(|id| id.get());
    ids.dedup();
    ids
}

/// Hands each reader its belt, only if it is of the reader's project; or the batch's error. A
/// belt is moved to its reader, and copied only for a second reader of the same id: a belt holds
/// its callback's text, and copying every one showed in the profile (bench/README.md).
fn answer(batch: Vec<Reader>, read: Result<Vec<Belt>, StoreError>) {
    let mut belts: HashMap<BeltId, Belt> = match read {
        Ok(belts) => belts.into_iter().map(|belt| (belt.id, belt)).collect(),
        Err(err) => {
            for reader in batch {
                let _ = reader.reply.send(Err(copy_of(&err)));
            }
            return;
        }
    };
    let mut wanted: HashMap<BeltId, usize> = HashMap::new();
    for reader in &batch {
        *wanted.entry(reader.id).or_default() += 1;
    }
    for reader in batch {
        let left = wanted.get_mut(&reader.id).map_or(0, |left| {
            *left -= 1;
            *left
        });
        let belt = if left == 0 {
            belts.remove(&reader.id)
        } else {
            belts.get(&reader.id).cloned()
        };
        // Another project's belt under this id reads as absent, as in the single-row statement.
        let belt = belt.filter(|belt| belt.project == reader.project);
        // A reader that gave up has dropped its end; nothing to do for it.
        let _ = reader.reply.send(Ok(belt));
    }
}

/// The same failure for each reader of a failed batch: its kind (which decides between 503 and
/// 500) and its message.
fn copy_of(err: &StoreError) -> StoreError {
    match err {
        StoreError::IdTaken(id) => StoreError::IdTaken(*id),
        StoreError::NameTaken(name) => StoreError::NameTaken(name.clone()),
        StoreError::Unavailable(message) => StoreError::Unavailable(message.clone()),
        StoreError::Other(err) => StoreError::Other(anyhow::anyhow!("{err:#}")),
    }
}

#[cfg(test)]
mod tests;
