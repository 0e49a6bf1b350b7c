//! Every store call bounded in time on this side of the connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::pool::note_outage;
use super::sessions::{ConsoleSessions, StoredSession};
use super::{
    AdmitSample, BeltRecords, BeltStore, Commit, Decide, EventBatch, EventLog, EventPage, LagLog,
    ListQuery, LockedOutcome, NewBelt, Page, ReconcilerView, Revision, RevisionLog, RevisionPage,
    SampleSaved, SavedSamples, Settle, Settlement, StoreError, Wishes,
};
use crate::domain::lag_series::LagSample;
use crate::domain::samples::{Sample, SampleName};
use crate::domain::{Belt, BeltId, EventDraft, EventRetention, ProjectName};

/// Every store call bounded in time on this side of the connection. The server's own statement
/// timeout ends slow statements; this ends calls to a database that does not answer at all (a
/// network partition, a frozen server), which no server-side timeout can reach. Twice the
/// dependency timeout: one for the pool, one for the statements of a healthy but slow database.
pub(super) struct Bounded {
    inner: Arc<dyn BeltStore>,
    limit: Duration,
}

impl Bounded {
    pub(super) fn new(inner: Arc<dyn BeltStore>, limit: Duration) -> Self {
        Bounded { inner, limit }
    }

    async fn bound<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.limit, call).await {
            Ok(answer) => answer,
            Err(_) => {
                note_outage();
                Err(StoreError::Unavailable(format!(
                    "no answer within {} ms",
                    self.limit.as_millis()
                )))
            }
        }
    }
}

#[async_trait]
impl BeltRecords for Bounded {
    async fn ping(&self) -> Result<(), StoreError> {
        self.bound(self.inner.ping()).await
    }
    async fn create(&self, belt: NewBelt, commit: Commit) -> Result<Belt, StoreError> {
        self.bound(self.inner.create(belt, commit)).await
    }
    async fn get(&self, project: &ProjectName, id: BeltId) -> Result<Option<Belt>, StoreError> {
        self.bound(self.inner.get(project, id)).await
    }
    async fn list(&self, project: &ProjectName, query: &ListQuery) -> Result<Page, StoreError> {
        self.bound(self.inner.list(project, query)).await
    }
    async fn write_locked(
        &self,
        project: &ProjectName,
        id: BeltId,
        decide: Decide,
        commit: Commit,
    ) -> Result<LockedOutcome, StoreError> {
        self.bound(self.inner.write_locked(project, id, decide, commit))
            .await
    }
    async fn insert_many(&self, belts: Vec<NewBelt>) -> Result<u64, StoreError> {
        // Bulk seeding may legitimately take long; it is not on a request's path.
        self.inner.insert_many(belts).await
    }
}

#[async_trait]
impl ReconcilerView for Bounded {
    async fn wish_summaries(&self) -> Result<Wishes, StoreError> {
        self.bound(self.inner.wish_summaries()).await
    }
    async fn get_any(&self, id: BeltId) -> Result<Option<Belt>, StoreError> {
        self.bound(self.inner.get_any(id)).await
    }
    async fn settle_deletion(
        &self,
        id: BeltId,
        settle: Settle,
    ) -> Result<Option<Settlement>, StoreError> {
        self.bound(self.inner.settle_deletion(id, settle)).await
    }
    fn elsewhere(&self) -> Option<tokio::sync::broadcast::Receiver<super::Elsewhere>> {
        self.inner.elsewhere()
    }
}

