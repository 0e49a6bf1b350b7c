//! The Kubernetes runtime against a fake API server: a `tower_test` mock handed to
//! `kube::Client::new`, as kube-rs/controller-rs tests do. Each test answers the calls it expects
//! and fails after one second when an expected call never comes. Fixtures in
//! `tests/fixtures/kubernetes/` are Deployments and Pods as the API server returns them.

use std::path::PathBuf;

use belt_api::config::BeltDefaultsConfig;
use belt_api::domain::belt::from_epoch_millis;
use belt_api::domain::input::{parse_body, parse_spec};
use belt_api::domain::replica::ReplicaSpec;
use belt_api::domain::{Belt, BeltDefaults, BeltId, Person, ProjectName};
use belt_api::runtime::kubernetes::render;
use clap::Parser;
use serde_json::Value;

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
