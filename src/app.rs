//! Wiring: `App::build(config)` starts the data plane (the embedded Kafka broker by default),
//! connects the runtime and the store, sets up auth and binds the listener (port 0 works, and
//! `port()` tells which one was bound), `run` serves until the shutdown signal.

mod controllers;
mod data_plane;
mod invoke;
mod leading;
mod runtime;
mod shutdown;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::auth::{AuthConfig, AuthMode, Verifier};
use crate::belts::OffsetsBackend;
use crate::broker::{GroupOffsets, KafkaGroupOffsets};
use crate::config::ServeConfig;
use crate::domain::BeltDefaults;
use crate::http;
use crate::invoke::Invoke;
use crate::leader::{self, data_dir::DataDirLock, Campaign};
use crate::reconcile::{LagWatch, Reconciler, StatusEvents};
use crate::registry::Registry;
use crate::runtime::Runtime;
use crate::store::{self, StoreOptions};
use crate::telemetry::redact_url;
use controllers::{campaign, observers, reconciler};
pub use data_plane::DataPlane;
use leading::{AbortOnDrop, Controllers};
use runtime::connect_runtime;
use state::{app_state, stream_limits, watch_settings, Services};

pub struct App {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    runtime: Arc<dyn Runtime>,
    reconciler: Arc<Reconciler>,
    data_plane: DataPlane,
    lag_watch: Option<Arc<LagWatch>>,
    status_events: Arc<StatusEvents>,
    /// The graceful shutdown: ends the streams, drains the listener, bounds it all by the grace
    /// period.
    drain: shutdown::Drain,
    /// How this replica becomes the one that runs the controllers (`leader`).
    campaign: Box<dyn Campaign>,
    metrics: Arc<crate::metrics::Metrics>,
    /// On SQLite, this process's claim on the data directory, held while it lives.
    _data_dir: Option<DataDirLock>,
}

impl App {
    pub async fn build(config: ServeConfig) -> anyhow::Result<App> {
        // Before anything touches the data directory (the broker's storage is there too).
        let data_dir = claim_data_dir(&config)?;
        // The broker first: the runtime's recovery may find replicas that expect it.
        let data_plane = DataPlane::start(&config).await?;
        let (runtime, invoker) = match connect_runtime(&config).await {
            Ok(connected) => connected,
            Err(err) => {
                data_plane.stop().await;
                return Err(err);
            }
        };
        Self::assemble(config, runtime, invoker, (data_plane, data_dir)).await
    }

    /// As `build`, with a runtime chosen by the caller (tests hand in one on a fake API).
    pub async fn build_with_runtime(
        config: ServeConfig,
        runtime: Arc<dyn Runtime>,
    ) -> anyhow::Result<App> {
        Self::build_with(config, runtime, None).await
    }

    /// As `build_with_runtime`, with test-invoke chosen by the caller too (tests hand in a pod
    /// invoker on the same fake API); `None` is the configuration's.
    pub async fn build_with(
        config: ServeConfig,
        runtime: Arc<dyn Runtime>,
        invoker: Option<Arc<dyn Invoke>>,
    ) -> anyhow::Result<App> {
        let data_dir = claim_data_dir(&config)?;
        let data_plane = DataPlane::start(&config).await?;
        Self::assemble(config, runtime, invoker, (data_plane, data_dir)).await
    }

