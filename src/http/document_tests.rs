use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::domain::belt::from_epoch_millis;
use crate::domain::defaults::for_tests;
use crate::domain::{BeltId, FetchProfile, OutputType, ProjectName, Wish};

/// A spec whose every field differs from the server default. Adding a field to `BeltSpec` breaks
/// this literal, so the new field is covered by the tests below.
fn unusual_spec() -> BeltSpec {
    BeltSpec {
        name: "unusual".into(),
        description: "d".into(),
        labels: vec!["l".into()],
        affected_paths: vec!["p".into()],
        replicas: 3,
        millicpu: 300,
        millicpu_requests: 100,
        memory: 600,
        memory_requests: 100,
        assumed_role: "r".into(),
        requirements_py: "package1==0.0.0".into(),
        image: "custom-grnry-belt".into(),
        image_pull_secret: "other-secret".into(),
        extractor_version: "0.8.0".into(),
        extractor_fn: "def execute(headers, event, profile):\n    return []\n".into(),
        event_types: vec!["test-a".into()],
        output_types: Some(vec![OutputType {
            name: "out".into(),
            version: "1".into(),
        }]),
        partition_offsets: BTreeMap::from([("grnry_data_in_test-a".into(), vec![0, 5])]),
        kafka_destination_topic: Some("elsewhere".into()),
        belt_type: "t".into(),
        runtime: "python".into(),
        parameter: "x".into(),
        debug: true,
        fetch_profile: FetchProfile::Lazy,
        profile_type: "test-type".into(),
        secret: "s".into(),
        secret_username: "u".into(),
        secret_password: "p".into(),
        volumes: Some(vec![json!({"name": "v", "emptyDir": {}})]),
        volume_mounts: Some(vec![json!({"name": "v", "mountPath": "/v"})]),
        extra_env: Some(vec![json!({"name": "FOO", "value": "bar"})]),
    }
}

fn belt(spec: BeltSpec) -> Belt {
    let at = from_epoch_millis(1_632_472_730_848);
    Belt {
        id: BeltId::new(161).unwrap(),
        project: ProjectName::global(),
        version: 2,
        spec,
        created_by: Person::default(),
        created_at: at,
        modified_by: Person::default(),
        modified_at: at,
        wish: Wish::default(),
    }
}

fn keys(value: &Value) -> Vec<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

fn with(mut keys: Vec<String>, more: &[&str]) -> Vec<String> {
    keys.extend(more.iter().map(|k| k.to_string()));
    sorted(keys)
}

fn schema_properties(name: &str) -> Vec<String> {
    let openapi = serde_json::to_value(crate::http::openapi::document()).unwrap();
    sorted(keys(&openapi["components"]["schemas"][name]["properties"]))
}

#[test]
fn the_declaration_the_schemas_the_document_and_the_export_agree() {
    let spec = unusual_spec();
    let fields = keys(&serde_json::to_value(&spec).unwrap());
    let about = keys(
        &serde_json::to_value(BeltDocument::new(&belt(spec.clone()), None, "h".into()).about)
            .unwrap(),
    );
    let about: Vec<&str> = about.iter().map(String::as_str).chain(["status"]).collect();

    let stored = belt(spec.clone());
    let document = BeltDocument::new(&stored, Some(BeltStatus::Stopped), "h".into());
    let document = serde_json::to_value(document).unwrap();
    assert_eq!(sorted(keys(&document)), with(fields.clone(), &about));
    assert_eq!(
        schema_properties("BeltDocument"),
        with(fields.clone(), &about)
    );
    assert_eq!(schema_properties("BeltBody"), with(fields.clone(), &["id"]));

    let exported = Value::Object(export(&belt(spec), &for_tests()));
    assert_eq!(keys(&exported), [fields, vec!["id".to_string()]].concat());
}

#[test]
fn the_document_keeps_the_v2_key_order() {
    let stored = belt(unusual_spec());
    let document = BeltDocument::new(&stored, Some(BeltStatus::Stopped), "h".into());
    let order = [
        "version",
        "name",
        "projectName",
        "kubernetesName",
        "description",
        "labels",
        "affectedPaths",
        "replicas",
        "millicpu",
        "millicpuRequests",
        "memory",
        "memoryRequests",
        "createdBy",
        "createdAt",
        "modifiedBy",
        "modifiedAt",
        "assumedRole",
        "requirementsPy",
        "image",
        "imagePullSecret",
        "extractorVersion",
        "extractorFn",
        "eventTypes",
        "outputTypes",
        "partitionOffsets",
        "kafkaDestinationTopic",
        "kafkaConsumerGroupName",
        "beltType",
        "runtime",
        "parameter",
        "debug",
        "fetchProfile",
        "profileType",
        "secret",
        "secretUsername",
        "secretPassword",
        "status",
        "volumes",
        "volumeMounts",
        "extraEnv",
        "id",
        "_links",
    ];
    assert_eq!(keys(&serde_json::to_value(document).unwrap()), order);
}

