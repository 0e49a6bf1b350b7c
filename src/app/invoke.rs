//! Where test-invoke runs, from the configuration: in the local sandbox on the local runtime (the
//! sandbox its replicas run in too), in a pod of the belt's image on Kubernetes, never in
//! belt-api's own process there (docs/workload-policy.md#test-invoke-pods).

use std::sync::Arc;

use anyhow::Context;

use crate::config::{LocalSandbox, RuntimeKind, ServeConfig};
use crate::invoke::{Invoke, InvokeSettings, Invoker, NoInvoker};
use crate::runtime::kubernetes::{KubernetesRuntime, PodInvokeSettings};
use crate::runtime::local::SandboxConfig;

/// The local sandbox: the local runtime's replicas and its test-invoke runs.
pub(super) fn sandbox_config(config: &ServeConfig) -> SandboxConfig {
    match config.local_sandbox {
        LocalSandbox::Bwrap => SandboxConfig::Bwrap {
            program: config.local_sandbox_bwrap.clone(),
            uid_base: config.local_sandbox_uid_base,
        },
        LocalSandbox::None => SandboxConfig::None,
    }
}

/// Test-invoke in pods of `runtime`'s namespace, bounded by the `BELT_INVOKE_*` settings. What
/// a crashed predecessor left is swept as it starts, not only with the first invocation.
pub(super) fn in_pods(config: &ServeConfig, runtime: &KubernetesRuntime) -> Arc<dyn Invoke> {
    let invoke = &config.invoke;
    let invoker = Arc::new(runtime.pod_invoker(PodInvokeSettings {
        timeout: invoke.timeout(),
        requirements_timeout: invoke.requirements_timeout(),
        memory_bytes: invoke.memory_bytes(),
        cpu_seconds: invoke.invoke_cpu_seconds.max(1),
        disk_bytes: invoke.venv_disk_bytes().max(64 * 1024 * 1024),
        concurrency: invoke.concurrency(),
        project_concurrency: invoke.project_concurrency(),
    }));
    invoker.sweep_at_start();
    invoker
}

/// Test-invoke when the runtime brought none: the local sandbox on the local runtime (a failure
/// to set it up stops the start, as the runtime needs that sandbox anyway). On Kubernetes the
/// runtime brings its pod invoker; without one (a runtime handed in that gave none) test-invoke
/// answers 503 and says why, rather than run drafts next to belt-api's own credentials.
pub(super) fn configured(config: &ServeConfig) -> anyhow::Result<Arc<dyn Invoke>> {
    if config.runtime == RuntimeKind::Kubernetes {
        let reason = "on Kubernetes test-invoke runs in pods, and no pod invoker was set up";
        tracing::warn!("test-invoke is not available: {reason}");
        return Ok(Arc::new(NoInvoker(reason.to_string())));
    }
    let settings = InvokeSettings {
        data_dir: config.data_dir.clone(),
        sandbox: sandbox_config(config),
        timeout: config.invoke.timeout(),
        memory_bytes: config.invoke.memory_bytes(),
        cpu_seconds: config.invoke.invoke_cpu_seconds.max(1),
        pids: config.invoke.invoke_pids.max(1),
        concurrency: config.invoke.concurrency(),
        project_concurrency: config.invoke.project_concurrency(),
        cgroup: config.invoke.invoke_cgroup.clone(),
        requirements_timeout: config.invoke.requirements_timeout(),
        venv_disk_bytes: config.invoke.venv_disk_bytes(),
        venv_max_age: config.invoke.venv_max_age(),
    };
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let invoker = Invoker::new(settings).context("setting up test-invoke")?;
    Ok(Arc::new(invoker))
}
