//! The Role of `deploy/base/rbac.yaml` grants exactly what the Kubernetes runtime asks of the API
//! server (issue 20): every operation of the runtime (recover and its reflectors, apply with a
//! Secret check and a Kafka identity, observe, deployed, details, logs, follow, phase events,
//! remove, shutdown) and of the test-invoke pod invoker (its sweep, a run) is driven against the
//! tests' fake cluster, which records each request as the API server would authorize it. The
//! scenario's builders are the identity tests' (`tests/kubernetes_identity/`).

// The identity tests' builders; this test uses some of them.
#[allow(dead_code, unused_imports)]
#[path = "kubernetes_identity/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "kubernetes_identity/invoke_support.rs"]
mod invoke_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use belt_api::domain::replica::{EnvEntry, EnvValue};
use belt_api::domain::BeltId;
use belt_api::invoke::Invoke;
use belt_api::leader::lease::KubeLease;
use belt_api::leader::Campaign;
use belt_api::runtime::kubernetes::{KafkaIdentities, KubernetesRuntime};
use belt_api::runtime::{LogQuery, ReplicaLogs, Runtime};
use belt_test_support::fake_kube::{Access, Cluster, Verb};
use futures::StreamExt;
use harness::*;
use invoke_support::{completed_log, leftover, request, settings, terminated};
use k8s_openapi::api::rbac::v1::Role;
use serde_json::{json, Value};
use tokio::time::timeout;

const RBAC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/base/rbac.yaml");
const LEASE_RBAC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/components/lease-election/rbac.yaml"
);
/// Far more than any step takes here, so never flaky.
const DEADLINE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_grants_exactly_what_the_kubernetes_runtime_asks_for() {
    let observed = everything_the_runtime_asks().await;
    same_accesses(RBAC, &observed, granted_by_the_role(RBAC));
}

/// The optional Lease election (`deploy/components/lease-election/`): two replicas campaign, one
/// takes the Lease and renews it, the other finds it held until the first releases it.
#[tokio::test]
async fn the_lease_component_grants_exactly_what_the_lease_election_asks_for() {
    let (client, cluster) = Cluster::start("belts");
    let replica = |identity: &str| {
        KubeLease::new(
            client.clone(),
            "belts",
            "belt-api-leader",
            identity.to_string(),
        )
        .with_duration(Duration::from_secs(3))
    };
    let (mut a, mut b) = (replica("a"), replica("b"));
    assert!(
        a.try_acquire().await.unwrap(),
        "the first replica takes the Lease"
    );
    assert!(a.still_leads().await, "and renews it");
    assert!(!b.try_acquire().await.unwrap(), "the second finds it held");
    // The first stops (SIGTERM): it hands the Lease over, and the second need not wait out the
    // 3 s an unrenewed Lease keeps the others out.
    a.release().await;
    assert!(
        b.try_acquire().await.unwrap(),
        "released: the second takes it at once"
    );
    same_accesses(
        LEASE_RBAC,
        &cluster.observed(),
        granted_by_the_role(LEASE_RBAC),
    );
}

fn same_accesses(manifest: &str, observed: &BTreeSet<Access>, granted: BTreeSet<Access>) {
    let missing: Vec<String> = observed
        .difference(&granted)
        .map(|a| a.to_string())
        .collect();
    let extra: Vec<String> = granted
        .difference(observed)
        .map(|a| a.to_string())
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{manifest} and the calls differ.\n\
         Asked, not granted (add to the Role): {missing:#?}\n\
         Granted, never asked (remove from the Role): {extra:#?}"
    );
}

/// Every (group, resource, verb) the Role of the manifest grants; verbs named one by one (a
/// wildcard would grant what no test sees).
fn granted_by_the_role(manifest: &str) -> BTreeSet<Access> {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("{manifest}: {e}"));
    let objects: Vec<Value> = serde_saphyr::from_multiple(&text).expect("YAML documents");
    let roles: Vec<Role> = objects
        .into_iter()
        .filter(|object| object["kind"] == "Role")
        .map(|object| serde_json::from_value(object).expect("a Role as k8s-openapi reads it"))
        .collect();
    assert_eq!(roles.len(), 1, "one Role in {manifest}");
    let mut granted = BTreeSet::new();
    for rule in roles[0].rules.iter().flatten() {
        assert!(
            rule.resource_names.is_none() && rule.non_resource_urls.is_none(),
            "{rule:?}"
        );
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    let verb = Verb::parse(verb)
                        .unwrap_or_else(|| panic!("'{verb}' on {resource}: name each verb"));
                    granted.insert(Access::new(group, resource, verb));
                }
            }
        }
    }
    granted
}

