use serde_json::json;

use super::*;
use crate::domain::lifecycle::tests::belt;
use crate::domain::replica::{EnvValue, Platform, ReplicaSpec};
use crate::domain::{FetchProfile, OutputType, Wish};

/// A replica spec with every optional platform variable present.
fn replica_with(extra_env: Option<Vec<Value>>, outputs: bool) -> ReplicaSpec {
    let mut belt = belt(1, Wish::default());
    belt.spec.fetch_profile = FetchProfile::True;
    belt.spec.secret = "s".into();
    belt.spec.partition_offsets = [("grnry_data_in_a".to_string(), vec![1])].into();
    if outputs {
        belt.spec.output_types = Some(vec![OutputType {
            name: "o".into(),
            version: "1".into(),
        }]);
        belt.spec.kafka_destination_topic = None;
    }
    belt.spec.extra_env = extra_env;
    let platform = Platform {
        kafka_bootstrap: Some("127.0.0.1:9092".into()),
        profile_store_url: Some("http://profiles".into()),
        host_idle_seconds: Some(3600),
        source_header: true,
    };
    let spec = belt.spec.clone();
    ReplicaSpec::build(&belt, &spec, 1, 1, true, &platform)
}

#[test]
fn every_variable_the_platform_sets_is_reserved() {
    for outputs in [false, true] {
        let replica = replica_with(None, outputs);
        assert!(replica.env.len() >= 18, "{:?}", replica.env);
        assert_eq!(
            replica.env_value("BELT_HOST_IDLE_SECONDS"),
            Some(&EnvValue::Plain("3600".into()))
        );
        for entry in &replica.env {
            assert!(is_reserved(&entry.name), "{} is not reserved", entry.name);
        }
    }
    // What the local runtime and the bundled host add or read.
    for name in [
        "BELT_REPLICA_NAME",
        "BELT_REPLICA_OF",
        "BELT_HOST_IDLE_SECONDS",
        "BELT_INVOKE_VENV",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_PASSWORD",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "LD_PRELOAD",
        "HOME",
        "PATH",
    ] {
        assert!(is_reserved(name), "{name} is not reserved");
    }
}

#[test]
fn names_are_compared_without_case_and_others_stay_free() {
    for name in [
        "kafka_input_topics",
        "Kafka_Consumer_Group",
        "project_name",
        "Path",
    ] {
        assert!(is_reserved(name), "{name} is not reserved");
    }
    for name in [
        "FOO",
        "MODE",
        "API_KEY",
        "KAFKA",
        "BELTS",
        "MY_KAFKA_TOPIC",
        "PATHS",
        "LANG",
    ] {
        assert!(!is_reserved(name), "{name} is reserved");
    }
}

#[test]
fn an_extra_env_entry_with_a_reserved_name_is_refused_naming_the_entry() {
    let env = vec![
        json!({"name": "FOO", "value": "bar"}),
        json!({"name": "MODE", "value": "fast"}),
        json!({"name": "KAFKA_INPUT_TOPICS", "value": "grnry_data_in_theirs"}),
    ];
    let refused = check_extra_env(&env).unwrap_err();
    assert_eq!(
        refused.culprit,
        crate::domain::Culprit::Field("extraEnv[2].name".into())
    );
    assert!(
        refused.message.starts_with(
            "Parameter 'extraEnv[2].name' is 'KAFKA_INPUT_TOPICS', which the platform sets"
        ),
        "{}",
        refused.message
    );
    assert!(refused.message.contains("KAFKA_*"), "{}", refused.message);
    assert!(check_extra_env(&env[..2]).is_ok());
    assert!(check_extra_env(&[]).is_ok());
}

#[test]
fn a_stored_extra_env_never_overrides_the_platform() {
    // As a belt stored before the rule would hold it.
    let replica = replica_with(
        Some(vec![
            json!({"name": "KAFKA_CONSUMER_GROUP", "value": "their-group"}),
            json!({"name": "kafka_input_topics", "value": "grnry_data_in_theirs"}),
            json!({"name": "BELT_ID", "value": "2"}),
            json!({"name": "FOO", "value": "bar"}),
        ]),
        false,
    );
    let group = replica.env_value("KAFKA_CONSUMER_GROUP").unwrap();
    assert!(
        matches!(group, EnvValue::Plain(value) if value.starts_with("grnry-belt-1-")),
        "{group:?}"
    );
    assert_eq!(
        replica.env_value("BELT_ID"),
        Some(&EnvValue::Plain("1".into()))
    );
    assert_eq!(replica.env_value("kafka_input_topics"), None);
    let names: Vec<&str> = replica.env.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "KAFKA_CONSUMER_GROUP")
            .count(),
        1
    );
    assert_eq!(names.last(), Some(&"FOO"), "{names:?}");
}
