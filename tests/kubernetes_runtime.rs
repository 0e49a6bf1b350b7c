//! The Kubernetes runtime against the tests' fake API server (`belt_test_support::fake_kube`,
//! scripted). Each test answers the calls it expects and fails after one second when an expected
//! call never comes. Fixtures in
//! `tests/fixtures/kubernetes/` are Deployments and Pods as the API server returns them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use belt_api::config::BeltDefaultsConfig;
use belt_api::domain::belt::from_epoch_millis;
use belt_api::domain::input::{parse_body, parse_spec};
use belt_api::domain::replica::{Platform, ReplicaSpec};
use belt_api::domain::{Belt, BeltDefaults, BeltId, Person, ProjectName};
use belt_api::runtime::kubernetes::{render, KubernetesRuntime, RenderError};
use belt_api::runtime::{LogQuery, Observed, Phase, ReplicaLogs, Runtime, RuntimeError};
use belt_test_support::fake_kube::{
    list, pair, reply_json, reply_status, reply_text, Call, FakeKube, Reply,
};
use clap::Parser;
use http::{Method, Response};
use kube::client::Body;
use serde_json::{json, Value};
use tokio::time::timeout;

const NAMESPACE: &str = "belts";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/belts/deployments";
const PODS: &str = "/api/v1/namespaces/belts/pods";
const CONFIG_MAPS: &str = "/api/v1/namespaces/belts/configmaps";
const EVENTS: &str = "/api/v1/namespaces/belts/events";
const SECRETS: &str = "/api/v1/namespaces/belts/secrets";
const POD_161: &str = "grnry-belt-161-54f5c68c89-8xf9v";

