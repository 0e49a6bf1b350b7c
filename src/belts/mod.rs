//! The use cases: one module each. They take the caller and parsed values, check the caller's
//! roles, talk to the store, the runtime and the registry, and answer with domain values or a
//! [`BeltError`]. They know nothing of HTTP (docs/architecture.md).

mod bulk;
mod caller;
mod create;
mod delete;
mod error;
mod get;
mod history;
pub mod invoke;
pub mod lag;
mod list;
mod locked;
mod logs;
mod offsets;
mod ready;
mod replace;
mod revisions;
mod rollback;
mod samples;
pub mod sessions;
mod state;
mod streams;
mod watch;
mod watch_hub;
mod wish;

use std::sync::Arc;

use crate::domain::{Belt, BeltDefaults, BeltId, BeltStatus, ProjectName};
use crate::reconcile::Reconciler;
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::store::BeltStore;

pub use bulk::{BulkOutcome, Selector, MAX_BULK_BELTS};
pub use caller::{Access, Asked, Caller, Edit};
pub use error::{BeltError, Dependency, StreamShare};
pub use list::{Listed, Listing};
pub use logs::{FollowedLogs, MAX_LOG_LINES};
pub use offsets::{OffsetsBackend, OffsetsReport};
pub use replace::Replaced;
pub use state::StateReport;
pub use streams::{Bounded, BoundedStream, StreamEnd, StreamLimits, StreamSlot, StreamSlots};
pub use watch::{WatchAsk, WatchItem, WatchSettings};

/// The lag controller's interval when none is configured (`BELT_KAFKA_LAG_INTERVAL_MS`'s default).
pub const DEFAULT_LAG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// What the use cases reach: the store, the runtime, the registry (when configured), the
/// reconciler to wake, and the server defaults a body is completed with.
pub struct Belts {
    store: Arc<dyn BeltStore>,
    runtime: Arc<dyn Runtime>,
    registry: Option<Arc<Registry>>,
    reconciler: Arc<Reconciler>,
    defaults: Arc<BeltDefaults>,
    data_plane: Option<OffsetsBackend>,
    watch: WatchSettings,
    hubs: Arc<watch_hub::WatchHubs>,
    streams: Arc<StreamSlots>,
    /// Told when a belt is deleted, so that test-invoke drops what it kept for it alone.
    invoker: Option<Arc<dyn crate::invoke::Invoke>>,
    /// How often the lag controller measures (see [`Belts::lag_interval`]).
    lag_interval: std::time::Duration,
}

/// A belt with the status the runtime's in-memory view gives it.
#[derive(Debug, Clone)]
pub struct Shown {
    pub belt: Belt,
    pub status: BeltStatus,
}

impl Belts {
    pub fn new(
        store: Arc<dyn BeltStore>,
        runtime: Arc<dyn Runtime>,
        registry: Option<Arc<Registry>>,
        reconciler: Arc<Reconciler>,
        defaults: Arc<BeltDefaults>,
    ) -> Self {
        Belts {
            hubs: Arc::new(watch_hub::WatchHubs::new(store.clone())),
            store,
            runtime,
            registry,
            reconciler,
            defaults,
            data_plane: None,
            watch: WatchSettings::default(),
            streams: StreamSlots::new(StreamLimits::default()),
            invoker: None,
            lag_interval: DEFAULT_LAG_INTERVAL,
        }
    }

    /// How many watches and log follows may be open at once, per caller and in all.
    pub fn with_stream_limits(mut self, limits: StreamLimits) -> Self {
        self.streams = StreamSlots::new(limits);
        self
    }

    /// The test-invoker whose virtualenvs a delete prunes.
    pub fn with_invoker(mut self, invoker: Arc<dyn crate::invoke::Invoke>) -> Self {
        self.invoker = Some(invoker);
        self
    }

    /// How often the lag controller measures, as configured.
    pub fn with_lag_interval(mut self, interval: std::time::Duration) -> Self {
        self.lag_interval = interval;
        self
    }

    /// How watch streams pace themselves against their readers.
    pub fn with_watch(mut self, watch: WatchSettings) -> Self {
        self.watch = watch;
        self
    }

    /// The server defaults: what the export view leaves out.
    pub fn defaults(&self) -> &BeltDefaults {
        &self.defaults
    }

    /// Status from the runtime's in-memory view: no runtime call.
    fn status_of(&self, belt: &Belt) -> BeltStatus {
        crate::domain::lifecycle::status_of(belt, self.runtime.observe(belt.id))
    }

    fn show(&self, belt: Belt) -> Shown {
        Shown {
            status: self.status_of(&belt),
            belt,
        }
    }

    async fn load(&self, project: &ProjectName, id: BeltId) -> Result<Belt, BeltError> {
        self.store
            .get(project, id)
            .await?
            .ok_or(BeltError::NotFound(id))
    }
}

/// Which page of a belt's revisions or history: `limit` items from `offset`, newest first.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub offset: u64,
    pub limit: u64,
}
