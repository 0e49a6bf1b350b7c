//! Test-invoke on Kubernetes (docs/workload-policy.md#test-invoke-pods), against the same fake
//! API server: the pod belt-api creates (the belt's image, a replica's restricted policy, no
//! service-account token, the deadline, the memory limit, labels that are not a replica's), its
//! request Secret owned by it, the report read back from its log, each way a pod ends, the pod and
//! Secret deleted on every path, leftovers swept, and the per-project slots.

use std::collections::BTreeMap;

use belt_api::invoke::{Full, Invoke, InvokeError, InvokeReport, Outcome, SampleEvent};
use belt_api::runtime::kubernetes::{INVOKE_SELECTOR, LABEL_EXPIRES, REPORT_MARKER};
use http::Method;
use serde_json::{json, Value};

use super::harness::*;
pub use super::invoke_support::*;

/// What one invocation sent: the pod and the Secret as created.
pub struct Sent {
    pub pod: Value,
    pub secret: Value,
}

impl FakeApi {
    /// The sweep's two lists, answered with `pods` and `secrets`.
    pub async fn serve_sweep(&mut self, pods: &[Value], secrets: &[Value]) {
        for (path, items) in [(PODS, pods), (SECRETS, secrets)] {
            let (call, reply) = self.next().await;
            assert_eq!((&call.method, call.path.as_str()), (&Method::GET, path));
            assert_eq!(call.query["labelSelector"], INVOKE_SELECTOR);
            reply_json(
                reply,
                200,
                &json!({"apiVersion": "v1", "kind": "List",
                "metadata": {"resourceVersion": "1"}, "items": items}),
            );
        }
    }

    /// The pod's creation (answered with a uid) and its Secret's.
    pub async fn serve_creation(&mut self) -> Sent {
        let (call, reply) = self.next().await;
        assert_eq!((&call.method, call.path.as_str()), (&Method::POST, PODS));
        let mut pod = call.json();
        pod["metadata"]["uid"] = json!(POD_UID);
        reply_json(reply, 201, &pod);
        let (call, reply) = self.next().await;
        assert_eq!((&call.method, call.path.as_str()), (&Method::POST, SECRETS));
        let secret = call.json();
        reply_json(reply, 201, &secret);
        Sent { pod, secret }
    }

    /// One read of the pod's status, answered with `status`.
    pub async fn serve_status(&mut self, pod: &Value, status: Value) {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let (call, reply) = self.next().await;
        let path = format!("{PODS}/{name}");
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&Method::GET, path.as_str())
        );
        let mut answered = pod.clone();
        answered["status"] = status;
        reply_json(reply, 200, &answered);
    }

    pub async fn serve_log(&mut self, pod: &Value, log: &str) {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let (call, reply) = self.next().await;
        let path = format!("{PODS}/{name}/log");
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&Method::GET, path.as_str())
        );
        assert_eq!(call.query["container"], "invoke");
        reply_text(reply, log);
    }

    /// The deletion of `name` under `path` (PODS or SECRETS).
    pub async fn expect_delete(&mut self, path: &str, name: &str) {
        let (call, reply) = self.next().await;
        let path = format!("{path}/{name}");
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&Method::DELETE, path.as_str())
        );
        reply_json(reply, 200, &json!({"metadata": {"name": name}}));
    }

    /// The pod and its Secret deleted, and nothing more.
    pub async fn expect_cleanup(&mut self, sent: &Sent) {
        let name = sent.pod["metadata"]["name"].as_str().unwrap().to_string();
        self.expect_delete(PODS, &name).await;
        self.expect_delete(SECRETS, &name).await;
        self.assert_no_call().await;
    }

    /// One pod created, ended `Completed` with a report of one completed event, and cleaned up.
    pub async fn serve_completed_run(&mut self) {
        let sent = self.serve_creation().await;
        self.serve_status(&sent.pod, terminated("Completed", 0))
            .await;
        self.serve_log(&sent.pod, &completed_log()).await;
        self.expect_cleanup(&sent).await;
    }
}

/// One invocation whose pod ends with `status` and `log` (`None`: not read).
async fn run_once(status: Value, log: Option<&str>) -> (Result<InvokeReport, InvokeError>, Sent) {
    let (invoker, mut fake) = invoker(2, 1);
    let serve = async {
        fake.serve_sweep(&[], &[]).await;
        let sent = fake.serve_creation().await;
        fake.serve_status(&sent.pod, json!({"phase": "Pending"}))
            .await;
        fake.serve_status(&sent.pod, status).await;
        if let Some(log) = log {
            fake.serve_log(&sent.pod, log).await;
        }
        fake.expect_cleanup(&sent).await;
        sent
    };
    let (answer, sent) = tokio::join!(invoker.invoke(request("global")), serve);
    (answer, sent)
}