fn id(n: i64) -> BeltId {
    BeltId::new(n).unwrap()
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture(name: &str) -> Value {
    let path = fixture_path(&format!("kubernetes/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// A scenario file: `{"deployment": …, "pods": [...]}`.
fn scenario(name: &str) -> (Vec<Value>, Vec<Value>) {
    let scenario = fixture(name);
    let pods = scenario["pods"].as_array().cloned().unwrap_or_default();
    (vec![scenario["deployment"].clone()], pods)
}

/// The server defaults of a default configuration.
fn default_config() -> BeltDefaults {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        defaults: BeltDefaultsConfig,
    }
    BeltDefaults::from_config(&Defaults::parse_from(["belt-api"]).defaults).unwrap()
}

fn v2_example_body() -> Value {
    let body = std::fs::read(fixture_path("v2/create-response-example.json")).unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The v2 document's example belt (id 161, project global) at version 1, generation 1, with the
/// server defaults of a default configuration.
fn v2_example_spec() -> ReplicaSpec {
    spec_of(&v2_example_body(), "global", 1)
}

/// `body` as belt 161 of `project`, parsed with the default configuration, at `generation`.
fn spec_of(body: &Value, project: &str, generation: i64) -> ReplicaSpec {
    let body = serde_json::to_vec(body).unwrap();
    let spec = parse_spec(&parse_body(&body).unwrap(), &default_config())
        .unwrap()
        .spec;
    let person = Person {
        name: "Arthur Author".into(),
        email: "arthur@author.com".into(),
    };
    // The v2 example's kafkaConsumerGroupName is grnry-belt-161-1562744768164.
    let created_at = from_epoch_millis(1_562_744_768_164);
    let belt = Belt {
        id: id(161),
        project: ProjectName::parse(project).unwrap(),
        version: 1,
        spec: spec.clone(),
        created_by: person.clone(),
        created_at,
        modified_by: person,
        modified_at: created_at,
        wish: Default::default(),
    };
    // In a cluster the data plane is an existing Kafka, named by BELT_KAFKA_BOOTSTRAP.
    let platform = Platform {
        kafka_bootstrap: Some(KAFKA_BOOTSTRAP.to_string()),
        profile_store_url: None,
        host_idle_seconds: None,
        source_header: false,
    };
    ReplicaSpec::build(&belt, &spec, 1, generation, false, &platform)
}

const KAFKA_BOOTSTRAP: &str = "kafka-0.kafka.data.svc:9092,kafka-1.kafka.data.svc:9092";

/// Compares with a committed golden file. `BELT_UPDATE_GOLDEN=1 cargo test --test
/// kubernetes_runtime` rewrites the files instead; review the diff before committing it.
fn assert_golden(name: &str, actual: &Value) {
    let path = fixture_path(&format!("kubernetes/{name}"));
    if std::env::var("BELT_UPDATE_GOLDEN").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    assert_eq!(
        actual,
        &fixture(name),
        "{name} differs; if the change is intended, rerun with BELT_UPDATE_GOLDEN=1"
    );
}

type FakeApi = FakeKube;

fn runtime() -> (KubernetesRuntime, FakeApi) {
    let (client, fake) = pair(NAMESPACE);
    let runtime = KubernetesRuntime::with_client(client, NAMESPACE)
        .with_call_timeout(Duration::from_millis(500))
        .with_ready_timeout(Duration::from_secs(1));
    (runtime, fake)
}

/// Answers one Events list per pod: `events` for the pod it names, an empty list otherwise.
async fn serve_events(fake: &mut FakeApi, pods: usize, events: Option<(&str, &Value)>) {
    for _ in 0..pods {
        let (call, reply) = fake.next().await;
        assert_eq!((&call.method, call.path.as_str()), (&Method::GET, EVENTS));
        let selector = &call.query["fieldSelector"];
        let answer = match events {
            Some((pod, events)) if selector.contains(&format!("involvedObject.name={pod}")) => {
                events.clone()
            }
            _ => list("EventList", &[]),
        };
        reply_json(reply, 200, &answer);
    }
}

/// A runtime whose reflectors have listed `deployments` and `pods`.
async fn recovered(deployments: Vec<Value>, pods: Vec<Value>) -> (KubernetesRuntime, FakeApi) {
    let (runtime, mut fake) = runtime();
    let lists = [(DEPLOYMENTS, deployments), (PODS, pods)];
    let serve = fake.serve_lists(&lists, "app.kubernetes.io/managed-by=belt-api");
    let (recovered, ()) = tokio::join!(runtime.recover(), serve);
    recovered.unwrap();
    (runtime, fake)
}

async fn observe_scenario(name: &str) -> Option<Observed> {
    let (deployments, pods) = scenario(name);
    let (runtime, mut fake) = recovered(deployments, pods).await;
    let observed = runtime.observe(id(161));
    fake.assert_no_call().await;
    observed
}

#[test]
fn the_v2_example_renders_as_the_golden_objects() {
    let (config_map, deployment) = render(&v2_example_spec(), &default_config().policy).unwrap();
    assert_golden(
        "configmap-161.json",
        &serde_json::to_value(config_map).unwrap(),
    );
    assert_golden(
        "deployment-161.json",
        &serde_json::to_value(deployment).unwrap(),
    );
}

#[tokio::test]
async fn apply_server_side_applies_the_config_map_then_the_deployment() {
    let (runtime, mut fake) = runtime();
    let spec = v2_example_spec();
    let apply = async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        for (path, golden) in [
            (CONFIG_MAPS, "configmap-161.json"),
            (DEPLOYMENTS, "deployment-161.json"),
        ] {
            let (call, reply) = fake.next().await;
            assert_eq!(call.method, Method::PATCH);
            assert_eq!(call.path, format!("{path}/grnry-belt-161"));
            assert_eq!(call.query["fieldManager"], "belt-api");
            assert_eq!(call.query["force"], "true");
            assert_eq!(
                call.content_type.as_deref(),
                Some("application/apply-patch+yaml")
            );
            assert_eq!(call.json(), fixture(golden), "body of {path}");
            let applied = call.json();
            reply_json(reply, 200, &applied);
        }
    };
    let (result, ()) = tokio::join!(runtime.apply(&spec), apply);
    result.unwrap();
    fake.assert_no_call().await;
}

#[tokio::test]
async fn apply_reports_a_conflict_as_in_use_and_a_failing_server_as_unavailable() {
    for (code, reason) in [(409, "Conflict"), (503, "ServiceUnavailable")] {
        let (runtime, mut fake) = runtime();
        let spec = v2_example_spec();
        let (result, ()) = tokio::join!(runtime.apply(&spec), async {
            expect_lookup_of_absent_deployment(&mut fake).await;
            let (_, reply) = fake.next().await;
            reply_status(reply, code, reason);
        });
        match (code, result) {
            (409, Err(RuntimeError::InUse(_))) | (503, Err(RuntimeError::Unavailable(_))) => {}
            (code, other) => panic!("{code}: {other:?}"),
        }
    }
}

/// The runtime reads a Deployment it does not know before touching it; here there is none.
async fn expect_lookup_of_absent_deployment(fake: &mut FakeApi) {
    let (call, reply) = fake.next().await;
    assert_eq!(
        (&call.method, call.path.as_str()),
        (
            &Method::GET,
            "/apis/apps/v1/namespaces/belts/deployments/grnry-belt-161"
        )
    );
    reply_status(reply, 404, "NotFound");
}

#[tokio::test]
async fn a_deployment_belt_api_did_not_create_is_never_overwritten_or_deleted() {
    let foreign = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "grnry-belt-161", "namespace": "belts", "labels": {"app": "hand-made"}},
        "spec": {"selector": {"matchLabels": {"app": "hand-made"}}, "template": {"metadata": {"labels": {"app": "hand-made"}}}},
    });
    let (runtime, mut fake) = runtime();
    let (removed, ()) = tokio::join!(runtime.remove(id(161)), async {
        let (call, reply) = fake.next().await;
        assert_eq!(call.method, Method::GET);
        reply_json(reply, 200, &foreign);
    });
    assert!(
        matches!(removed, Err(RuntimeError::InUse(_))),
        "{removed:?}"
    );
    fake.assert_no_call().await;
    let spec = v2_example_spec();
    let (applied, ()) = tokio::join!(runtime.apply(&spec), async {
        let (call, reply) = fake.next().await;
        assert_eq!(call.method, Method::GET);
        reply_json(reply, 200, &foreign);
    });
    assert!(
        matches!(applied, Err(RuntimeError::InUse(_))),
        "{applied:?}"
    );
    fake.assert_no_call().await;
}