    async fn assemble(
        config: ServeConfig,
        runtime: Arc<dyn Runtime>,
        invoker: Option<Arc<dyn Invoke>>,
        (data_plane, data_dir): (DataPlane, Option<DataDirLock>),
    ) -> anyhow::Result<App> {
        let defaults = BeltDefaults::from_config(&config.defaults)
            .map_err(|reason| anyhow::anyhow!("invalid belt default: {reason}"))?;
        let database_url = config.database_url();
        let store = open_store(&config, &database_url).await?;
        let verifier = verifier(&config).await?;
        let registry = registry(&config)?;

        // Before the first reconcile: clear what a crashed predecessor left behind, and learn
        // what runs, so that restoring RUNNING belts never doubles a replica.
        runtime
            .recover()
            .await
            .with_context(|| format!("recovering the {} runtime", runtime.name()))?;
        let metrics = Arc::new(crate::metrics::Metrics::new(config.metrics_per_belt));
        let reconciler = reconciler(&config, &store, &runtime, &metrics, &data_plane);

        let (listener, address) = bind(&config).await?;
        let invoker = invoker.map_or_else(|| invoke::configured(&config), Ok)?;
        let (offsets, lag_watch) = offsets_backend(&config, &data_plane, &store, &metrics);
        log_startup(&config, address, &database_url, &verifier);
        let (status_events, closing) = observers(&config, &store, &runtime);
        let state = app_state(Services {
            store,
            verifier: Arc::new(verifier),
            defaults: Arc::new(defaults),
            registry,
            trusted_hosts: Arc::new(config.trusted_hosts.clone()),
            console: config.console.clone(),
            metrics: metrics.clone(),
            runtime: runtime.clone(),
            reconciler: reconciler.clone(),
            invoker,
            offsets,
            watch: watch_settings(&config.events, closing.subscribe()),
            streams: stream_limits(&config.events),
            lag_interval: config.kafka.lag_interval(),
        });
        Ok(App {
            drain: shutdown::Drain::new(closing, config.shutdown_grace, state.draining.clone()),
            listener,
            router: http::router(state),
            address,
            runtime,
            reconciler,
            data_plane,
            lag_watch,
            status_events,
            campaign: campaign(&config, &database_url).await?,
            metrics,
            _data_dir: data_dir,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The reconciler, for tests that step it.
    pub fn reconciler(&self) -> Arc<Reconciler> {
        self.reconciler.clone()
    }

    /// The lag controller, for tests that step it; `None` without a data plane.
    pub fn lag_watch(&self) -> Option<Arc<LagWatch>> {
        self.lag_watch.clone()
    }

    /// Serves until `shutdown` resolves, and runs the controllers while this replica is the
    /// leader (`app/leading.rs`); then finishes in-flight requests, stops the controllers, lets
    /// go of the leadership and, on the local runtime, stops the replicas (the API is their
    /// supervisor), all within the grace period (`app/shutdown.rs`). If the reconciler panics,
    /// the service stops (fail-closed) and `run` answers an error, rather than serving wishes
    /// that nothing carries out.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (leading_sender, leading) = tokio::sync::watch::channel(false);
        let (stop_campaign, campaign_stopped) = tokio::sync::oneshot::channel::<()>();
        let lead = leader::lead(
            self.campaign,
            leading_sender,
            leader::CHECK_INTERVAL,
            campaign_stopped,
        );
        let campaigning = AbortOnDrop(tokio::spawn(lead));
        let controllers = Controllers {
            reconciler: self.reconciler.clone(),
            status_events: self.status_events.clone(),
            lag_watch: self.lag_watch.clone(),
            metrics: self.metrics.clone(),
        };
        let (stop_controllers, stopped) = tokio::sync::oneshot::channel::<()>();
        let (reconciler_failed, failed) = tokio::sync::oneshot::channel::<()>();
        let supervised = AbortOnDrop(tokio::spawn(async move {
            let panicked = controllers.follow(leading, stopped).await.err();
            if panicked.is_some() {
                let _ = reconciler_failed.send(());
            }
            panicked
        }));
        let drain = &self.drain;
        let signal = async move {
            tokio::select! {
                _ = shutdown => {}
                Ok(()) = failed => tracing::error!("the reconciler stopped: shutting down"),
            }
        };
        let served = drain.serve(self.listener, self.router, signal).await;
        let _ = stop_controllers.send(());
        let finishing = drain.bound("the controllers' last passes", supervised.finish());
        let panicked = finishing.await.flatten().flatten();
        // Only once the controllers stopped may a successor lead: then hand the leadership over.
        let _ = stop_campaign.send(());
        drain
            .bound("handing the leadership over", campaigning.finish())
            .await;
        drain
            .bound("stopping the replicas", self.runtime.shutdown())
            .await;
        // After the replicas, which consume from it until they stop.
        drain
            .bound("stopping the broker", self.data_plane.stop())
            .await;
        tracing::info!("belt-api stopped");
        if let Some(panic) = panicked {
            anyhow::bail!("the reconciler panicked: {panic}");
        }
        Ok(served?)
    }
}

/// The listener (port 0 works) and the address it was bound to.
async fn bind(config: &ServeConfig) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    Ok((listener, address))
}

/// The event-type registry's client, when one is configured.
fn registry(config: &ServeConfig) -> anyhow::Result<Option<Arc<Registry>>> {
    config
        .harvester_url
        .as_deref()
        .map(|url| Registry::new(url, config.dependency_timeout()).map(Arc::new))
        .transpose()
        .context("setting up the event-type registry client")
}

/// The offsets API's broker client and the lag controller, when belt-api has a data plane
/// (`bootstrap`: the embedded broker's address or the existing Kafka's).
fn offsets_backend(
    config: &ServeConfig,
    data_plane: &DataPlane,
    store: &Arc<dyn store::BeltStore>,
    metrics: &Arc<crate::metrics::Metrics>,
) -> (Option<OffsetsBackend>, Option<Arc<LagWatch>>) {
    let Some(bootstrap) = data_plane.bootstrap.as_deref() else {
        return (None, None);
    };
    let offsets: Arc<dyn GroupOffsets> = Arc::new(
        KafkaGroupOffsets::new(bootstrap, config.dependency_timeout())
            .with_auth(data_plane.auth.clone()),
    );
    let watch = LagWatch::new(
        store.clone(),
        store.clone(),
        offsets.clone(),
        metrics.clone(),
        config.kafka.lag_interval(),
    );
    let plane = OffsetsBackend {
        offsets,
        metrics: metrics.clone(),
    };
    (Some(plane), Some(Arc::new(watch)))
}

async fn open_store(
    config: &ServeConfig,
    database_url: &str,
) -> anyhow::Result<Arc<dyn store::BeltStore>> {
    store::connect(
        database_url,
        StoreOptions {
            max_connections: config.database_max_connections(),
            timeout: config.dependency_timeout(),
            revision_retention: config.revision_retention,
        },
    )
    .await
    .with_context(|| format!("opening the store at {}", redact_url(database_url)))
}

async fn verifier(config: &ServeConfig) -> anyhow::Result<Verifier> {
    Ok(Verifier::new(&AuthConfig {
        issuer: config.oidc_issuer.clone(),
        jwks_url: config.jwks_url.clone(),
        audience: config.oidc_audience.clone(),
        data_dir: config.data_dir.clone(),
    })
    .await
    .context("setting up token verification")?
    .with_min_refetch_interval(Duration::from_millis(config.jwks_refetch_interval_ms))
    .with_jwks_max_age(Duration::from_secs(config.jwks_max_age_secs)))
}

/// What an operator needs to know at startup: where, on what, and how tokens are checked.
fn log_startup(config: &ServeConfig, address: SocketAddr, database_url: &str, verifier: &Verifier) {
    tracing::info!(
        address = %format!("http://{address}"),
        store = %redact_url(database_url),
        runtime = ?config.runtime,
        event_type_registry = config.harvester_url.as_deref().unwrap_or("not checked"),
        profile_store = config.kafka.profile_store_url.as_deref().unwrap_or("not configured"),
        "belt-api listening; API docs at /docs"
    );
    match verifier.mode() {
        AuthMode::Dev { key_path } => tracing::warn!(
            key = %key_path.display(),
            "dev mode is on: no OIDC issuer configured, only tokens from \
             `belt-api token --project <p> --role editor` are accepted"
        ),
        mode => tracing::info!(auth = %mode, "verifying tokens against the identity provider"),
    }
}

/// Resolves on SIGTERM or Ctrl-C. Fails at once when the SIGTERM handler cannot be installed:
/// a service that cannot hear SIGTERM would be killed without stopping its replicas.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    Ok(async move {
        #[cfg(unix)]
        let terminate = terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = terminate => {},
        }
        tracing::info!("shutdown requested: finishing in-flight requests");
    })
}

/// On SQLite this process must be the only one on its data directory (`leader/data_dir.rs`).
fn claim_data_dir(config: &ServeConfig) -> anyhow::Result<Option<DataDirLock>> {
    if !config.database_url().starts_with("sqlite:") {
        return Ok(None);
    }
    leader::data_dir::claim(&config.data_dir).map(Some)
}