#[async_trait]
impl RevisionLog for Bounded {
    async fn revisions(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<RevisionPage, StoreError> {
        self.bound(self.inner.revisions(project, id, offset, limit))
            .await
    }
    async fn revision(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: i64,
    ) -> Result<Option<Revision>, StoreError> {
        self.bound(self.inner.revision(project, id, version)).await
    }
}

#[async_trait]
impl EventLog for Bounded {
    async fn record_status_change(
        &self,
        project: &ProjectName,
        id: BeltId,
        version: Option<i64>,
        draft: EventDraft,
        after: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.bound(
            self.inner
                .record_status_change(project, id, version, draft, after),
        )
        .await
    }
    async fn history(
        &self,
        project: &ProjectName,
        id: BeltId,
        offset: u64,
        limit: u64,
    ) -> Result<EventPage, StoreError> {
        self.bound(self.inner.history(project, id, offset, limit))
            .await
    }
    async fn events_after(
        &self,
        project: &ProjectName,
        after: i64,
        belt: Option<BeltId>,
        limit: u64,
    ) -> Result<EventBatch, StoreError> {
        self.bound(self.inner.events_after(project, after, belt, limit))
            .await
    }
    async fn newest_event_id(&self) -> Result<i64, StoreError> {
        self.bound(self.inner.newest_event_id()).await
    }
    async fn prune_events(&self, retention: EventRetention) -> Result<u64, StoreError> {
        self.bound(self.inner.prune_events(retention)).await
    }
    fn event_announcements(&self) -> tokio::sync::watch::Receiver<()> {
        self.inner.event_announcements()
    }
}

#[async_trait]
impl LagLog for Bounded {
    async fn record_lag(&self, belt: &Belt, sample: LagSample) -> Result<(), StoreError> {
        self.bound(self.inner.record_lag(belt, sample)).await
    }
    async fn lag_samples(
        &self,
        belt: &Belt,
        since: time::OffsetDateTime,
    ) -> Result<Vec<LagSample>, StoreError> {
        self.bound(self.inner.lag_samples(belt, since)).await
    }
    async fn lag_samples_of(
        &self,
        project: &ProjectName,
        belts: &[&Belt],
        since: time::OffsetDateTime,
    ) -> Result<HashMap<BeltId, Vec<LagSample>>, StoreError> {
        self.bound(self.inner.lag_samples_of(project, belts, since))
            .await
    }
    async fn prune_lag(&self, before: time::OffsetDateTime) -> Result<u64, StoreError> {
        self.bound(self.inner.prune_lag(before)).await
    }
}

#[async_trait]
impl SavedSamples for Bounded {
    async fn samples(&self, project: &ProjectName, id: BeltId) -> Result<Vec<Sample>, StoreError> {
        self.bound(self.inner.samples(project, id)).await
    }
    async fn sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        name: &SampleName,
    ) -> Result<Option<Sample>, StoreError> {
        self.bound(self.inner.sample(project, id, name)).await
    }
    async fn save_sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        sample: &Sample,
        admit: AdmitSample,
        commit: Commit,
    ) -> Result<SampleSaved, StoreError> {
        self.bound(self.inner.save_sample(project, id, sample, admit, commit))
            .await
    }
    async fn delete_sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        name: &SampleName,
        commit: Commit,
    ) -> Result<bool, StoreError> {
        self.bound(self.inner.delete_sample(project, id, name, commit))
            .await
    }
}

#[async_trait]
impl ConsoleSessions for Bounded {
    async fn open_session(
        &self,
        session: &StoredSession,
        now: i64,
        limit: u64,
    ) -> Result<bool, StoreError> {
        self.bound(self.inner.open_session(session, now, limit))
            .await
    }
    async fn session(&self, key: &str) -> Result<Option<StoredSession>, StoreError> {
        self.bound(self.inner.session(key)).await
    }
    async fn claim_renewal(
        &self,
        key: &str,
        version: i64,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        self.bound(self.inner.claim_renewal(key, version, now, until))
            .await
    }
    async fn store_renewal(
        &self,
        key: &str,
        version: i64,
        sealed: &str,
        renew_at: i64,
    ) -> Result<bool, StoreError> {
        self.bound(self.inner.store_renewal(key, version, sealed, renew_at))
            .await
    }
    async fn close_session(&self, key: &str) -> Result<(), StoreError> {
        self.bound(self.inner.close_session(key)).await
    }
    async fn shared_key(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        self.bound(self.inner.shared_key(name, candidate)).await
    }
}