#[tokio::test]
async fn apply_to_an_api_that_never_answers_is_unavailable() {
    let (runtime, mut fake) = runtime();
    let spec = v2_example_spec();
    let (result, _held) = tokio::join!(runtime.apply(&spec), fake.next());
    assert!(
        matches!(result, Err(RuntimeError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn remove_deletes_both_objects_and_an_absent_one_is_fine() {
    let (runtime, mut fake) = runtime();
    let (result, ()) = tokio::join!(runtime.remove(id(161)), async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        let (call, reply) = fake.next().await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (
                &Method::DELETE,
                "/apis/apps/v1/namespaces/belts/deployments/grnry-belt-161"
            )
        );
        assert_eq!(call.json()["propagationPolicy"], "Foreground");
        reply_status(reply, 404, "NotFound");
        let (call, reply) = fake.next().await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (
                &Method::DELETE,
                "/api/v1/namespaces/belts/configmaps/grnry-belt-161"
            )
        );
        reply_status(reply, 404, "NotFound");
    });
    result.unwrap();
    fake.assert_no_call().await;
}

#[tokio::test]
async fn all_replicas_ready_is_running() {
    let observed = observe_scenario("running.json").await.unwrap();
    assert_eq!(
        observed,
        Observed {
            version: 2,
            generation: 3,
            phase: Phase::Running
        }
    );
}

#[tokio::test]
async fn a_rollout_in_progress_is_deploying() {
    let observed = observe_scenario("deploying.json").await.unwrap();
    assert_eq!(observed.phase, Phase::Deploying);
}

#[tokio::test]
async fn pods_that_cannot_run_or_a_stuck_rollout_are_failed() {
    for name in [
        "err-image-pull.json",
        "crash-loop.json",
        "oom-killed.json",
        "progress-deadline.json",
        "v2-failed.json",
    ] {
        let observed = observe_scenario(name).await.unwrap();
        assert_eq!(observed.phase, Phase::Failed, "{name}");
    }
}

#[tokio::test]
async fn an_older_deployed_version_is_visible_so_the_caller_can_say_outdated() {
    let observed = observe_scenario("running-outdated.json").await.unwrap();
    assert_eq!((observed.version, observed.phase), (1, Phase::Running));
}

#[tokio::test]
async fn without_a_deployment_a_belt_is_stopped() {
    let (runtime, mut fake) = recovered(Vec::new(), Vec::new()).await;
    assert_eq!(runtime.observe(id(161)), None);
    assert!(runtime.deployed().is_empty());
    assert_eq!(runtime.details(id(161)).await.unwrap(), None);
    assert!(runtime.logs(id(161), 10).await.unwrap().is_empty());
    fake.assert_no_call().await;
}

#[tokio::test]
async fn a_deployment_being_deleted_counts_as_stopped_and_blocks_apply() {
    let (mut deployments, pods) = scenario("running.json");
    deployments[0]["metadata"]["deletionTimestamp"] = json!("2019-07-01T12:00:00Z");
    let (runtime, mut fake) = recovered(deployments, pods).await;
    assert_eq!(runtime.observe(id(161)), None);
    assert!(runtime.deployed().is_empty());
    let result = runtime.apply(&v2_example_spec()).await;
    assert!(
        matches!(result, Err(RuntimeError::Unavailable(_))),
        "{result:?}"
    );
    fake.assert_no_call().await;
}

#[tokio::test]
async fn details_reproduce_the_v2_failed_example() {
    let (deployments, pods) = scenario("v2-failed.json");
    let (runtime, mut fake) = recovered(deployments, pods).await;
    let (details, ()) = tokio::join!(runtime.details(id(161)), serve_events(&mut fake, 1, None));
    let details = serde_json::to_value(details.unwrap().unwrap()).unwrap();
    assert_eq!(details, fixture("v2-failed-details.json"));
}

#[tokio::test]
async fn details_add_the_pod_events_that_say_why() {
    let (deployments, pods) = scenario("err-image-pull.json");
    let (runtime, mut fake) = recovered(deployments, pods).await;
    let events = fixture("events-err-image-pull.json");
    let (details, ()) = tokio::join!(
        runtime.details(id(161)),
        serve_events(&mut fake, 1, Some((POD_161, &events)))
    );
    let details = serde_json::to_value(details.unwrap().unwrap()).unwrap();
    assert_eq!(details["deploymentReplicas"], "1");
    assert_eq!(details["podStatus"].as_array().unwrap().len(), 1);
    let pod = &details["podStatus"][0];
    assert_eq!(pod["name"], POD_161);
    assert_eq!(
        pod["containerStatus"][0]["state"]["waiting"]["reason"],
        "ErrImagePull"
    );
    let reasons: Vec<&str> = pod["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Pulling", "Failed", "Failed", "BackOff"]);
    assert!(pod["events"][2]["message"]
        .as_str()
        .unwrap()
        .contains("not found"));
    assert_eq!(pod["events"][3]["count"], 6);
}

