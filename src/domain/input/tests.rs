use super::routing::{MAX_EVENT_TYPES, MAX_EVENT_TYPE_LEN};
use super::*;
use crate::domain::defaults::for_tests;
use crate::domain::FetchProfile;
use serde_json::json;

fn parse(body: Value) -> Result<BeltSpec, String> {
    let map = body.as_object().unwrap().clone();
    parse_spec(&map, &for_tests())
        .map(|input| input.spec)
        .map_err(|e| e.to_string())
}

fn minimal() -> Value {
    json!({"name": "b", "eventTypes": ["test-a"]})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = minimal();
    body[field] = value;
    body
}

#[test]
fn a_minimal_body_gets_every_default() {
    let spec = parse(minimal()).unwrap();
    assert_eq!(spec.replicas, 1);
    assert_eq!(spec.millicpu, 200);
    assert_eq!(spec.memory_requests, 512);
    assert_eq!(spec.extractor_version, "latest");
    assert_eq!(
        spec.kafka_destination_topic.as_deref(),
        Some("profile-update")
    );
    assert_eq!(spec.fetch_profile, FetchProfile::False);
    assert_eq!(spec.profile_type, "_d");
    assert_eq!(spec.image, "grnry-belt");
    assert_eq!(spec.volumes, None);
}

#[test]
fn empty_strings_mean_the_default() {
    let spec = parse(with("extractorVersion", json!(""))).unwrap();
    assert_eq!(spec.extractor_version, "latest");
    let spec = parse(with("millicpu", json!(""))).unwrap();
    assert_eq!(spec.millicpu, 200);
}

#[test]
fn tolerant_scalars_become_canonical() {
    let mut body = minimal();
    body["replicas"] = json!("3");
    body["debug"] = json!("true");
    body["fetchProfile"] = json!("lazy");
    body["secret"] = json!("s");
    body["secretUsername"] = json!("u");
    body["secretPassword"] = json!("p");
    let spec = parse(body).unwrap();
    assert_eq!(spec.replicas, 3);
    assert!(spec.debug);
    assert_eq!(spec.fetch_profile, FetchProfile::Lazy);
}

#[test]
fn requests_default_to_at_most_the_limit() {
    let spec = parse(with("millicpu", json!(100))).unwrap();
    assert_eq!(spec.millicpu_requests, 100);
    let mut body = with("millicpu", json!(100));
    body["millicpuRequests"] = json!(150);
    assert_eq!(
        parse(body).unwrap_err(),
        "Parameter 'millicpuRequests' must not exceed 'millicpu' (100) but is '150'."
    );
}

#[test]
fn each_invalid_field_is_named() {
    let cases = [
        (json!({"eventTypes": ["a"]}), "'name'"),
        (json!({"name": "b"}), "'eventTypes'"),
        (json!({"name": "b", "eventTypes": []}), "'eventTypes'"),
        (with("replicas", json!(0)), "'replicas'"),
        (with("replicas", json!(51)), "'replicas'"),
        (with("fetchProfile", json!("SOMETIMES")), "'fetchProfile'"),
        (with("fetchProfile", json!(true)), "'secret'"),
        (with("extractorVersion", json!("  ")), "'extractorVersion'"),
        (with("image", json!("Bad Image")), "'image'"),
        (with("volumes", json!("{\"volumes\": 5}")), "'volumes'"),
        (with("extraEnv", json!([{"value": "x"}])), "'extraEnv'"),
        (
            with("partitionOffsets", json!({"grnry_data_in_other": [0]})),
            "'partitionOffsets'",
        ),
        (
            with("partitionOffsets", json!({"grnry_data_in_test-a": [-1]})),
            "'partitionOffsets'",
        ),
        (with("name", json!("x".repeat(256))), "'name'"),
        (with("labels", json!("a")), "'labels'"),
        (with("debug", json!("maybe")), "'debug'"),
        (with("id", json!("abc")), "'id'"),
        (
            with("extractorFn", json!("def execute(:\n")),
            "'extractorFn'",
        ),
        (with("requirementsPy", json!("==1.0")), "'requirementsPy'"),
    ];
    for (body, field) in cases {
        let err = parse(body.clone()).unwrap_err();
        assert!(err.contains(field), "{body} gave {err}");
    }
}

