//! A runtime that records every call and can be told to hang or fail for chosen belts, and a
//! store wrapper that counts document reads.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use belt_api::domain::replica::ReplicaSpec;
use belt_api::domain::{Belt, BeltId};
use belt_api::runtime::{Observed, Phase, ReplicaLogs, Runtime, RuntimeError, StateDetails};
use belt_api::store::{ReconcilerView, Settle, Settlement, StoreError, Wishes};

#[derive(Default)]
pub struct FakeRuntime {
    pub running: Mutex<HashMap<BeltId, Observed>>,
    pub hanging: Mutex<HashSet<BeltId>>,
    pub failing: Mutex<HashSet<BeltId>>,
    pub panicking: Mutex<HashSet<BeltId>>,
    pub applies: Mutex<Vec<(BeltId, Instant)>>,
    /// Every spec applied, in order.
    pub specs: Mutex<Vec<ReplicaSpec>>,
    pub removes: AtomicUsize,
}

impl FakeRuntime {
    /// Runs `ids` at version 1, generation 1, as if started once.
    pub fn running(ids: impl IntoIterator<Item = BeltId>) -> Arc<FakeRuntime> {
        let fake = FakeRuntime::default();
        let observed = Observed {
            version: 1,
            generation: 1,
            phase: Phase::Running,
        };
        fake.running
            .lock()
            .unwrap()
            .extend(ids.into_iter().map(|id| (id, observed)));
        Arc::new(fake)
    }

    pub fn apply_times(&self, id: BeltId) -> Vec<Instant> {
        let applies = self.applies.lock().unwrap();
        applies
            .iter()
            .filter(|(a, _)| *a == id)
            .map(|(_, at)| *at)
            .collect()
    }

    pub fn calls(&self) -> usize {
        self.applies.lock().unwrap().len() + self.removes.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn recover(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn apply(&self, spec: &ReplicaSpec) -> Result<(), RuntimeError> {
        let id = spec.belt_id;
        self.applies.lock().unwrap().push((id, Instant::now()));
        self.specs.lock().unwrap().push(spec.clone());
        if self.hanging.lock().unwrap().contains(&id) {
            std::future::pending::<()>().await;
        }
        if self.panicking.lock().unwrap().contains(&id) {
            panic!("the fake panics on belt {id}");
        }
        if self.failing.lock().unwrap().contains(&id) {
            return Err(RuntimeError::Unavailable(
                "the fake refuses this belt".into(),
            ));
        }
        let observed = Observed {
            version: spec.version,
            generation: spec.generation,
            phase: Phase::Running,
        };
        self.running.lock().unwrap().insert(id, observed);
        Ok(())
    }
    async fn remove(&self, id: BeltId) -> Result<(), RuntimeError> {
        self.removes.fetch_add(1, Ordering::SeqCst);
        if self.hanging.lock().unwrap().contains(&id) {
            std::future::pending::<()>().await;
        }
        self.running.lock().unwrap().remove(&id);
        Ok(())
    }
    fn observe(&self, id: BeltId) -> Option<Observed> {
        self.running.lock().unwrap().get(&id).copied()
    }
    fn deployed(&self) -> Vec<BeltId> {
        let mut ids: Vec<BeltId> = self.running.lock().unwrap().keys().copied().collect();
        ids.sort();
        ids
    }
    async fn details(&self, _: BeltId) -> Result<Option<StateDetails>, RuntimeError> {
        Ok(None)
    }
    async fn shutdown(&self) {}
}

#[async_trait::async_trait]
impl ReplicaLogs for FakeRuntime {
    async fn logs(&self, _: BeltId, _: u32) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        Ok(BTreeMap::new())
    }
}

/// The reconciler's view of a store, counting every call that reads belt documents (specs);
/// summaries are counted apart.
pub struct CountingStore {
    pub inner: Arc<dyn ReconcilerView>,
    pub documents: AtomicUsize,
    pub summaries: AtomicUsize,
}

impl CountingStore {
    pub fn new(inner: Arc<dyn ReconcilerView>) -> Arc<CountingStore> {
        Arc::new(CountingStore {
            inner,
            documents: AtomicUsize::new(0),
            summaries: AtomicUsize::new(0),
        })
    }

    fn read(&self) {
        self.documents.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl ReconcilerView for CountingStore {
    async fn wish_summaries(&self) -> Result<Wishes, StoreError> {
        self.summaries.fetch_add(1, Ordering::SeqCst);
        self.inner.wish_summaries().await
    }
    async fn get_any(&self, id: BeltId) -> Result<Option<Belt>, StoreError> {
        self.read();
        self.inner.get_any(id).await
    }
    async fn settle_deletion(
        &self,
        id: BeltId,
        settle: Settle,
    ) -> Result<Option<Settlement>, StoreError> {
        self.inner.settle_deletion(id, settle).await
    }
}
