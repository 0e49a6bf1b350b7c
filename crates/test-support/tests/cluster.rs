//! The fake cluster answers writes as an API server and its Deployment controller would: a
//! replace of a stale resourceVersion is a 409 `Conflict`, a Deployment rolls out at once (or
//! not, when the cluster holds rollouts), generations follow the spec; and it answers the same
//! over HTTP, watches held open as long polls, each request's `traceparent` and each apply's
//! user (the kubeconfig's token) recorded.

use std::time::Duration;

use belt_test_support::fake_kube::Cluster;
use http::Request;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{json, Value};

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/belts/deployments";

fn lease(holder: &str) -> Lease {
    serde_json::from_value(json!({"metadata": {"name": "leader"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 3}}))
    .unwrap()
}

fn deployment(replicas: i32, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

async fn apply(api: &Api<Deployment>, body: &Value) -> Deployment {
    let params = PatchParams::apply("test").force();
    api.patch("web", &params, &Patch::Apply(body))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_replace_of_a_stale_resource_version_is_a_conflict() {
    let (client, _cluster) = Cluster::start("belts");
    let leases: Api<Lease> = Api::namespaced(client, "belts");
    let created = leases
        .create(&PostParams::default(), &lease("a"))
        .await
        .unwrap();
    let again = leases.create(&PostParams::default(), &lease("b")).await;
    assert!(matches!(again, Err(kube::Error::Api(s)) if s.reason == "AlreadyExists"));

    let renewed = leases
        .replace("leader", &PostParams::default(), &created)
        .await;
    let renewed = renewed.expect("a replace of the stored resourceVersion");
    assert_ne!(
        renewed.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(renewed.metadata.uid, created.metadata.uid);
    assert!(created.metadata.creation_timestamp.is_some());
    assert_eq!(
        renewed.metadata.creation_timestamp,
        created.metadata.creation_timestamp
    );
    let mut taken = created.clone();
    taken.spec.as_mut().unwrap().holder_identity = Some("b".into());
    match leases
        .replace("leader", &PostParams::default(), &taken)
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
            assert!(status
                .message
                .contains("leases.coordination.k8s.io \"leader\""));
        }
        other => panic!("a stale replace was not refused: {other:?}"),
    }
    let stored = leases.get("leader").await.unwrap();
    assert_eq!(stored.spec.unwrap().holder_identity.as_deref(), Some("a"));
}

#[tokio::test]
async fn an_applied_deployment_rolls_out_at_once_and_its_generation_follows_its_spec() {
    let (client, cluster) = Cluster::start("belts");
    let api: Api<Deployment> = Api::namespaced(client, "belts");
    let first = apply(&api, &deployment(2, "web:1")).await;
    let same = apply(&api, &deployment(2, "web:1")).await;
    let changed = apply(&api, &deployment(3, "web:2")).await;
    let generations = [&first, &same, &changed].map(|d| d.metadata.generation);
    assert_eq!(generations, [Some(1), Some(1), Some(2)]);
    let status = changed.status.expect("a rolled-out status");
    assert_eq!(status.observed_generation, Some(2));
    let counts = [
        status.replicas,
        status.updated_replicas,
        status.ready_replicas,
        status.available_replicas,
    ];
    assert_eq!(counts, [Some(3); 4]);
    let recorder = cluster.recorder();
    assert_eq!(recorder.creates("deployments").get("web"), Some(&1));
    assert_eq!(recorder.applies("deployments").get("web"), Some(&3));
    assert_eq!(cluster.names(DEPLOYMENTS), ["web"]);
}

#[tokio::test]
async fn a_cluster_that_holds_rollouts_keeps_the_status_a_test_set() {
    let (client, cluster) = Cluster::start("belts");
    cluster.hold_rollouts();
    let api: Api<Deployment> = Api::namespaced(client, "belts");
    let created = apply(&api, &deployment(1, "web:1")).await;
    assert!(created.status.is_none(), "{:?}", created.status);
    let path = format!("{DEPLOYMENTS}/web");
    cluster.update(&path, |d| {
        d["status"] = json!({"observedGeneration": 1, "replicas": 1})
    });
    let changed = apply(&api, &deployment(1, "web:2")).await;
    let status = changed.status.expect("the status the test set");
    assert_eq!(
        (status.observed_generation, status.ready_replicas),
        (Some(1), None)
    );
    assert_eq!(changed.metadata.generation, Some(2));
}

#[tokio::test]
async fn over_http_a_watch_is_held_until_its_event_and_traceparents_are_recorded() {
    let (http_api, cluster) = Cluster::serve_http("belts").await;
    let kubeconfig = http_api.kubeconfig("replica-a");
    assert!(kubeconfig.contains(&format!("server: {}", http_api.url())));
    let client = http_api.client();
    let watch = Request::get(format!("{DEPLOYMENTS}?watch=true&resourceVersion=50000"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(kube::client::Body::empty())
        .unwrap();
    let watched = tokio::spawn({
        let client = client.clone();
        async move {
            let answer = client.send(watch).await.unwrap();
            answer.into_body().collect_bytes().await.unwrap()
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!watched.is_finished(), "the watch is held open");

    // A replica's client, from the kubeconfig of its user.
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap();
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await;
    let replica = kube::Client::try_from(config.unwrap()).unwrap();
    let api: Api<Deployment> = Api::default_namespaced(replica);
    apply(&api, &deployment(1, "web:1")).await;
    let events = tokio::time::timeout(Duration::from_secs(5), watched).await;
    let events = events.expect("the event within 5 s").unwrap();
    let event: Value = serde_json::from_slice(&events).unwrap();
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["metadata"]["name"], "web");
    let appliers = cluster.recorder().appliers("deployments");
    assert_eq!(appliers["web"], [("replica-a".to_string(), 1)].into());
    let traceparents = cluster.recorder().traceparents();
    assert_eq!(traceparents.len(), 1, "{traceparents:?}");
    assert_eq!(traceparents[0].0, format!("GET {DEPLOYMENTS}"));
}