#[tokio::test]
async fn logs_tail_every_pod_with_timestamps() {
    let (deployments, pods) = scenario("deploying.json");
    let (runtime, mut fake) = recovered(deployments, pods).await;
    let (logs, ()) = tokio::join!(runtime.logs(id(161), 100), async {
        for _ in 0..2 {
            let (call, reply) = fake.next().await;
            assert_eq!(call.method, Method::GET);
            let pod = call
                .path
                .strip_prefix("/api/v1/namespaces/belts/pods/")
                .and_then(|rest| rest.strip_suffix("/log"))
                .unwrap_or_else(|| panic!("not a log call: {}", call.path))
                .to_string();
            assert_eq!(call.query["tailLines"], "100");
            assert_eq!(call.query["timestamps"], "true");
            assert_eq!(call.query["container"], "grnry-belt-161");
            if pod.ends_with("h7m4p") {
                // The container is still being created: the API answers 400.
                reply_status(reply, 400, "BadRequest");
            } else {
                let text = format!(
                    "2019-07-01T11:02:41.000000001Z {pod} started\n\
                     2019-07-01T11:02:42.000000002Z {pod} consuming grnry_data_in_test-a\n"
                );
                reply.send_response(Response::new(Body::from(text.into_bytes())));
            }
        }
    });
    let logs = logs.unwrap();
    assert_eq!(
        logs,
        BTreeMap::from([
            (
                "grnry-belt-161-7d9c8f6b5d-2kq9x".to_string(),
                vec![
                    "2019-07-01T11:02:41.000000001Z grnry-belt-161-7d9c8f6b5d-2kq9x started"
                        .to_string(),
                    "2019-07-01T11:02:42.000000002Z grnry-belt-161-7d9c8f6b5d-2kq9x consuming grnry_data_in_test-a"
                        .to_string(),
                ]
            ),
            ("grnry-belt-161-7d9c8f6b5d-h7m4p".to_string(), Vec::new()),
        ])
    );
}

/// The store follows the watch: a MODIFIED event turns a deploying belt into a running one.
#[tokio::test]
async fn watch_events_update_the_view() {
    let (deployments, pods) = scenario("deploying.json");
    let (runtime, mut fake) = recovered(deployments.clone(), pods).await;
    assert_eq!(runtime.observe(id(161)).unwrap().phase, Phase::Deploying);

    let mut rolled_out = deployments[0].clone();
    rolled_out["status"]["readyReplicas"] = json!(2);
    rolled_out["status"]["availableReplicas"] = json!(2);
    rolled_out["status"]["unavailableReplicas"] = json!(null);
    rolled_out["metadata"]["resourceVersion"] = json!("50001");
    let index = fake
        .watches
        .iter()
        .position(|(path, _)| path == DEPLOYMENTS)
        .unwrap();
    let (_, watch) = fake.watches.remove(index);
    let event = json!({"type": "MODIFIED", "object": rolled_out}).to_string() + "\n";
    watch.send_response(Response::new(Body::from(event.into_bytes())));

    // The watch ended after the event, so the reflector watches again from where it was.
    let (call, reply) = fake.next().await;
    assert!(call.is_watch() && call.path == DEPLOYMENTS);
    assert_eq!(call.query["resourceVersion"], "50001");
    fake.watches.push((call.path, reply));
    assert_eq!(runtime.observe(id(161)).unwrap().phase, Phase::Running);
}

#[tokio::test]
async fn observing_250_belts_makes_no_api_call() {
    let (deployments, pods) = scenario("running.json");
    let renamed = |object: &Value, n: i64, name: String| {
        let mut object = object.clone();
        object["metadata"]["name"] = json!(name);
        object["metadata"]["labels"]["belt.grnry.io/id"] = json!(n.to_string());
        object
    };
    let ids = 1..=250;
    let (runtime, mut fake) = recovered(
        ids.clone()
            .map(|n| renamed(&deployments[0], n, format!("grnry-belt-{n}")))
            .collect(),
        ids.clone()
            .map(|n| renamed(&pods[0], n, format!("grnry-belt-{n}-54f5c68c89-8xf9v")))
            .collect(),
    )
    .await;
    fake.assert_no_call().await;

    assert_eq!(runtime.deployed(), ids.clone().map(id).collect::<Vec<_>>());
    for n in ids {
        assert_eq!(runtime.observe(id(n)).unwrap().phase, Phase::Running);
    }
    fake.assert_no_call().await;
}

#[tokio::test]
async fn recover_without_an_answering_api_is_unavailable() {
    let (runtime, _fake) = runtime();
    let result = runtime.recover().await;
    assert!(
        matches!(result, Err(RuntimeError::Unavailable(_))),
        "{result:?}"
    );
}