#[test]
fn the_document_renders_the_v2_shapes() {
    let stored = belt(unusual_spec());
    let document = BeltDocument::new(&stored, None, "http://h/b/161".into());
    let document = serde_json::to_value(document).unwrap();
    assert_eq!(document["version"], "2");
    assert_eq!(document["id"], "161");
    assert_eq!(document["createdAt"], "2021-09-24T08:38:50.848Z");
    assert_eq!(document["fetchProfile"], "LAZY");
    assert_eq!(
        document["extraEnv"],
        r#"{"extraEnv":[{"name":"FOO","value":"bar"}]}"#
    );
    assert_eq!(document["_links"]["self"]["href"], "http://h/b/161");
    assert!(document.get("status").is_none(), "{document}");
}

/// The document as it was rendered before it was written field by field: each part built as a
/// `serde_json::Value`, their entries woven by the same [`PLACES`].
fn rendered_through_values(document: &BeltDocument) -> String {
    let spec = entries(document.spec.as_ref()).unwrap();
    let about = entries(&document.about).unwrap();
    let woven: Map<String, Value> = weave(spec, about, |(key, _)| key.as_str())
        .into_iter()
        .collect();
    serde_json::to_string(&woven).unwrap()
}

#[test]
fn the_document_is_written_byte_for_byte_as_through_values() {
    let defaults = for_tests();
    let mut plain = defaults.spec_for(&unusual_spec());
    plain.volumes = None;
    plain.output_types = None;
    let mut quoted = unusual_spec();
    quoted.description = "\"quoted\" \\ \u{1F600} \n\t\u{7}".into();
    for spec in [unusual_spec(), plain, quoted] {
        let stored = belt(spec);
        for status in [None, Some(BeltStatus::Stopped), Some(BeltStatus::Running)] {
            let document = BeltDocument::new(&stored, status, "http://h/b/161".into());
            let written = serde_json::to_string(&document).unwrap();
            assert_eq!(written, rendered_through_values(&document));
            let owned = BeltDocument::owned(stored.clone(), status, "http://h/b/161".into());
            assert_eq!(serde_json::to_string(&owned).unwrap(), written);
        }
    }
}

#[test]
fn an_export_of_defaults_holds_name_event_types_and_id() {
    let defaults = for_tests();
    let mut spec = defaults.spec_for(&unusual_spec());
    spec.output_types = None;
    spec.kafka_destination_topic = Some(defaults.kafka_destination_topic.clone());
    let exported = Value::Object(export(&belt(spec.clone()), &defaults));
    assert_eq!(keys(&exported), ["name", "eventTypes", "id"]);

    // Requests default to the server's, capped at the belt's own limit.
    spec.millicpu = 100;
    spec.millicpu_requests = 100;
    let exported = Value::Object(export(&belt(spec.clone()), &defaults));
    assert_eq!(keys(&exported), ["name", "millicpu", "eventTypes", "id"]);
    spec.millicpu_requests = 50;
    let exported = Value::Object(export(&belt(spec), &defaults));
    assert_eq!(exported["millicpuRequests"], 50);
}

#[test]
fn output_types_leave_no_destination_in_an_export() {
    let defaults = for_tests();
    let mut spec = unusual_spec();
    spec.kafka_destination_topic = None;
    let exported = export(&belt(spec), &defaults);
    assert!(exported.contains_key("outputTypes"));
    assert!(
        !exported.contains_key("kafkaDestinationTopic"),
        "{exported:?}"
    );
}

#[test]
fn docs_api_md_names_every_field_of_the_document() {
    let docs = include_str!("../../docs/api.md");
    let start = docs.find("### Fields").unwrap();
    let end = start + docs[start..].find("### Tolerant input").unwrap();
    let table = &docs[start..end];
    let stored = belt(unusual_spec());
    let document = BeltDocument::new(&stored, Some(BeltStatus::Stopped), "h".into());
    for key in keys(&serde_json::to_value(document).unwrap()) {
        assert!(
            table.contains(&format!("`{key}")),
            "docs/api.md#fields lacks `{key}`"
        );
    }
}
