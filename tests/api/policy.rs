//! The workload policy at the API (docs/workload-policy.md): every belt document that asks the
//! cluster for more than a belt may have is refused at create and at replace with a 400 that
//! names the field, and nothing is stored or changed.

use std::sync::Arc;
use std::time::Duration;

use belt_api::runtime::kubernetes::KubernetesRuntime;
use belt_test_support::fake_kube::{Cluster, Recorder};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    each_policy_rule_is_refused_at_create_and_nothing_is_stored,
    each_policy_rule_is_refused_at_replace_and_nothing_changes,
    the_seed_examples_and_project_secrets_pass_the_default_policy,
    configured_registries_and_requirement_urls_are_allowed_and_nothing_else,
    on_kubernetes_only_secrets_labelled_with_the_project_are_deployed,
);

/// (field the 400 must name, what is changed in a valid body): one per rule and hostile shape.
fn hostile_bodies() -> Vec<(&'static str, &'static str, Value)> {
    let with = |field: &str, value: Value| {
        let mut body = minimal_belt("hostile");
        body[field] = value;
        body
    };
    let volume = |source: Value| {
        let mut volume = json!({"name": "v"});
        for (key, value) in source.as_object().unwrap() {
            volume[key] = value.clone();
        }
        with("volumes", json!([volume]))
    };
    vec![
        ("volumes", "hostPath /", volume(json!({"hostPath": {"path": "/"}}))),
        (
            "volumes",
            "hostPath as a JSON string",
            with(
                "volumes",
                json!("{\"volumes\": [{\"name\": \"root\", \"hostPath\": {\"path\": \"/\", \"type\": \"Directory\"}}]}"),
            ),
        ),
        (
            "volumes",
            "nfs",
            volume(json!({"nfs": {"server": "nfs.example.com", "path": "/"}})),
        ),
        (
            "volumes",
            "downwardAPI (not configured)",
            volume(json!({"downwardAPI": {"items": []}})),
        ),
        (
            "volumes",
            "two sources in one volume",
            volume(json!({"emptyDir": {}, "hostPath": {"path": "/"}})),
        ),
        (
            "volumes",
            "projected service-account token",
            volume(json!({"projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}})),
        ),
        (
            "volumes",
            "another belt's code",
            volume(json!({"configMap": {"name": "grnry-belt-1"}})),
        ),
        (
            "volumes",
            "a secret volume without a Secret name",
            volume(json!({"secret": {"optional": true}})),
        ),
        (
            "volumeMounts",
            "bidirectional propagation",
            with(
                "volumeMounts",
                json!([{"name": "v", "mountPath": "/x", "mountPropagation": "Bidirectional"}]),
            ),
        ),
        (
            "extraEnv",
            "another belt's code through configMapKeyRef",
            with(
                "extraEnv",
                json!([{"name": "CODE", "valueFrom": {"configMapKeyRef": {"name": "grnry-belt-1", "key": "callback.py"}}}]),
            ),
        ),
        (
            "extraEnv",
            "a secretKeyRef that walks the API path",
            with(
                "extraEnv",
                json!([{"name": "K", "valueFrom": {"secretKeyRef": {"name": "../configmaps/x", "key": "k"}}}]),
            ),
        ),
        (
            "image",
            "a foreign registry",
            with("image", json!("evil.example.com/miner")),
        ),
        (
            "image",
            "the default image on Docker Hub",
            with("image", json!("docker.io/library/grnry-belt")),
        ),
        (
            "image",
            "a Docker Hub account",
            with("image", json!("evil/miner")),
        ),
        (
            "requirementsPy",
            "a file URL",
            with("requirementsPy", json!("requests==2.31.0\npkg @ file:///etc/passwd")),
        ),
        (
            "requirementsPy",
            "an https URL",
            with(
                "requirementsPy",
                json!("pkg @ https://evil.example.com/pkg-1.0-py3-none-any.whl"),
            ),
        ),
        (
            "requirementsPy",
            "a git URL",
            with("requirementsPy", json!("pkg @ git+https://github.com/evil/pkg.git")),
        ),
        ("secret", "a profile-store Secret that walks the API path", {
            let mut body = with("fetchProfile", json!("TRUE"));
            body["secret"] = json!("../../secrets/belt-api");
            body["secretUsername"] = json!("user");
            body["secretPassword"] = json!("pass");
            body
        }),
    ]
}

async fn each_policy_rule_is_refused_at_create_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let bodies = hostile_bodies();
    for (field, what, body) in &bodies {
        let response = app.post("/projects/global/belts", &token, body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(
            message.starts_with(&format!("Parameter '{field}' ")),
            "{what}: {message}"
        );
        // With an id in the path, too.
        let response = app.post("/projects/global/belts/77", &token, body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
    }
    let (_, list) = json_of(app.get("/projects/global/belts", &token).await).await;
    assert_eq!(list["totalCount"], 0, "{} hostile bodies", bodies.len());
}

async fn each_policy_rule_is_refused_at_replace_and_nothing_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let response = app
        .post("/projects/global/belts/5", &token, &minimal_belt("hostile"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (_, before) = json_of(app.get("/projects/global/belts/5", &token).await).await;
    for (field, what, body) in hostile_bodies() {
        let response = app.put("/projects/global/belts/5", &token, &body).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(
            message.starts_with(&format!("Parameter '{field}' ")),
            "{what}: {message}"
        );
    }
    let (_, after) = json_of(app.get("/projects/global/belts/5", &token).await).await;
    assert_eq!(after, before);
}

async fn the_seed_examples_and_project_secrets_pass_the_default_policy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    // The v2 example: a configMap volume, a mount carrying `secretName`, plain extraEnv,
    // requirements by name and version.
    // The PUT example's image `custom-grnry-belt` sits next to the default `grnry-belt`.
    for file in [
        "v2/create-response-example.json",
        "v2/get-response-example.json",
        "v2/put-response-example.json",
    ] {
        let mut body: Value = serde_json::from_slice(&fixture(file)).unwrap();
        body["name"] = json!(file);
        body["id"] = Value::Null;
        let (status, answer) =
            json_of(app.post("/projects/global/belts", &token, &body).await).await;
        assert_eq!(status, StatusCode::OK, "{file}: {answer}");
    }
    // Every allowed volume type, and Secrets by any name: whether the project may use them is
    // decided when the belt is deployed.
    let mut body = minimal_belt("allowed");
    body["volumes"] = json!([
        {"name": "a", "configMap": {"name": "log-config"}},
        {"name": "b", "emptyDir": {}},
        {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
        {"name": "d", "secret": {"secretName": "certs"}},
        {"name": "e", "projected": {"sources": [{"secret": {"name": "s"}}, {"configMap": {"name": "c"}}]}},
    ]);
    body["extraEnv"] =
        json!([{"name": "K", "valueFrom": {"secretKeyRef": {"name": "api-key", "key": "k"}}}]);
    body["fetchProfile"] = json!("TRUE");
    body["secret"] = json!("profile-store");
    body["secretUsername"] = json!("user");
    body["secretPassword"] = json!("pass");
    body["requirementsPy"] = json!("requests[security]>=2.8.1,<3\nnumpy ~= 1.26 # pinned");
    let response = app.post("/projects/global/belts", &token, &body).await;
    let (status, answer) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn configured_registries_and_requirement_urls_are_allowed_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: vec![
                (
                    "--allowed-images".into(),
                    "grnry-belt,registry.example.com/belts/".into(),
                ),
                (
                    "--allowed-requirement-urls".into(),
                    "https://pypi.example.com/wheels/".into(),
                ),
                (
                    "--allowed-volume-types".into(),
                    "configMap,downwardAPI".into(),
                ),
            ],
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let mut body = minimal_belt("configured");
    body["image"] = json!("registry.example.com/belts/team/belt");
    body["requirementsPy"] =
        json!("pkg @ https://pypi.example.com/wheels/pkg-1.0-py3-none-any.whl");
    body["volumes"] = json!([{"name": "d", "downwardAPI": {"items": []}}]);
    let response = app.post("/projects/global/belts", &token, &body).await;
    let (status, answer) = json_of(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    for (field, value) in [
        ("image", json!("registry.example.com/other/belt")),
        ("image", json!("registry.example.com/belts/../other/belt")),
        (
            "requirementsPy",
            json!("pkg @ https://pypi.example.com/wheels/../private/pkg.whl"),
        ),
        (
            "requirementsPy",
            json!("pkg @ https://pypi.example.com.evil.net/wheels/pkg.whl"),
        ),
        ("volumes", json!([{"name": "e", "emptyDir": {}}])),
    ] {
        let mut hostile = body.clone();
        hostile["name"] = json!("hostile");
        hostile[field] = value.clone();
        let response = app.post("/projects/global/belts", &token, &hostile).await;
        let message = assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(
            message.starts_with(&format!("Parameter '{field}' ")),
            "{value}: {message}"
        );
    }
}

/// The tests' fake cluster (`belt_test_support::fake_kube::Cluster`), enough for the runtime:
/// empty lists, watches held open, no Deployments, Secrets `own-store` (labelled for project
/// global) and `beta-store` (labelled for project beta), and every apply accepted. Its recorder
/// lists each call as "METHOD path".
fn fake_cluster() -> (KubernetesRuntime, Recorder) {
    let (client, cluster) = Cluster::start("belts");
    for (name, project) in [("own-store", "global"), ("beta-store", "beta")] {
        let labels = json!({"belt.grnry.io/project": project});
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "belts", "labels": labels}});
        cluster.put("/api/v1/namespaces/belts/secrets", secret);
    }
    let runtime = KubernetesRuntime::with_client(client, "belts")
        .with_call_timeout(Duration::from_secs(2))
        .with_ready_timeout(Duration::from_secs(5));
    (runtime, cluster.recorder())
}

async fn on_kubernetes_only_secrets_labelled_with_the_project_are_deployed(backend: Backend) {
    let (runtime, calls) = fake_cluster();
    let app = TestApp::spawn_with(
        backend,
        Options {
            runtime: Some(Arc::new(runtime)),
            ..Default::default()
        },
    )
    .await;
    let token = app.editor();
    let reading = |id: u32, secret: &str| {
        let mut body = minimal_belt(&format!("reads-{secret}"));
        body["id"] = json!(id);
        body["extraEnv"] = json!([{"name": "STORE", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}]);
        body
    };
    // Another project's profile-store credentials: accepted as a document (the label decides
    // at deploy time), refused when deployed, with the reason in the belt's state.
    for (id, secret) in [(1, "beta-store"), (2, "own-store")] {
        let (status, answer) = json_of(
            app.post("/projects/global/belts", &token, &reading(id, secret))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let response = app
            .post(
                &format!("/projects/global/belts/{id}/state"),
                &token,
                &json!({"action": "START"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let mut state = Value::Null;
    for _ in 0..100 {
        (_, state) = json_of(app.get("/projects/global/belts/1/state", &token).await).await;
        if state["status"] == "FAILED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["status"], "FAILED", "{state}");
    let refusal = &state["deploymentEvents"][0];
    assert_eq!(refusal["reason"], "RefusedByWorkloadPolicy", "{state}");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .contains("Secret 'beta-store' is not labelled belt.grnry.io/project=global"),
        "{state}"
    );
    for _ in 0..100 {
        let applied = calls
            .calls()
            .iter()
            .filter(|c| c.starts_with("PATCH"))
            .count();
        if applied == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = calls.calls();
    for expected in [
        "GET /api/v1/namespaces/belts/secrets/beta-store",
        "GET /api/v1/namespaces/belts/secrets/own-store",
        "PATCH /api/v1/namespaces/belts/configmaps/grnry-belt-2",
        "PATCH /apis/apps/v1/namespaces/belts/deployments/grnry-belt-2",
    ] {
        assert!(
            calls.iter().any(|c| c == expected),
            "{expected} not in {calls:?}"
        );
    }
    // Nothing of belt 1 was applied.
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("PATCH") && c.ends_with("grnry-belt-1")),
        "{calls:?}"
    );
}