/// Against a real cluster, only when `BELT_TEST_KUBECONFIG` names a kubeconfig; the namespace is
/// `BELT_TEST_NAMESPACE`, else `default`. Deploys the v2 example belt (161) and removes it again.
#[tokio::test]
async fn a_real_cluster_runs_and_removes_the_v2_example() {
    let Ok(kubeconfig) = std::env::var("BELT_TEST_KUBECONFIG") else {
        eprintln!(
            "skipped: set BELT_TEST_KUBECONFIG (and BELT_TEST_NAMESPACE) to run against a cluster"
        );
        return;
    };
    let namespace = std::env::var("BELT_TEST_NAMESPACE").unwrap_or_else(|_| "default".into());
    let kubeconfig = kube::config::Kubeconfig::read_from(&kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let runtime = KubernetesRuntime::with_client(client.clone(), &namespace);
    let deployments: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(client.clone(), &namespace);
    let config_maps: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client, &namespace);

    runtime.recover().await.unwrap();
    runtime.apply(&v2_example_spec()).await.unwrap();
    eventually("the Deployment appears in the view", || {
        runtime.deployed().contains(&id(161))
    })
    .await;
    let deployment = deployments.get("grnry-belt-161").await.unwrap();
    let labels = deployment.metadata.labels.unwrap_or_default();
    assert_eq!(labels["belt.grnry.io/id"], "161");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "belt-api");
    let observed = runtime.observe(id(161)).unwrap();
    assert_eq!((observed.version, observed.generation), (1, 1));
    let details = serde_json::to_value(runtime.details(id(161)).await.unwrap().unwrap()).unwrap();
    assert_eq!(details["deploymentReplicas"], "1");

    runtime.remove(id(161)).await.unwrap();
    eventually("the Deployment and ConfigMap are gone", || {
        runtime.observe(id(161)).is_none()
    })
    .await;
    for _ in 0..120 {
        let deployment = deployments.get_opt("grnry-belt-161").await.unwrap();
        let config_map = config_maps.get_opt("grnry-belt-161").await.unwrap();
        if deployment.is_none() && config_map.is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("grnry-belt-161 still exists two minutes after remove");
}

async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..120 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{what}: not within a minute");
}

// ---------------------------------------------------------------------------------------------
// The workload policy (docs/workload-policy.md)