#[test]
fn event_types_are_names_and_bounded() {
    let longest = "e".repeat(MAX_EVENT_TYPE_LEN);
    assert_eq!(INPUT_TOPIC_PREFIX.len() + longest.len(), 249);
    let many: Vec<String> = (0..MAX_EVENT_TYPES).map(|i| format!("t{i}")).collect();
    for good in [
        json!([longest.clone()]),
        json!(["a.b", "a..b", "_-."]),
        json!(many),
    ] {
        assert!(parse(with("eventTypes", good.clone())).is_ok(), "{good}");
    }
    let too_many: Vec<String> = (0..=MAX_EVENT_TYPES).map(|i| format!("t{i}")).collect();
    for bad in [
        json!(["."]),
        json!([".."]),
        json!(["ok", ".."]),
        json!([format!("{longest}e")]),
        json!(["a/b"]),
        json!(["a%2e"]),
        json!(["a b"]),
        json!(["é"]),
        json!([""]),
        json!(["a", "a"]),
        json!(too_many),
    ] {
        let err = parse(with("eventTypes", bad.clone())).unwrap_err();
        assert!(err.contains("'eventTypes'"), "{bad} gave {err}");
    }
}

#[test]
fn output_types_exclude_an_explicit_destination() {
    let mut body = with("outputTypes", json!([{"name": "out", "version": 1}]));
    let spec = parse(body.clone()).unwrap();
    assert_eq!(spec.kafka_destination_topic, None);
    assert_eq!(spec.output_types.unwrap()[0].version, "1");
    body["kafkaDestinationTopic"] = json!("elsewhere");
    assert!(parse(body.clone())
        .unwrap_err()
        .contains("'kafkaDestinationTopic'"));
    body["kafkaDestinationTopic"] = json!("profile-update");
    assert!(parse(body).is_ok());
}

#[test]
fn body_id_is_read() {
    let map = with("id", json!("42")).as_object().unwrap().clone();
    assert_eq!(
        parse_spec(&map, &for_tests()).unwrap().id.unwrap().get(),
        42
    );
}

#[test]
fn malformed_bodies() {
    assert!(parse_body(b"{")
        .unwrap_err()
        .to_string()
        .contains("not valid JSON"));
    assert!(parse_body(b"[]")
        .unwrap_err()
        .to_string()
        .contains("a list"));
    assert!(parse_body(b"").unwrap_err().to_string().contains("missing"));
}

#[test]
fn output_types_are_event_type_names_and_bounded() {
    for name in [".", "..", "a/b"] {
        let err = parse(with("outputTypes", json!([{"name": name, "version": "1"}]))).unwrap_err();
        assert!(
            err.starts_with("Parameter 'outputTypes' item 0 "),
            "{name}: {err}"
        );
    }
    let many: Vec<Value> = (0..=MAX_EVENT_TYPES)
        .map(|n| json!({"name": format!("t{n}"), "version": "1"}))
        .collect();
    let err = parse(with("outputTypes", json!(many))).unwrap_err();
    assert!(err.contains("at most 100 output types"), "{err}");
}

#[test]
fn reserved_names_and_foreign_destinations_are_refused_with_the_field() {
    let err = parse(with(
        "extraEnv",
        json!([{"name": "FOO", "value": "x"}, {"name": "KAFKA_CONSUMER_GROUP", "value": "g"}]),
    ))
    .unwrap_err();
    assert!(
        err.starts_with("Parameter 'extraEnv[1].name' is 'KAFKA_CONSUMER_GROUP'"),
        "{err}"
    );
    for topic in ["grnry_belt_dlq_2", "grnry_data_in_test-a", "elsewhere"] {
        let err = parse(with("kafkaDestinationTopic", json!(topic))).unwrap_err();
        assert!(
            err.starts_with("Parameter 'kafkaDestinationTopic' is "),
            "{topic}: {err}"
        );
    }
}

#[test]
fn a_server_whose_defaults_break_the_rules_does_not_start() {
    use crate::domain::defaults::{settings_for_tests, BeltDefaults};
    let mut settings = settings_for_tests();
    settings.extra_env = Some(r#"[{"name": "KAFKA_INPUT_TOPICS", "value": "x"}]"#.into());
    let err = BeltDefaults::from_config(settings).unwrap_err();
    assert!(
        err.starts_with("BELT_EXTRA_ENV: item 0 sets 'KAFKA_INPUT_TOPICS'"),
        "{err}"
    );
    let mut settings = settings_for_tests();
    settings.destination_topic = "elsewhere".into();
    let err = BeltDefaults::from_config(settings).unwrap_err();
    assert!(
        err.starts_with("BELT_DESTINATION_TOPIC is 'elsewhere'"),
        "{err}"
    );
    let mut settings = settings_for_tests();
    settings.destination_topics = vec!["profile-update".into(), "grnry_belt_dlq_*".into()];
    let err = BeltDefaults::from_config(settings).unwrap_err();
    assert!(err.starts_with("BELT_KAFKA_DESTINATION_TOPICS: "), "{err}");
}
