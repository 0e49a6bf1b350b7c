//! The controllers the application starts besides the server: the reconciler and the
//! status-events controller, from the configuration; and how this replica campaigns to be the
//! one that runs them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::data_plane::DataPlane;
use crate::config::{LeaderElection, RuntimeKind, ServeConfig};
use crate::domain::replica::Platform;
use crate::leader::lease::{identity, KubeLease};
use crate::leader::postgres::AdvisoryLock;
use crate::leader::{Alone, Campaign};
use crate::reconcile::{Reconciler, StatusEvents};
use crate::runtime::kubernetes::belt_namespace;
use crate::runtime::Runtime;
use crate::store::BeltStore;

/// The controller's pacing, from the configuration.
pub(super) fn reconcile_settings(
    config: &ServeConfig,
    data_plane: &DataPlane,
) -> crate::reconcile::Settings {
    let call_timeout = Duration::from_millis(config.reconcile_call_timeout_ms.max(1));
    crate::reconcile::Settings {
        // The teardown's deadline, and the store's (bounded to twice the dependency timeout)
        // for reading the wish and deleting the document.
        delete_wait: call_timeout + config.dependency_timeout().saturating_mul(4),
        interval: Duration::from_millis(config.reconcile_interval_ms.max(100)),
        workers: config.reconcile_workers.max(1),
        call_timeout,
        backoff_initial: Duration::from_millis(config.reconcile_backoff_ms.max(1)),
        backoff_max: Duration::from_millis(config.reconcile_backoff_max_ms),
        platform: Platform {
            kafka_bootstrap: data_plane.bootstrap.clone(),
            profile_store_url: config.kafka.profile_store_url.clone(),
            host_idle_seconds: config.host.local_host_idle_seconds,
            source_header: config.kafka.record_source_header,
        },
        broker_health: data_plane.health(),
        pause_before_teardown: config
            .test_pause_before_teardown_ms
            .map(Duration::from_millis),
    }
}

pub(super) fn reconciler(
    config: &ServeConfig,
    store: &Arc<dyn BeltStore>,
    runtime: &Arc<dyn Runtime>,
    metrics: &Arc<crate::metrics::Metrics>,
    data_plane: &DataPlane,
) -> Arc<Reconciler> {
    let settings = reconcile_settings(config, data_plane);
    let reconciler =
        Reconciler::with_settings(store.clone(), runtime.clone(), metrics.clone(), settings);
    Arc::new(reconciler.with_topic_admin(data_plane.topics.clone()))
}

/// The status-events controller (which also prunes the event log), and the signal that ends
/// every watch stream when the service stops.
pub(super) fn observers(
    config: &ServeConfig,
    store: &Arc<dyn BeltStore>,
    runtime: &Arc<dyn Runtime>,
) -> (Arc<StatusEvents>, tokio::sync::watch::Sender<bool>) {
    let events = &config.events;
    let status_events = StatusEvents::new(
        store.clone(),
        runtime.clone(),
        config.dependency_timeout(),
        events.retention(),
        Duration::from_millis(events.event_prune_interval_ms.max(100)),
    );
    (
        Arc::new(status_events),
        tokio::sync::watch::channel(false).0,
    )
}

/// How this replica becomes the leader: on PostgreSQL the advisory lock every replica on the
/// database campaigns for, or the Kubernetes Lease when asked; on SQLite the process is alone on
/// its data directory and leads.
pub(super) async fn campaign(
    config: &ServeConfig,
    database_url: &str,
) -> anyhow::Result<Box<dyn Campaign>> {
    if database_url.starts_with("sqlite:") {
        return Ok(Box::new(Alone));
    }
    match config.leader.leader_election {
        LeaderElection::Lock => {
            let lock = AdvisoryLock::new(database_url, config.dependency_timeout())?;
            Ok(Box::new(lock))
        }
        LeaderElection::Lease => {
            anyhow::ensure!(
                config.runtime == RuntimeKind::Kubernetes,
                "BELT_LEADER_ELECTION=lease needs the Kubernetes runtime (BELT_RUNTIME=kubernetes)"
            );
            let client = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes for the leader Lease")?;
            let namespace = belt_namespace(config.k8s_namespace.as_deref(), &client);
            let lease = KubeLease::new(client, &namespace, &config.leader.leader_lease, identity())
                .with_duration(Duration::from_secs(config.leader.leader_lease_secs.max(3)));
            Ok(Box::new(lease))
        }
    }
}
