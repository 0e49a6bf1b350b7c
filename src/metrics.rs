//! Prometheus metrics: request count and latency by route and status, the reconciler, the
//! consumer lag. `/metrics` answers without a token, so by default no series names a project or
//! a belt (both are tenants' data): the reconciler's failing belts and the lag are aggregates.
//! An operator whose scraper is private turns on per-belt series (`BELT_METRICS_PER_BELT`), as
//! kube-state-metrics gates its label allowlists.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/projects/{project}/belts/{id}`), never the raw path, so ids do not
    /// explode the label space.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BeltLabels {
    pub belt: String,
}

/// A belt by id and project, for series that every measured belt has.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BeltProjectLabels {
    pub belt: String,
    pub project: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    reconciles: Family<OutcomeLabels, Counter>,
    reconcile_duration: Histogram,
    belts: Family<StatusLabels, Gauge>,
    reconciler: ReconcilerMetrics,
    consumer_lag: Family<BeltProjectLabels, Gauge>,
    /// The lag of every running belt as last measured, by (belt id, project): what the total is
    /// summed from, and which series to remove once a belt stops.
    lag_belts: Mutex<std::collections::BTreeMap<(String, String), i64>>,
    consumer_lag_total: Gauge,
}

/// The controller's own numbers: its queue, and the belts it keeps failing on. Only failing belts
/// carry a `belt` label, and a belt's series go once it reconciles again, so the label space
/// stays as small as the set of broken belts.
#[derive(Default)]
struct ReconcilerMetrics {
    queue_depth: Gauge,
    retries: Family<BeltLabels, Counter>,
    backoff: Family<BeltLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// The belts whose last reconcile failed; their number is exported.
    failing: Mutex<std::collections::BTreeSet<crate::domain::BeltId>>,
    failing_belts: Gauge,
    /// 1 while this replica holds the leadership and runs the controllers (docs/api.md#several-replicas).
    leader: Gauge,
}

impl ReconcilerMetrics {
    fn register(&self, registry: &mut Registry, per_belt: bool) {
        registry.register(
            "reconcile_queue_depth",
            "Belts waiting for the reconciler, due now or backing off",
            self.queue_depth.clone(),
        );
        registry.register(
            "reconcile_failing_belts",
            "Belts whose last reconcile failed and that are retried with backoff",
            self.failing_belts.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica is the leader and runs the reconciler and the other controllers",
            self.leader.clone(),
        );
        if !per_belt {
            return;
        }
        registry.register(
            "belt_reconcile_retries",
            "Failed reconciles of a belt since it last reconciled cleanly",
            self.retries.clone(),
        );
        registry.register(
            "belt_reconcile_backoff_seconds",
            "How long the reconciler waits before retrying a failing belt",
            self.backoff.clone(),
        );
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(false)
    }
}

impl Metrics {
    /// `per_belt`: also export the series labelled with belt ids and projects.
    pub fn new(per_belt: bool) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        let mut registry = Registry::with_prefix("belt_api");
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        let reconciles = Family::<OutcomeLabels, Counter>::default();
        let reconcile_duration = Histogram::new([0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0]);
        let belts = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "reconciles",
            "Reconcile passes, by outcome (ok, error)",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile pass",
            reconcile_duration.clone(),
        );
        registry.register(
            "belts",
            "Belts by status, as of the last reconcile pass",
            belts.clone(),
        );
        let reconciler = ReconcilerMetrics::default();
        reconciler.register(&mut registry, per_belt);
        let (consumer_lag, consumer_lag_total) = register_lag(&mut registry, per_belt);
        Metrics {
            consumer_lag,
            consumer_lag_total,
            lag_belts: Mutex::default(),
            reconciler,
            registry: Mutex::new(registry),
            requests,
            latency,
            reconciles,
            reconcile_duration,
            belts,
        }
    }
}

/// The lag of all running belts together, and (`per_belt`) of each.
fn register_lag(
    registry: &mut Registry,
    per_belt: bool,
) -> (Family<BeltProjectLabels, Gauge>, Gauge) {
    let consumer_lag = Family::<BeltProjectLabels, Gauge>::default();
    let consumer_lag_total = Gauge::default();
    registry.register(
        "consumer_lag",
        "Records waiting in the input topics of all running belts together, as last measured",
        consumer_lag_total.clone(),
    );
    if per_belt {
        registry.register(
            "belt_consumer_lag",
            "Records waiting in a running belt's input topics, as last measured",
            consumer_lag.clone(),
        );
    }
    (consumer_lag, consumer_lag_total)
}

