//! The identity tests' side of the fake API server: `belt_test_support::fake_kube`, scripted,
//! under a runtime of belt 161. Each test answers the calls it expects; one that never comes
//! fails after a second, and one that should not come is caught by `assert_no_call`.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::time::Duration;

use belt_api::config::BeltDefaultsConfig;
use belt_api::domain::belt::from_epoch_millis;
use belt_api::domain::input::{parse_body, parse_spec};
use belt_api::domain::replica::{Platform, ReplicaSpec};
use belt_api::domain::{Belt, BeltDefaults, BeltId, Person, ProjectName};
use belt_api::runtime::kubernetes::{KafkaIdentities, KubernetesRuntime, StrimziUsers};
use belt_api::runtime::Runtime;
pub use belt_test_support::fake_kube::{reply_json, reply_status, reply_text, FakeKube};
use clap::Parser;
use http::Method;
use serde_json::Value;

pub const NAMESPACE: &str = "belts";
pub const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/belts/deployments";
pub const PODS: &str = "/api/v1/namespaces/belts/pods";
pub const CONFIG_MAPS: &str = "/api/v1/namespaces/belts/configmaps";
pub const SECRETS: &str = "/api/v1/namespaces/belts/secrets";
pub const EVENTS: &str = "/api/v1/namespaces/belts/events";
pub const KAFKA_USERS: &str = "/apis/kafka.strimzi.io/v1beta2/namespaces/belts/kafkausers";
/// Belt 161's consumer group, and so its KafkaUser, principal and Secret.
pub const USER: &str = "grnry-belt-161-1562744768164";

pub fn strimzi() -> KafkaIdentities {
    KafkaIdentities::Strimzi(StrimziUsers {
        cluster: "events".into(),
        security_protocol: "SASL_SSL".into(),
        ca_secret: None,
    })
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn defaults() -> BeltDefaults {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        defaults: BeltDefaultsConfig,
    }
    // The operator allows a second destination, which a test moves a belt to.
    let config = Defaults::parse_from([
        "belt-api",
        "--kafka-destination-topics",
        "profile-update,profile-update-v2",
    ]);
    BeltDefaults::from_config(&config.defaults).unwrap()
}

pub fn policy() -> belt_api::domain::policy::WorkloadPolicy {
    defaults().policy
}

/// The v2 example's body (belt 161: event types `test-a`, `test-b`; destination
/// `profile-update`).
pub fn v2_example_body() -> Value {
    fixture("v2/create-response-example.json")
}

/// `body` as belt 161 of project `global`, created at the v2 example's instant, version 1.
pub fn spec_of(body: &Value) -> ReplicaSpec {
    let bytes = serde_json::to_vec(body).unwrap();
    let spec = parse_spec(&parse_body(&bytes).unwrap(), &defaults())
        .unwrap()
        .spec;
    let person = Person {
        name: "Arthur Author".into(),
        email: "arthur@author.com".into(),
    };
    let created_at = from_epoch_millis(1_562_744_768_164);
    let belt = Belt {
        id: BeltId::new(161).unwrap(),
        project: ProjectName::global(),
        version: 1,
        spec: spec.clone(),
        created_by: person.clone(),
        created_at,
        modified_by: person,
        modified_at: created_at,
        wish: Default::default(),
    };
    let platform = Platform {
        kafka_bootstrap: Some("kafka-bootstrap.data.svc:9093".into()),
        profile_store_url: None,
        host_idle_seconds: None,
        source_header: false,
    };
    ReplicaSpec::build(&belt, &spec, 1, 1, false, &platform)
}

/// The fake API server of one runtime, with the calls every identity test expects.
pub struct FakeApi(pub FakeKube);

impl Deref for FakeApi {
    type Target = FakeKube;
    fn deref(&self) -> &FakeKube {
        &self.0
    }
}

impl DerefMut for FakeApi {
    fn deref_mut(&mut self) -> &mut FakeKube {
        &mut self.0
    }
}

/// Every list and watch of the runtime's reflectors asks for belt-api's own objects only.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=belt-api";

pub fn runtime(identities: KafkaIdentities) -> (KubernetesRuntime, FakeApi) {
    let (client, fake) = belt_test_support::fake_kube::pair(NAMESPACE);
    let runtime = KubernetesRuntime::with_client(client, NAMESPACE)
        .with_kafka_identities(identities)
        .with_call_timeout(Duration::from_millis(500))
        .with_ready_timeout(Duration::from_secs(1));
    (runtime, FakeApi(fake))
}

/// A runtime whose reflectors have listed `lists` (path → items), one LIST and one WATCH each.
pub async fn recovered(
    identities: KafkaIdentities,
    lists: &[(&str, Vec<Value>)],
) -> (KubernetesRuntime, FakeApi) {
    let (runtime, mut fake) = runtime(identities);
    let (done, ()) = tokio::join!(runtime.recover(), fake.serve_lists(lists, MANAGED_SELECTOR));
    done.unwrap();
    (runtime, fake)
}

impl FakeApi {
    /// Answers `count` Events lists (one per pod) with no Events.
    pub async fn serve_events(&mut self, count: usize) {
        for _ in 0..count {
            let (call, reply) = self.next().await;
            assert_eq!((&call.method, call.path.as_str()), (&Method::GET, EVENTS));
            reply_json(reply, 200, &belt_test_support::fake_kube::list("List", &[]));
        }
    }

    /// The runtime looks up a Deployment it does not know before touching it; here none exists.
    pub async fn expect_lookup_of_absent_deployment(&mut self) {
        let (call, reply) = self.next().await;
        let path = format!("{DEPLOYMENTS}/grnry-belt-161");
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&Method::GET, path.as_str())
        );
        reply_status(reply, 404, "NotFound");
    }

    /// The next call must be a server-side apply of `path` by belt-api; its body, answered as
    /// applied.
    pub async fn expect_apply(&mut self, path: &str) -> Value {
        let (call, reply) = self.next().await;
        assert_eq!((&call.method, call.path.as_str()), (&Method::PATCH, path));
        assert_eq!(call.query["fieldManager"], "belt-api");
        assert_eq!(call.query["force"], "true");
        let body = call.json();
        reply_json(reply, 200, &body);
        body
    }
}

/// Applies `spec` against the fake API and answers every call of a clean apply: the lookup, the
/// ConfigMap, the KafkaUser (with identities) and the Deployment. The applied bodies by path.
pub async fn applied(
    runtime: &KubernetesRuntime,
    fake: &mut FakeApi,
    spec: &ReplicaSpec,
    with_user: bool,
) -> BTreeMap<String, Value> {
    let serve = async {
        fake.expect_lookup_of_absent_deployment().await;
        let mut bodies = BTreeMap::new();
        let user_path = format!("{KAFKA_USERS}/{USER}");
        let mut paths = vec![format!("{CONFIG_MAPS}/grnry-belt-161")];
        if with_user {
            paths.push(user_path);
        }
        paths.push(format!("{DEPLOYMENTS}/grnry-belt-161"));
        for path in paths {
            let body = fake.expect_apply(&path).await;
            bodies.insert(path, body);
        }
        bodies
    };
    let (result, bodies) = tokio::join!(runtime.apply(spec), serve);
    result.unwrap();
    fake.assert_no_call().await;
    bodies
}
