//! The builders of a test-invoke run on Kubernetes, shared by the invoke tests and by
//! tests/deploy_rbac.rs: the invoker's settings, a request, what a pod's log and status say.

use std::collections::BTreeMap;
use std::time::Duration;

use belt_api::invoke::{InvokeRequest, SampleEvent, Tenant};
use belt_api::runtime::kubernetes::{
    KafkaIdentities, PodInvokeSettings, PodInvoker, LABEL_EXPIRES, REPORT_MARKER,
};
use serde_json::{json, Value};

use super::harness::*;

pub const POD_UID: &str = "0d7e1c2a-invoke";

pub fn settings(concurrency: usize, project_concurrency: usize) -> PodInvokeSettings {
    PodInvokeSettings {
        timeout: Duration::from_secs(10),
        requirements_timeout: Duration::from_secs(300),
        memory_bytes: 512 * 1024 * 1024,
        cpu_seconds: 10,
        disk_bytes: 2048 * 1024 * 1024,
        concurrency,
        project_concurrency,
    }
}

pub fn invoker(concurrency: usize, project_concurrency: usize) -> (PodInvoker, FakeApi) {
    let (runtime, fake) = runtime(KafkaIdentities::None);
    let invoker = runtime
        .pod_invoker(settings(concurrency, project_concurrency))
        .with_poll(Duration::from_millis(10));
    (invoker, fake)
}

pub fn request(project: &str) -> InvokeRequest {
    let replica = spec_of(&v2_example_body());
    InvokeRequest {
        project: project.to_string(),
        tenant: Tenant::Belt(161),
        callback: "def execute(headers, event):\n    return {\"keys\": [event[\"id\"]]}\n".into(),
        requirements: "# nothing to install\n".into(),
        env: replica.plain_env(),
        events: vec![SampleEvent {
            headers: BTreeMap::new(),
            event: json!({"id": 7}),
            profile: None,
        }],
        replica,
    }
}

/// What the bootstrap prints when the one event produced one update.
pub fn completed_log() -> String {
    let report = json!({"requirements": {"virtualenv": "none"}, "end": {"exit": 0},
        "stdout": "", "stderr": "", "lines": [
            {"import": {"stdout": "", "stderr": ""}},
            {"index": 0, "updates": [{"topic": "profile-update", "key": "7", "headers": {},
                "value": {"keys": [7]}}], "stdout": "hi\n", "stderr": "", "durationMs": 1}]});
    format!("{REPORT_MARKER}{report}\n")
}

pub fn terminated(reason: &str, exit_code: i32) -> Value {
    json!({"phase": if exit_code == 0 { "Succeeded" } else { "Failed" }, "containerStatuses": [
        {"name": "invoke", "image": "grnry-belt:0.8.0", "imageID": "", "ready": false,
         "restartCount": 0, "state": {"terminated": {"exitCode": exit_code, "reason": reason}}}]})
}

/// An invoke pod or Secret as `list` answers it, expiring at `expires`.
pub fn leftover(name: &str, expires: &str) -> Value {
    json!({"metadata": {"name": name, "labels": {"app.kubernetes.io/name": "belt-invoke",
        "app.kubernetes.io/managed-by": "belt-api", LABEL_EXPIRES: expires}}})
}