impl Metrics {
    pub fn observe_reconcile(&self, took: std::time::Duration, failed: bool) {
        let outcome = if failed { "error" } else { "ok" };
        self.reconciles
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    pub fn set_belts_by_status(
        &self,
        counts: &std::collections::HashMap<crate::domain::BeltStatus, u64>,
    ) {
        for status in crate::domain::BeltStatus::ALL {
            let count = counts.get(&status).copied().unwrap_or(0);
            self.belts
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_string(),
                })
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
    }

    /// Whether this replica runs the controllers now (several replicas elect one).
    pub fn set_leader(&self, leading: bool) {
        self.reconciler.leader.set(i64::from(leading));
    }

    pub fn set_reconcile_queue_depth(&self, depth: usize) {
        self.reconciler
            .queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// A reconcile of `belt` failed and is retried after `delay`.
    pub fn belt_retrying(&self, belt: crate::domain::BeltId, delay: std::time::Duration) {
        self.set_failing(belt, true);
        let labels = BeltLabels {
            belt: belt.to_string(),
        };
        self.reconciler.retries.get_or_create(&labels).inc();
        self.reconciler
            .backoff
            .get_or_create(&labels)
            .set(delay.as_secs_f64());
    }

    /// `belt` reconciled cleanly (or is gone): its retry series end.
    pub fn belt_recovered(&self, belt: crate::domain::BeltId) {
        self.set_failing(belt, false);
        let labels = BeltLabels {
            belt: belt.to_string(),
        };
        self.reconciler.retries.remove(&labels);
        self.reconciler.backoff.remove(&labels);
    }

    fn set_failing(&self, belt: crate::domain::BeltId, failing: bool) {
        let mut set = (self.reconciler.failing.lock()).unwrap_or_else(|e| e.into_inner());
        if failing {
            set.insert(belt);
        } else {
            set.remove(&belt);
        }
        let count = i64::try_from(set.len()).unwrap_or(i64::MAX);
        self.reconciler.failing_belts.set(count);
    }

    /// One answered request; its middleware is the HTTP edge's (`http/request_metrics.rs`).
    pub fn observe_request(&self, labels: RequestLabels, took: Duration) {
        self.requests.get_or_create(&labels).inc();
        (self.latency.get_or_create(&labels)).observe(took.as_secs_f64());
    }

    /// The lag of `belt` in `project`, as just measured.
    pub fn set_consumer_lag(&self, belt: crate::domain::BeltId, project: &str, lag: i64) {
        let mut exported = self.lag_belts.lock().unwrap_or_else(|e| e.into_inner());
        exported.insert((belt.to_string(), project.to_string()), lag);
        self.consumer_lag_total.set(exported.values().sum());
        self.consumer_lag
            .get_or_create(&BeltProjectLabels {
                belt: belt.to_string(),
                project: project.to_string(),
            })
            .set(lag);
    }

    /// The belts whose lag is counted, as (belt id, project).
    pub fn consumer_lag_belts(&self) -> Vec<(String, String)> {
        let exported = self.lag_belts.lock().unwrap_or_else(|e| e.into_inner());
        exported.keys().cloned().collect()
    }

    /// `belt` no longer runs (or is gone): its lag leaves the total, and its series ends.
    pub fn forget_consumer_lag(&self, belt: &str, project: &str) {
        let mut exported = self.lag_belts.lock().unwrap_or_else(|e| e.into_inner());
        exported.remove(&(belt.to_string(), project.to_string()));
        self.consumer_lag_total.set(exported.values().sum());
        self.consumer_lag.remove(&BeltProjectLabels {
            belt: belt.to_string(),
            project: project.to_string(),
        });
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

impl crate::domain::offsets::LagGauge for Metrics {
    fn set_consumer_lag(&self, belt: crate::domain::BeltId, project: &str, lag: i64) {
        Metrics::set_consumer_lag(self, belt, project, lag);
    }
}
