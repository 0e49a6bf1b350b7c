//! An invoke pod and its Secret, deleted when done with: by `remove` on every path of an
//! invocation, and by `Drop` when the request is abandoned midway (the client went away), so no
//! pod outlives its answer. A delete that fails is logged; the pod's expiry label lets the next
//! sweep take it.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::DeleteParams;
use kube::Api;

use crate::runtime::kubernetes::errors::{is_not_found, within};

pub(super) struct Leftover {
    pods: Api<Pod>,
    secrets: Api<Secret>,
    name: String,
    call_timeout: Duration,
    armed: bool,
}

impl Leftover {
    pub(super) fn new(
        pods: &Api<Pod>,
        secrets: &Api<Secret>,
        name: String,
        call_timeout: Duration,
    ) -> Leftover {
        Leftover {
            pods: pods.clone(),
            secrets: secrets.clone(),
            name,
            call_timeout,
            armed: true,
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) async fn remove(mut self) {
        self.armed = false;
        delete(&self.pods, &self.secrets, &self.name, self.call_timeout).await;
    }
}

/// The pod at once (no grace: nothing of it is kept), then its Secret, which the pod's deletion
/// would take too: deleted here all the same, so that it never waits for the garbage collector.
async fn delete(pods: &Api<Pod>, secrets: &Api<Secret>, name: &str, limit: Duration) {
    let params = DeleteParams::background().grace_period(0);
    for result in [
        within(limit, pods.delete(name, &params)).await.map(drop),
        within(limit, secrets.delete(name, &params)).await.map(drop),
    ] {
        if let Err(err) = result.as_ref() {
            if !is_not_found(err) {
                tracing::warn!(pod = %name, error = %err, "deleting a test-invoke pod or its Secret failed; a later sweep removes it");
            }
        }
    }
}

impl Drop for Leftover {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (pods, secrets) = (self.pods.clone(), self.secrets.clone());
        let (name, limit) = (std::mem::take(&mut self.name), self.call_timeout);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { delete(&pods, &secrets, &name, limit).await });
        }
    }
}
