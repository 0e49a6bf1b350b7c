//! Leftovers of earlier runs: every invoke pod and Secret carries the instant after which it
//! is one (`belt.grnry.io/invoke-expires`), so any belt-api, this one after a crash or another
//! replica, removes it without knowing who made it, and never a run still under way.

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};

use super::{objects, unix_now, PodInvoker, SWEEP_INTERVAL};
use crate::runtime::kubernetes::errors::{is_not_found, runtime_error, within};
use crate::runtime::RuntimeError;

impl PodInvoker {
    /// Deletes every invoke pod and Secret past its expiry label (or with none that parses),
    /// whichever belt-api made it: what a crashed or restarted API left. Pods of runs still
    /// under way here or in another replica of belt-api are not yet expired. The number removed.
    pub async fn sweep(&self) -> Result<usize, RuntimeError> {
        let now = unix_now();
        let params = ListParams::default().labels(objects::INVOKE_SELECTOR);
        let expired = |labels: &std::collections::BTreeMap<String, String>| {
            let expiry = labels.get(objects::LABEL_EXPIRES);
            expiry
                .and_then(|at| at.parse::<u64>().ok())
                .is_none_or(|at| at < now)
        };
        let pods = within(self.call_timeout, self.pods.list(&params)).await;
        let pods = pods.map_err(runtime_error)?;
        let secrets = within(self.call_timeout, self.secrets.list(&params)).await;
        let secrets = secrets.map_err(runtime_error)?;
        let mut removed = 0;
        for name in (pods.items.iter().filter(|pod| expired(pod.labels()))).map(|p| p.name_any()) {
            tracing::info!(pod = %name, "removing a test-invoke pod left over by an earlier run");
            self.delete(&self.pods, &name).await?;
            removed += 1;
        }
        for name in (secrets.items.iter().filter(|s| expired(s.labels()))).map(|s| s.name_any()) {
            tracing::info!(secret = %name, "removing a test-invoke Secret left over by an earlier run");
            self.delete(&self.secrets, &name).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// The sweep of a belt-api that starts: what a crashed predecessor left is removed now, not
    /// only with the first invocation, which may be far off. In the background, so that a slow
    /// API server or many leftovers never hold up the start; it counts as the first invocation's
    /// sweep, and when it fails, that invocation tries again. The handle is for tests.
    pub fn sweep_at_start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let invoker = self.clone();
        tokio::spawn(async move { invoker.sweep_now_and_then().await })
    }

    async fn delete<K>(&self, api: &Api<K>, name: &str) -> Result<(), RuntimeError>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let params = DeleteParams::default().grace_period(0);
        match within(self.call_timeout, api.delete(name, &params)).await {
            Err(err) if !is_not_found(&err) => Err(runtime_error(err)),
            _ => Ok(()),
        }
    }

    /// A sweep at start (or with the first invocation), then at most once per `SWEEP_INTERVAL`
    /// with an invocation; a failed sweep costs no invocation (the next one tries again).
    pub(super) async fn sweep_now_and_then(&self) {
        {
            let mut last = self
                .last_sweep
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < SWEEP_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        match self.sweep().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(
                removed,
                "removed test-invoke pods and Secrets left over by earlier runs"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "sweeping test-invoke pods failed; the next invocation tries again");
                *self
                    .last_sweep
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
        }
    }
}