fn env_names(pod: &Value) -> Vec<String> {
    let env = pod["spec"]["containers"][0]["env"].as_array().unwrap();
    env.iter()
        .map(|var| var["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_pod_runs_the_belts_image_under_a_replicas_policy_and_its_report_is_read_back() {
    let (answer, sent) = run_once(terminated("Completed", 0), Some(&completed_log())).await;
    let report = answer.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(
        report.results[0].updates.as_ref().unwrap()[0]["value"],
        json!({"keys": [7]})
    );
    assert_eq!(report.results[0].stdout, "hi\n");

    let pod = &sent.pod;
    let spec = &pod["spec"];
    let container = &spec["containers"][0];
    assert_eq!(container["image"], "grnry-belt:0.8.0");
    assert_eq!(
        spec["imagePullSecrets"],
        json!([{"name": "grnry-pull-secret"}])
    );
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["enableServiceLinks"], false);
    assert_eq!(spec["restartPolicy"], "Never");
    // The 10 s run and 30 s for the pull and the start; no requirements to build.
    assert_eq!(spec["activeDeadlineSeconds"], 40);
    assert_eq!(
        spec["securityContext"],
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let security = &container["securityContext"];
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(container["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(container["resources"]["requests"]["memory"], "512Mi");
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app.kubernetes.io/name"], "belt-invoke");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "belt-api");
    assert_eq!(labels["belt.grnry.io/invoke-of"], "161");
    assert_eq!(labels["belt.grnry.io/project"], "global");
    assert!(
        labels.get("belt.grnry.io/id").is_none(),
        "the Deployment would adopt it: {labels}"
    );
    assert!(labels[LABEL_EXPIRES]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    // Offline: no data plane, no identity, no request in the pod spec.
    let names = env_names(pod);
    for absent in [
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SASL_USERNAME",
        "KAFKA_SASL_PASSWORD",
    ] {
        assert!(
            !names.contains(&absent.to_string()),
            "{absent} in {names:?}"
        );
    }
    assert!(
        !pod.to_string().contains("event[\\\"id\\\"]"),
        "the code is in the pod spec"
    );
    assert_eq!(pod["metadata"]["name"], sent.secret["metadata"]["name"]);
    let volumes = spec["volumes"].as_array().unwrap();
    assert!(volumes
        .iter()
        .any(|v| v["secret"]["secretName"] == pod["metadata"]["name"]));

    let secret = &sent.secret;
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["uid"].as_str()),
        (Some("Pod"), Some(POD_UID))
    );
    let files = &secret["stringData"];
    assert!(files["callback.py"]
        .as_str()
        .unwrap()
        .contains("def execute"));
    assert!(files["belt_invoke.py"]
        .as_str()
        .unwrap()
        .contains("belt-invoke: runs a belt's callback"));
    assert!(files.get("belt_lib.py").is_some() && files.get("belt_invoke_pod.py").is_some());
    assert!(
        files.get("requirements.txt").is_none(),
        "comments only: nothing to build"
    );
    let events: Value =
        serde_json::from_str(files["invoke-request.json"].as_str().unwrap()).unwrap();
    assert_eq!(events["events"][0]["event"], json!({"id": 7}));
}

#[tokio::test]
async fn an_oom_killed_pod_is_memory_exceeded() {
    let (answer, _) = run_once(terminated("OOMKilled", 137), Some("")).await;
    let report = answer.unwrap();
    assert_eq!(report.outcome, Outcome::MemoryExceeded);
    assert_eq!(
        report.results[0].error.as_ref().unwrap().kind,
        "MemoryExceeded"
    );
}

#[tokio::test]
async fn a_pod_ended_at_its_deadline_timed_out() {
    let status = json!({"phase": "Failed", "reason": "DeadlineExceeded"});
    let report = run_once(status, None).await.0.unwrap();
    assert_eq!(report.outcome, Outcome::TimedOut);
}

#[tokio::test]
async fn a_status_or_a_log_not_understood_is_refused_and_the_pod_is_still_deleted() {
    let unknown = run_once(json!({"phase": "Unknown"}), None).await.0;
    assert!(
        matches!(unknown, Err(InvokeError::Unavailable(_))),
        "{unknown:?}"
    );
    let no_container = run_once(json!({"phase": "Succeeded"}), None).await.0;
    assert!(
        matches!(no_container, Err(InvokeError::Unavailable(_))),
        "{no_container:?}"
    );
    for log in [
        "",
        "Traceback: ...\n",
        &format!("{REPORT_MARKER}{{\"requirements\": 1}}\n"),
        &format!("{}{}", completed_log(), completed_log()),
    ] {
        let garbled = run_once(terminated("Completed", 0), Some(log)).await.0;
        assert!(
            matches!(garbled, Err(InvokeError::Unavailable(_))),
            "{log}: {garbled:?}"
        );
    }
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_is_a_clear_error_and_the_pod_is_deleted() {
    let status = json!({"phase": "Pending", "containerStatuses": [{"name": "invoke",
        "image": "grnry-belt:0.8.0", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}}}]});
    match run_once(status, None).await.0 {
        Err(InvokeError::Unavailable(why)) => {
            assert!(
                why.contains("grnry-belt:0.8.0") && why.contains("manifest unknown"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn leftovers_of_an_earlier_process_are_swept_and_live_runs_kept() {
    let (invoker, mut fake) = invoker(2, 1);
    let serve = async {
        let pods = [
            leftover("grnry-belt-invoke-161-dead0001", "1"),
            leftover("grnry-belt-invoke-161-garbled", "soon"),
            leftover("grnry-belt-invoke-162-alive", "99999999999"),
        ];
        let secrets = [leftover("grnry-belt-invoke-161-dead0001", "1")];
        fake.serve_sweep(&pods, &secrets).await;
        fake.expect_delete(PODS, "grnry-belt-invoke-161-dead0001")
            .await;
        fake.expect_delete(PODS, "grnry-belt-invoke-161-garbled")
            .await;
        fake.expect_delete(SECRETS, "grnry-belt-invoke-161-dead0001")
            .await;
        fake.serve_completed_run().await;
    };
    let (answer, ()) = tokio::join!(invoker.invoke(request("global")), serve);
    assert_eq!(answer.unwrap().outcome, Outcome::Completed);
}

#[tokio::test]
async fn one_project_holding_its_slot_leaves_the_others_theirs() {
    let (invoker, mut fake) = invoker(2, 1);
    let invoker = std::sync::Arc::new(invoker);
    let first = tokio::spawn({
        let invoker = invoker.clone();
        async move { invoker.invoke(request("alpha")).await }
    });
    fake.serve_sweep(&[], &[]).await;
    let alpha = fake.serve_creation().await;
    // Alpha's pod runs on (its status read is left unanswered): alpha holds its one slot.
    let (_held, _reply) = fake.next().await;
    // Nor may a draft of alpha's take another: drafts count in their project's share.
    for refused in [request("alpha"), draft("alpha")] {
        match invoker.invoke(refused).await {
            Err(InvokeError::Busy { full, .. }) => assert_eq!(full, Full::Project(1)),
            other => panic!("{other:?}"),
        }
    }
    fake.assert_no_call().await;
    let second = tokio::spawn({
        let invoker = invoker.clone();
        async move { invoker.invoke(request("beta")).await }
    });
    let beta = fake.serve_creation().await;
    assert_ne!(alpha.pod["metadata"]["name"], beta.pod["metadata"]["name"]);
    match invoker.invoke(request("gamma")).await {
        Err(InvokeError::Busy { full, .. }) => assert_eq!(full, Full::Server(2)),
        other => panic!("{other:?}"),
    }
    // A run abandoned midway still deletes its pod and Secret.
    second.abort();
    let _ = second.await;
    let (mut deleted, beta_name) = (Vec::new(), beta.pod["metadata"]["name"].clone());
    for _ in 0..3 {
        let (call, reply) = fake.next().await;
        if call.method == Method::DELETE {
            deleted.push(call.path.clone());
        }
        reply_json(reply, 200, &json!({"metadata": {"name": beta_name}}));
        if deleted.len() == 2 {
            break;
        }
    }
    let name = beta_name.as_str().unwrap();
    assert_eq!(
        deleted,
        [format!("{PODS}/{name}"), format!("{SECRETS}/{name}")]
    );
    first.abort();
}

/// Runs the pod's program as the kubelet would (its command, its env, the Secret's files at the
/// request dir), with python3 here: what it prints is the pod's log.
fn run_like_the_kubelet(sent: &Sent) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (request, work) = (dir.path().join("request"), dir.path().join("work"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&request).unwrap();
    for (name, text) in sent.secret["stringData"].as_object().unwrap() {
        std::fs::write(request.join(name), text.as_str().unwrap()).unwrap();
    }
    let container = &sent.pod["spec"]["containers"][0];
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(command, ["python3", "/belt-invoke/belt_invoke_pod.py"]);
    let mut run = std::process::Command::new("python3");
    run.arg(request.join("belt_invoke_pod.py"))
        .env_clear()
        .current_dir(&work);
    for var in container["env"].as_array().unwrap() {
        run.env(
            var["name"].as_str().unwrap(),
            var["value"].as_str().unwrap_or_default(),
        );
    }
    // The image's own PATH, which the kubelet keeps.
    run.env("PATH", std::env::var("PATH").unwrap_or_default());
    run.env("BELT_INVOKE_REQUEST_DIR", &request)
        .env("BELT_INVOKE_WORK_DIR", &work)
        .env("HOME", &work);
    let output = run.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn the_pods_program_runs_the_bundled_runner_and_belt_api_reads_its_report() {
    let (invoker, mut fake) = invoker(2, 1);
    let mut asked = request("global");
    asked.callback = "import sys, os\nprint('at import')\ndef execute(headers, event):\n    print('one event')\n    os.write(2, b'straight to fd 2\\n')\n    return {\"keys\": [event[\"id\"]]}\n".into();
    asked.events.push(SampleEvent {
        headers: BTreeMap::new(),
        event: json!({}),
        profile: None,
    });
    let serve = async {
        fake.serve_sweep(&[], &[]).await;
        let sent = fake.serve_creation().await;
        let log = run_like_the_kubelet(&sent);
        fake.serve_status(&sent.pod, terminated("Completed", 0))
            .await;
        fake.serve_log(&sent.pod, &log).await;
        fake.expect_cleanup(&sent).await;
    };
    let (answer, ()) = tokio::join!(invoker.invoke(asked), serve);
    let report = answer.unwrap();
    assert_eq!(report.outcome, Outcome::Completed, "{report:?}");
    assert_eq!(report.stdout, "at import\n");
    assert!(report.stderr.contains("straight to fd 2"), "{report:?}");
    assert_eq!(report.results[0].updates.as_ref().unwrap()[0]["key"], "7");
    assert_eq!(report.results[0].stdout, "one event\n");
    assert_eq!(report.results[1].error.as_ref().unwrap().kind, "KeyError");
}

/// A draft as the use case sends it (`belts::invoke`): no tenant of a belt, and `BELT_ID` empty.
/// Its replica still holds the id it was rendered with, which no pod may carry.
fn draft(project: &str) -> belt_api::invoke::InvokeRequest {
    let mut draft = request(project);
    draft.tenant = belt_api::invoke::Tenant::Draft;
    for (name, value) in &mut draft.env {
        if name == "BELT_ID" {
            value.clear();
        }
    }
    draft
}

/// A belt not saved yet runs in a pod of its own, as a saved belt's test does, named and labelled
/// `draft`: never after the id its replica was rendered with (another belt's, perhaps), and swept
/// by the same expiry label.
#[tokio::test]
async fn a_draft_runs_in_a_pod_of_its_own_named_and_labelled_draft() {
    let (invoker, mut fake) = invoker(2, 1);
    let serve = async {
        fake.serve_sweep(&[], &[]).await;
        let sent = fake.serve_creation().await;
        fake.serve_status(&sent.pod, terminated("Completed", 0))
            .await;
        fake.serve_log(&sent.pod, &completed_log()).await;
        fake.expect_cleanup(&sent).await;
        sent
    };
    let (answer, sent) = tokio::join!(invoker.invoke(draft("team-a")), serve);
    assert_eq!(answer.unwrap().outcome, Outcome::Completed);
    let name = sent.pod["metadata"]["name"].as_str().unwrap();
    let hex = name
        .strip_prefix("grnry-belt-invoke-draft-")
        .unwrap_or_else(|| panic!("{name}"));
    assert!(
        hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{name}"
    );
    let labels = &sent.pod["metadata"]["labels"];
    assert_eq!(labels["belt.grnry.io/invoke-of"], "draft");
    assert_eq!(labels["app.kubernetes.io/name"], "belt-invoke");
    assert!(labels[LABEL_EXPIRES]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(sent.secret["metadata"]["labels"], *labels);
    let stand_in = request("team-a").replica.belt_id.to_string();
    let env = &sent.pod["spec"]["containers"][0]["env"];
    let belt_id = env
        .as_array()
        .unwrap()
        .iter()
        .find(|var| var["name"] == "BELT_ID");
    assert_eq!(belt_id.map(|var| &var["value"]), Some(&json!("")));
    for carried in [labels.to_string(), name.to_string()] {
        assert!(!carried.contains(&stand_in), "{stand_in} in {carried}");
    }
}