/// The runtime of belt 161 with Kafka identities and the cluster's CA, on a cluster holding a
/// Secret the belt reads and the leftovers of a crashed test-invoke run; every operation once.
async fn everything_the_runtime_asks() -> BTreeSet<Access> {
    let (client, cluster) = Cluster::start(NAMESPACE);
    let cluster = Arc::new(cluster);
    let mut identities = strimzi();
    if let KafkaIdentities::Strimzi(users) = &mut identities {
        users.ca_secret = Some("events-cluster-ca-cert".into());
    }
    let runtime = KubernetesRuntime::with_client(client, NAMESPACE)
        .with_kafka_identities(identities)
        .with_call_timeout(Duration::from_secs(2))
        .with_ready_timeout(DEADLINE);
    let runtime = Arc::new(runtime);
    let labels = json!({"belt.grnry.io/project": "global"});
    let secret =
        json!({"metadata": {"name": "own-store", "namespace": NAMESPACE, "labels": labels}});
    cluster.put(SECRETS, secret);
    let crashed = "grnry-belt-invoke-161-dead0001";
    cluster.put(PODS, leftover(crashed, "1"));
    cluster.put(SECRETS, leftover(crashed, "1"));

    runtime.recover().await.unwrap();
    let mut changes = runtime.phase_events().expect("the reflectors tell changes");
    deploy_and_read(&runtime, &cluster).await;
    let told = timeout(DEADLINE, changes.recv()).await;
    assert_eq!(told.expect("a phase event").unwrap(), belt());
    runtime.remove(belt()).await.unwrap();
    invoke_in_a_pod(&runtime, &cluster).await;
    runtime.shutdown().await;

    assert_eq!(cluster.recorder().non_resource(), Vec::<String>::new());
    cluster.observed()
}

fn belt() -> BeltId {
    BeltId::new(161).unwrap()
}

/// Applies the v2 example reading Secret `own-store`; a pod of it appears (the Deployment
/// controller's part) and logs; then its state, details, logs and followed logs.
async fn deploy_and_read(runtime: &Arc<KubernetesRuntime>, cluster: &Cluster) {
    let mut spec = spec_of(&v2_example_body());
    let reads = json!({"name": "STORE",
        "valueFrom": {"secretKeyRef": {"name": "own-store", "key": "password"}}});
    spec.env.push(EnvEntry {
        name: "STORE".into(),
        value: EnvValue::Kubernetes(reads),
    });
    runtime.apply(&spec).await.unwrap();
    let pod = fixture("kubernetes/running.json")["pods"][0].clone();
    let name = pod["metadata"]["name"].as_str().unwrap().to_string();
    cluster.put(PODS, pod);
    cluster.set_log(
        &format!("{PODS}/{name}"),
        "2019-07-01T11:02:41.000000001Z started\n",
    );
    // The watches bring the Deployment and the pod into the view; the details name the pod then.
    let seen = async {
        loop {
            let details = runtime.details(belt()).await.unwrap();
            if details.is_some_and(|details| details.pod_status.len() == 1) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    timeout(DEADLINE, seen)
        .await
        .expect("the view sees the belt and its pod");
    assert!(runtime.observe(belt()).is_some());
    assert_eq!(runtime.deployed(), vec![belt()]);
    let logs = runtime.logs(belt(), 10).await.unwrap();
    assert_eq!(logs[&name].len(), 1, "{logs:?}");
    let mut followed = runtime.clone().follow_logs(belt(), LogQuery::last(10));
    let line = timeout(DEADLINE, followed.next())
        .await
        .expect("a followed line");
    assert_eq!(line.expect("a line").unwrap().line, "started");
}

/// One test-invoke run: the sweep removes the crashed run's leftovers, the pod is created, the
/// kubelet (played here) ends it with a report, belt-api reads it and deletes pod and Secret.
async fn invoke_in_a_pod(runtime: &KubernetesRuntime, cluster: &Arc<Cluster>) {
    let invoker = runtime
        .pod_invoker(settings(2, 1))
        .with_poll(Duration::from_millis(10));
    let kubelet = tokio::spawn(play_kubelet(cluster.clone()));
    let report = timeout(DEADLINE, invoker.invoke(request("global"))).await;
    let report = report.expect("the run ended").expect("a report");
    assert_eq!(report.results.len(), 1, "{report:?}");
    kubelet.abort();
    assert!(cluster.names(PODS).iter().all(|n| !n.contains("invoke")));
}

/// Waits for the invoke pod belt-api creates, then ends it `Completed` with its report.
async fn play_kubelet(cluster: Arc<Cluster>) {
    loop {
        let created = cluster
            .names(PODS)
            .into_iter()
            .find(|name| name.starts_with("grnry-belt-invoke-161-") && !name.ends_with("dead0001"));
        if let Some(name) = created {
            let path = format!("{PODS}/{name}");
            cluster.set_log(&path, &completed_log());
            cluster.update(&path, |pod| pod["status"] = terminated("Completed", 0));
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
