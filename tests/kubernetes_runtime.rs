//! The Kubernetes runtime against a fake API server: a `tower_test` mock handed to
//! `kube::Client::new`, as kube-rs/controller-rs tests do. Each test answers the calls it expects
//! and fails after one second when an expected call never comes. Fixtures in
//! `tests/fixtures/kubernetes/` are Deployments and Pods as the API server returns them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use belt_api::config::BeltDefaultsConfig;
use belt_api::domain::belt::from_epoch_millis;
use belt_api::domain::input::{parse_body, parse_spec};
use belt_api::domain::replica::ReplicaSpec;
use belt_api::domain::{Belt, BeltDefaults, BeltId, Person, ProjectName};
use belt_api::runtime::kubernetes::{render, KubernetesRuntime};
use belt_api::runtime::{Runtime, RuntimeError};
use clap::Parser;
use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use tokio::time::timeout;

const NAMESPACE: &str = "belts";

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/belts/deployments";

const CONFIG_MAPS: &str = "/api/v1/namespaces/belts/configmaps";

/// How long a test waits for a call it expects.
const EXPECTED_CALL: Duration = Duration::from_secs(1);

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

/// The v2 document's example belt (id 161, project global) at version 1, generation 1, with the
/// server defaults of a default configuration.
fn v2_example_spec() -> ReplicaSpec {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        defaults: BeltDefaultsConfig,
    }
    let defaults = BeltDefaults::from_config(&Defaults::parse_from(["belt-api"]).defaults).unwrap();
    let body = std::fs::read(fixture_path("v2/create-response-example.json")).unwrap();
    let spec = parse_spec(&parse_body(&body).unwrap(), &defaults)
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
        project: ProjectName::global(),
        version: 1,
        spec: spec.clone(),
        created_by: person.clone(),
        created_at,
        modified_by: person,
        modified_at: created_at,
    };
    ReplicaSpec::build(&belt, &spec, 1, 1, false)
}

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

/// One request as the fake API server saw it.
struct Call {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Call {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

type Reply = tower_test::mock::SendResponse<Response<Body>>;

struct FakeApi {
    handle: tower_test::mock::Handle<Request<Body>, Response<Body>>,
}

fn runtime() -> (KubernetesRuntime, FakeApi) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, NAMESPACE);
    let runtime = KubernetesRuntime::with_client(client, NAMESPACE)
        .with_call_timeout(Duration::from_millis(500));
    let fake = FakeApi { handle };
    (runtime, fake)
}

impl FakeApi {
    /// The next call; panics when none comes within a second.
    async fn next(&mut self) -> (Call, Reply) {
        let (request, reply) = timeout(EXPECTED_CALL, self.handle.next_request())
            .await
            .expect("an expected API call did not come within 1 s")
            .expect("the client went away");
        let (parts, body) = request.into_parts();
        let query = url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let call = Call {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query,
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body: body.collect_bytes().await.unwrap().to_vec(),
        };
        (call, reply)
    }

    async fn assert_no_call(&mut self) {
        if let Ok(Some((request, _))) =
            timeout(Duration::from_millis(200), self.handle.next_request()).await
        {
            panic!(
                "unexpected API call: {} {}",
                request.method(),
                request.uri()
            );
        }
    }
}

fn reply_json(reply: Reply, status: u16, body: &Value) {
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    reply.send_response(response);
}

fn reply_status(reply: Reply, code: u16, reason: &str) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{reason} (from the fake API)"), "reason": reason, "code": code});
    reply_json(reply, code, &body);
}

#[test]
fn the_v2_example_renders_as_the_golden_objects() {
    let (config_map, deployment) = render(&v2_example_spec()).unwrap();
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
            let (_, reply) = fake.next().await;
            reply_status(reply, code, reason);
        });
        match (code, result) {
            (409, Err(RuntimeError::InUse(_))) | (503, Err(RuntimeError::Unavailable(_))) => {}
            (code, other) => panic!("{code}: {other:?}"),
        }
    }
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