#[test]
fn the_rendered_pods_meet_the_restricted_pod_security_standard() {
    let (_, deployment) = render(&v2_example_spec(), &default_config().policy).unwrap();
    let pod = &serde_json::to_value(deployment).unwrap()["spec"]["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        pod["securityContext"],
        json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let context = &containers[0]["securityContext"];
    assert_eq!(context["allowPrivilegeEscalation"], false);
    assert_eq!(context["capabilities"], json!({"drop": ["ALL"]}));
    assert_eq!(context["runAsNonRoot"], true);
    assert_eq!(context["privileged"], false);
    assert_eq!(context["seccompProfile"]["type"], "RuntimeDefault");
    for shared in ["hostNetwork", "hostPID", "hostIPC"] {
        assert!(pod[shared].is_null(), "{shared}");
    }
}

/// Specs that break the policy, as a store written before the policy (or by hand) could hold
/// them: the create/replace check never saw them.
fn hostile_specs() -> Vec<(&'static str, &'static str, ReplicaSpec)> {
    let base = v2_example_spec();
    let with = |what: &'static str, reason: &'static str, change: &dyn Fn(&mut ReplicaSpec)| {
        let mut spec = base.clone();
        change(&mut spec);
        (what, reason, spec)
    };
    vec![
        with("hostPath", "hostPath", &|s| {
            s.volumes = vec![json!({"name": "root", "hostPath": {"path": "/"}})]
        }),
        with("nfs", "'nfs'", &|s| {
            s.volumes = vec![json!({"name": "n", "nfs": {"server": "x", "path": "/"}})]
        }),
        with("projected token", "service-account token", &|s| {
            s.volumes = vec![
                json!({"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}),
            ]
        }),
        with("another belt's code", "grnry-belt-7", &|s| {
            s.volumes = vec![json!({"name": "c", "configMap": {"name": "grnry-belt-7"}})]
        }),
        with("foreign image", "evil.example.com/miner", &|s| {
            s.image = "evil.example.com/miner:latest".into()
        }),
        with("digest-pinned image", "digest", &|s| {
            s.image = "grnry-belt@sha256:0123".into()
        }),
        with("file requirement", "requirements.txt", &|s| {
            s.files
                .insert("requirements.txt".into(), "pkg @ file:///etc/passwd".into());
        }),
        with("url requirement", "requirements.txt", &|s| {
            s.files.insert(
                "requirements.txt".into(),
                "pkg @ https://evil.example.com/p.whl".into(),
            );
        }),
        with(
            "secret name that walks the API path",
            "must name a Secret",
            &|s| {
                s.volumes = vec![json!({"name": "s", "secret": {"secretName": "../configmaps/x"}})]
            },
        ),
    ]
}

#[test]
fn the_renderer_refuses_a_spec_that_breaks_the_policy() {
    let policy = default_config().policy;
    for (what, expected, spec) in hostile_specs() {
        match render(&spec, &policy) {
            Err(RenderError::Refused(reason)) => {
                assert!(reason.contains(expected), "{what}: {reason}")
            }
            Err(other) => panic!("{what}: refused for the wrong reason: {other}"),
            Ok(_) => panic!("{what}: rendered"),
        }
    }
}

#[tokio::test]
async fn apply_of_a_spec_that_breaks_the_policy_calls_nothing_and_fails_the_belt() {
    for (what, _, spec) in hostile_specs() {
        let (runtime, mut fake) = runtime();
        let result = runtime.apply(&spec).await;
        assert!(
            matches!(result, Err(RuntimeError::Other(_))),
            "{what}: {result:?}"
        );
        fake.assert_no_call().await;
        assert_eq!(
            runtime.observe(id(161)),
            Some(Observed {
                version: 1,
                generation: 1,
                phase: Phase::Failed
            }),
            "{what}"
        );
        let details =
            serde_json::to_value(runtime.details(id(161)).await.unwrap().unwrap()).unwrap();
        assert_eq!(
            details["deploymentEvents"][0]["reason"], "RefusedByWorkloadPolicy",
            "{what}"
        );
    }
}

/// The v2 example, reading three Secrets: the profile store's (fetchProfile TRUE), one through
/// an extraEnv `secretKeyRef` and one as a volume.
fn spec_reading_secrets(project: &str, generation: i64) -> ReplicaSpec {
    let mut body = v2_example_body();
    body["fetchProfile"] = json!("TRUE");
    body["secret"] = json!("profile-store");
    body["secretUsername"] = json!("username");
    body["secretPassword"] = json!("password");
    body["extraEnv"] = json!([{"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "key"}}}]);
    body["volumes"] = json!([{"name": "test", "secret": {"secretName": "certs"}}]);
    spec_of(&body, project, generation)
}

/// A Secret's metadata as the API server answers a metadata-only GET.
fn secret_metadata(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": "7", "labels": labels}})
}

/// Answers the runtime's GET of each of `secrets` (in whichever order they come) with `answer`;
/// checks the exact path and that only metadata was asked for.
async fn serve_secrets(fake: &mut FakeApi, secrets: &[&str], answer: impl Fn(&str, Reply)) {
    let mut asked = Vec::new();
    for _ in secrets {
        let (call, reply) = fake.next().await;
        assert_eq!(call.method, Method::GET);
        let name = call
            .path
            .strip_prefix(&format!("{SECRETS}/"))
            .unwrap_or_else(|| panic!("not a Secret GET: {}", call.path))
            .to_string();
        assert!(
            call.accept
                .as_deref()
                .is_some_and(|a| a.contains("as=PartialObjectMetadata")),
            "belt-api must read only the metadata of a Secret: {:?}",
            call.accept
        );
        answer(&name, reply);
        asked.push(name);
    }
    asked.sort();
    let mut expected: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(asked, expected);
}

#[tokio::test]
async fn secrets_labelled_with_the_project_are_applied() {
    let (runtime, mut fake) = runtime();
    let spec = spec_reading_secrets("alpha", 1);
    let apply = async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        serve_secrets(
            &mut fake,
            &["api-key", "certs", "profile-store"],
            |name, reply| {
                let labels = json!({"belt.grnry.io/project": "alpha", "team": "a"});
                reply_json(reply, 200, &secret_metadata(name, labels));
            },
        )
        .await;
        for path in [CONFIG_MAPS, DEPLOYMENTS] {
            let (call, reply) = fake.next().await;
            assert_eq!(
                (&call.method, call.path.clone()),
                (&Method::PATCH, format!("{path}/grnry-belt-161"))
            );
            let applied = call.json();
            reply_json(reply, 200, &applied);
        }
    };
    let (result, ()) = tokio::join!(runtime.apply(&spec), apply);
    result.unwrap();
    fake.assert_no_call().await;
}

#[tokio::test]
async fn an_unlabelled_foreign_or_missing_secret_refuses_the_deploy_and_applies_nothing() {
    let (runtime, mut fake) = runtime();
    let spec = spec_reading_secrets("alpha", 1);
    let refuse = async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        serve_secrets(
            &mut fake,
            &["api-key", "certs", "profile-store"],
            |name, reply| {
                match name {
                    // Another project's profile-store credentials.
                    "profile-store" => reply_json(
                        reply,
                        200,
                        &secret_metadata(name, json!({"belt.grnry.io/project": "beta"})),
                    ),
                    "api-key" => reply_json(reply, 200, &secret_metadata(name, json!(null))),
                    _ => reply_status(reply, 404, "NotFound"),
                }
            },
        )
        .await;
    };
    let (result, ()) = tokio::join!(runtime.apply(&spec), refuse);
    let message = result.unwrap_err().to_string();
    assert!(message.contains("workload policy"), "{message}");
    // Nothing applied.
    fake.assert_no_call().await;
    assert_eq!(runtime.observe(id(161)).unwrap().phase, Phase::Failed);
    let details = serde_json::to_value(runtime.details(id(161)).await.unwrap().unwrap()).unwrap();
    let refusal = &details["deploymentEvents"][0];
    assert_eq!(refusal["reason"], "RefusedByWorkloadPolicy");
    let reason = refusal["message"].as_str().unwrap();
    for expected in [
        "Secret 'profile-store' is not labelled belt.grnry.io/project=alpha",
        "Secret 'api-key' is not labelled belt.grnry.io/project=alpha",
        "Secret 'certs' does not exist in namespace 'belts'",
    ] {
        assert!(reason.contains(expected), "{reason}");
    }
    assert!(details["podStatus"].as_array().unwrap().is_empty());

    // Once labelled, the next START (a new generation) deploys and the refusal is gone.
    let spec = spec_reading_secrets("alpha", 2);
    let (result, ()) = tokio::join!(runtime.apply(&spec), async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        serve_secrets(
            &mut fake,
            &["api-key", "certs", "profile-store"],
            |name, reply| {
                let labels = json!({"belt.grnry.io/project": "alpha"});
                reply_json(reply, 200, &secret_metadata(name, labels));
            },
        )
        .await;
        for _ in 0..2 {
            let (call, reply) = fake.next().await;
            assert_eq!(call.method, Method::PATCH);
            let applied = call.json();
            reply_json(reply, 200, &applied);
        }
    });
    result.unwrap();
    assert_eq!(
        runtime.observe(id(161)),
        None,
        "no refusal left; the view decides"
    );
}

#[tokio::test]
async fn a_project_that_cannot_be_a_label_value_uses_no_secrets() {
    let (runtime, mut fake) = runtime();
    let spec = spec_reading_secrets("team~a", 1);
    let (result, ()) = tokio::join!(
        runtime.apply(&spec),
        expect_lookup_of_absent_deployment(&mut fake)
    );
    assert!(result.is_err());
    fake.assert_no_call().await;
    let details = serde_json::to_value(runtime.details(id(161)).await.unwrap().unwrap()).unwrap();
    let reason = details["deploymentEvents"][0]["message"].as_str().unwrap();
    assert!(reason.contains("cannot be a label value"), "{reason}");
}

#[tokio::test]
async fn without_rbac_to_read_secrets_the_deploy_is_refused_naming_the_permission() {
    let (runtime, mut fake) = runtime();
    let spec = spec_reading_secrets("alpha", 1);
    let (result, ()) = tokio::join!(runtime.apply(&spec), async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        serve_secrets(
            &mut fake,
            &["api-key", "certs", "profile-store"],
            |_, reply| reply_status(reply, 403, "Forbidden"),
        )
        .await;
    });
    assert!(result.is_err());
    fake.assert_no_call().await;
    let details = serde_json::to_value(runtime.details(id(161)).await.unwrap().unwrap()).unwrap();
    let reason = details["deploymentEvents"][0]["message"].as_str().unwrap();
    assert!(
        reason.contains("belt-api may not read Secret 'certs' (it needs 'get' on secrets"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_secret_check_the_api_does_not_answer_is_unavailable_and_retried() {
    let (runtime, mut fake) = runtime();
    let spec = spec_reading_secrets("alpha", 1);
    let (result, ()) = tokio::join!(runtime.apply(&spec), async {
        expect_lookup_of_absent_deployment(&mut fake).await;
        serve_secrets(
            &mut fake,
            &["api-key", "certs", "profile-store"],
            |_, reply| reply_status(reply, 503, "ServiceUnavailable"),
        )
        .await;
    });
    assert!(
        matches!(result, Err(RuntimeError::Unavailable(_))),
        "{result:?}"
    );
    fake.assert_no_call().await;
    // Not a refusal: the reconciler tries again.
    assert_eq!(runtime.observe(id(161)), None);
}

// ------------------------------------------------------------------------------------------------
// Logs: since, previous and follow through the pod log API, with its exact query parameters.

const POD_A: &str = "grnry-belt-161-7d9c8f6b5d-2kq9x";
const POD_B: &str = "grnry-belt-161-7d9c8f6b5d-h7m4p";

/// The pod a log call reads; panics on any other call.
fn log_call_pod(call: &Call) -> String {
    assert_eq!(call.method, Method::GET);
    call.path
        .strip_prefix("/api/v1/namespaces/belts/pods/")
        .and_then(|rest| rest.strip_suffix("/log"))
        .unwrap_or_else(|| panic!("not a log call: {}", call.path))
        .to_string()
}

fn query_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn logs_since_and_previous_ask_the_log_api_exactly() {
    let (deployments, pods) = scenario("deploying.json");
    let (runtime, mut fake) = recovered(deployments, pods).await;
    let query = LogQuery {
        lines: 50,
        since: Some(time::macros::datetime!(2019-07-01 11:02:41.5 UTC)),
        previous: true,
    };
    let (logs, ()) = tokio::join!(runtime.logs_matching(id(161), &query), async {
        for _ in 0..2 {
            let (call, reply) = fake.next().await;
            let pod = log_call_pod(&call);
            // sinceTime has whole seconds: the API gives the whole second, belt-api cuts it.
            let expected = query_of(&[
                ("container", "grnry-belt-161"),
                ("previous", "true"),
                ("sinceTime", "2019-07-01T11:02:41Z"),
                ("tailLines", "50"),
                ("timestamps", "true"),
            ]);
            assert_eq!(call.query, expected);
            if pod == POD_B {
                // No previous run: the API answers 400.
                reply_status(reply, 400, "BadRequest");
            } else {
                reply_text(
                    reply,
                    "2019-07-01T11:02:41.200000000Z before since\n\
                     2019-07-01T11:02:41.500000000Z at since\n\
                     2019-07-01T11:02:42.000000000Z Traceback: ImportError\n",
                );
            }
        }
    });
    let logs = logs.unwrap();
    assert_eq!(
        logs,
        BTreeMap::from([
            (
                POD_A.to_string(),
                vec![
                    "2019-07-01T11:02:41.500000000Z at since".to_string(),
                    "2019-07-01T11:02:42.000000000Z Traceback: ImportError".to_string(),
                ]
            ),
            (POD_B.to_string(), Vec::new()),
        ])
    );
}

async fn next_line(stream: &mut belt_api::runtime::LogStream) -> belt_api::runtime::LogLine {
    use futures::StreamExt;
    timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("a followed line did not come")
        .expect("the follow ended")
        .unwrap()
}

async fn assert_no_line(stream: &mut belt_api::runtime::LogStream) {
    use futures::StreamExt;
    if let Ok(line) = timeout(Duration::from_millis(300), stream.next()).await {
        panic!("unexpected line: {line:?}");
    }
}

/// Pod A's log ends (its container restarted) and is opened again from its last line's second,
/// its lines already sent are not sent twice; pod B has not started (400) and is asked again;
/// a pod that appears later joins with its whole log.
#[tokio::test]
async fn follow_streams_every_pod_across_a_restart_and_a_new_pod_joins() {
    let (deployments, pods) = scenario("deploying.json");
    let (runtime, mut fake) = recovered(deployments, pods.clone()).await;
    let runtime = std::sync::Arc::new(runtime);
    let mut stream = runtime.clone().follow_logs(id(161), LogQuery::last(10));
    let container = ("container", "grnry-belt-161");
    for _ in 0..2 {
        let (call, reply) = fake.next().await;
        let expected = [
            container,
            ("follow", "true"),
            ("tailLines", "10"),
            ("timestamps", "true"),
        ];
        assert_eq!(call.query, query_of(&expected));
        if log_call_pod(&call) == POD_A {
            reply_text(
                reply,
                "2019-07-01T11:02:41.000000001Z started\n2019-07-01T11:02:42.000000002Z consuming\n",
            );
        } else {
            reply_status(reply, 400, "BadRequest");
        }
    }
    for text in ["started", "consuming"] {
        let line = next_line(&mut stream).await;
        assert_eq!((line.pod.as_str(), line.line.as_str()), (POD_A, text));
    }
    assert_eq!(
        next_line_time(&mut stream, &mut fake).await,
        "2019-07-01T11:02:50.000000000Z"
    );
    assert_no_line(&mut stream).await;

    // A new pod of the Deployment: the pod watch announces it.
    let mut added = pods[0].clone();
    added["metadata"]["name"] = json!("grnry-belt-161-7d9c8f6b5d-n3w0p");
    added["metadata"]["resourceVersion"] = json!("50002");
    let index = fake
        .watches
        .iter()
        .position(|(path, _)| path == PODS)
        .unwrap();
    let (_, watch) = fake.watches.remove(index);
    let event = json!({"type": "ADDED", "object": added}).to_string() + "\n";
    watch.send_response(Response::new(Body::from(event.into_bytes())));
    loop {
        let (call, reply) = fake.next_within(Duration::from_secs(3)).await;
        if call.is_watch() {
            fake.watches.push((call.path, reply));
            continue;
        }
        if log_call_pod(&call) != "grnry-belt-161-7d9c8f6b5d-n3w0p" {
            reply_status(reply, 400, "BadRequest");
            continue;
        }
        let expected = [container, ("follow", "true"), ("timestamps", "true")];
        assert_eq!(call.query, query_of(&expected), "a new pod: its whole log");
        reply_text(reply, "2019-07-01T11:03:00.000000000Z new pod ready\n");
        break;
    }
    let line = next_line(&mut stream).await;
    assert_eq!(line.pod, "grnry-belt-161-7d9c8f6b5d-n3w0p");
    assert_eq!(line.line, "new pod ready");
    drop(stream);
}

/// The second round: A again from its last line's second (its two lines answered again, and a
/// new one), B again from when the follow began. Answers the new line's time.
async fn next_line_time(stream: &mut belt_api::runtime::LogStream, fake: &mut FakeApi) -> String {
    for _ in 0..2 {
        let (call, reply) = fake.next_within(Duration::from_secs(3)).await;
        let pod = log_call_pod(&call);
        assert_eq!(call.query.get("follow").map(String::as_str), Some("true"));
        assert!(!call.query.contains_key("tailLines"), "{:?}", call.query);
        if pod == POD_A {
            let expected = [
                ("container", "grnry-belt-161"),
                ("follow", "true"),
                ("sinceTime", "2019-07-01T11:02:42Z"),
                ("timestamps", "true"),
            ];
            assert_eq!(call.query, query_of(&expected));
            reply_text(
                reply,
                "2019-07-01T11:02:42.000000002Z consuming\n2019-07-01T11:02:50.000000000Z restarted\n",
            );
        } else {
            assert!(call.query.contains_key("sinceTime"), "{:?}", call.query);
            reply_status(reply, 400, "BadRequest");
        }
    }
    let line = next_line(stream).await;
    assert_eq!(line.line, "restarted");
    line.time
}
