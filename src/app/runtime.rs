//! Which runtime runs the belts (`BELT_RUNTIME`), and on Kubernetes the test-invoke that runs in
//! its pods.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::invoke;
use crate::config::{RuntimeKind, ServeConfig};
use crate::invoke::Invoke;
use crate::runtime::kubernetes::{KubernetesConfig, KubernetesRuntime};
use crate::runtime::local::{LocalConfig, LocalRuntime};
use crate::runtime::Runtime;

/// On Kubernetes the only data plane is an existing Kafka (`DataPlane::start` refuses the rest).
fn has_external_kafka(config: &ServeConfig) -> bool {
    let bootstrap = config.kafka.kafka_bootstrap.as_deref().map(str::trim);
    bootstrap.is_some_and(|servers| !servers.is_empty())
}

/// The runtime, and on Kubernetes the test-invoke that runs in its pods.
pub(super) async fn connect_runtime(
    config: &ServeConfig,
) -> anyhow::Result<(Arc<dyn Runtime>, Option<Arc<dyn Invoke>>)> {
    Ok(match config.runtime {
        RuntimeKind::Local => {
            let command = config
                .local_command
                .as_deref()
                .map(|c| c.split_whitespace().map(str::to_string).collect());
            let mut local = LocalConfig::new(config.data_dir.clone(), command);
            local.backoff_initial = Duration::from_millis(config.local_restart_backoff_ms.max(1));
            local.failure_threshold = config.local_failure_threshold.max(1);
            local.stop_grace = Duration::from_millis(config.local_stop_grace_ms);
            local.host_env = config.local_host_env();
            local.sandbox = invoke::sandbox_config(config);
            // Preparing the belt host's environment runs a pip build (up to a minute on a first
            // start) and the sandbox check starts processes: on the blocking pool, not on a
            // thread that drives the other start-up tasks.
            let runtime = tokio::task::spawn_blocking(move || LocalRuntime::new(local))
                .await
                .context("setting up the local runtime")??;
            (Arc::new(runtime), None)
        }
        RuntimeKind::Kubernetes => {
            let runtime = KubernetesRuntime::connect(KubernetesConfig {
                namespace: config.k8s_namespace.clone(),
            })
            .await
            .context("connecting to Kubernetes")?
            .with_kafka_identities(config.k8s_kafka.identities(has_external_kafka(config))?)
            .with_call_timeout(config.dependency_timeout())
            .with_policy(
                crate::domain::policy::WorkloadPolicy::from_config(&config.defaults)
                    .map_err(|reason| anyhow::anyhow!("invalid workload policy: {reason}"))?,
            );
            let invoker = invoke::in_pods(config, &runtime);
            (Arc::new(runtime), Some(invoker))
        }
    })
}
