//! A draft's test-invoke (docs/api.md#test-invoke-of-a-draft): the callback of a belt not saved
//! yet, checked exactly as a create checks it (the domain's own parsing, so a callback refused
//! here is refused there too, naming the same field), and the belt it would be, to build the
//! replica's environment from.

use serde_json::{Map, Value};

use crate::domain::belt::now_millis;
use crate::domain::fields::refuse_nul_in_body;
use crate::domain::input::{parse_body, parse_spec};
use crate::domain::samples::{parse_events, SampleEvent};
use crate::domain::{Belt, BeltDefaults, BeltId, BeltSpec, Invalid, Person, ProjectName, Wish};

/// What a draft may carry besides its events: the fields a test-invoke of a saved belt may
/// replace for one call. The rest of a belt (its name, its topics) does not change a run.
const DRAFT_FIELDS: [&str; 3] = ["extractorFn", "requirementsPy", "parameter"];

/// The events and the spec, or the first bad field named.
pub(super) fn parse(
    bytes: &[u8],
    defaults: &BeltDefaults,
) -> Result<(Vec<SampleEvent>, BeltSpec), Invalid> {
    let body = parse_body(bytes)?;
    refuse_nul_in_body(&body)?;
    let given = |name: &str| body.get(name).filter(|value| !value.is_null());
    if given("sample").is_some() {
        return Err(Invalid::field(
            "sample",
            "cannot name a saved sample: a belt not saved yet keeps none; send 'events'",
        ));
    }
    // Missing or "" would run the server's default callback, which is no draft of anything.
    if given("extractorFn").is_none_or(|callback| callback.as_str() == Some("")) {
        return Err(Invalid::field(
            "extractorFn",
            "must be given: the callback of the belt not saved yet, to run",
        ));
    }
    // A create body of the draft's fields; the name and the topic only make it one.
    let mut map = Map::new();
    map.insert("name".into(), Value::from("draft"));
    map.insert("eventTypes".into(), Value::from(vec!["draft"]));
    for field in DRAFT_FIELDS {
        if let Some(value) = body.get(field) {
            map.insert(field.into(), value.clone());
        }
    }
    let spec = parse_spec(&map, defaults)?.spec;
    let events = match given("events") {
        Some(events) => parse_events(Some(events))?,
        None => {
            return Err(Invalid::field(
                "events",
                "must be a list of sample events (a belt not saved yet has no saved sample)",
            ))
        }
    };
    Ok((events, spec))
}

/// Stands in for the belt id a draft does not have, where the replica's environment is built;
/// the environment the callback sees carries no id at all (`without_id`).
const NO_ID: i64 = i64::MAX;

/// The belt the draft would be: in `project`, at version 0 (never stored).
pub(super) fn belt(project: &ProjectName, spec: BeltSpec) -> Belt {
    Belt {
        id: BeltId::new(NO_ID).unwrap_or_else(|| unreachable!("a positive id")),
        project: project.clone(),
        version: 0,
        spec,
        created_by: Person::default(),
        created_at: now_millis(),
        modified_by: Person::default(),
        modified_at: now_millis(),
        wish: Wish::default(),
    }
}

/// Every variable rendered from the id empty: `BELT_ID`, and those that carry the stand-in (the
/// consumer group, the error topic, whatever a later variable derives from the id). A draft has
/// no id, and its callback must read neither another belt's nor one that looks like a belt's.
pub(super) fn without_id(env: &mut [(String, String)]) {
    let stand_in = NO_ID.to_string();
    for (name, value) in env.iter_mut() {
        if name == "BELT_ID" || value.contains(&stand_in) {
            value.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: Value) -> String {
        let bytes = serde_json::to_vec(&body).unwrap();
        parse(&bytes, &crate::domain::defaults::for_tests())
            .unwrap_err()
            .message
    }

    #[test]
    fn bad_drafts_name_the_field() {
        let events = serde_json::json!([{"event": 1}]);
        assert!(refused(serde_json::json!({"events": events})).contains("'extractorFn'"));
        let sample = serde_json::json!({"sample": "s", "extractorFn": "x"});
        assert!(refused(sample).contains("'sample'"));
        let syntax = serde_json::json!({"events": events, "extractorFn": "def execute(:\n"});
        assert!(refused(syntax).contains("'extractorFn'"));
        let good = "def execute(headers, event):\n    return []\n";
        assert!(refused(serde_json::json!({"extractorFn": good})).contains("'events'"));
        let requirements = serde_json::json!({"events": events, "extractorFn": good, "requirementsPy": "--index-url http://x"});
        assert!(refused(requirements).contains("'requirementsPy'"));
    }

    #[test]
    fn no_variable_carries_the_stand_in_id() {
        let good = "def execute(headers, event):\n    return []\n";
        let body = serde_json::json!({"events": [{"event": 1}], "extractorFn": good});
        let (_, spec) = parse(
            &serde_json::to_vec(&body).unwrap(),
            &crate::domain::defaults::for_tests(),
        )
        .unwrap();
        let project = ProjectName::parse("team-a").unwrap();
        let belt = belt(&project, spec);
        let platform = crate::domain::replica::Platform::default();
        let replica =
            crate::domain::replica::ReplicaSpec::build(&belt, &belt.spec, 0, 0, false, &platform);
        let mut env = replica.plain_env();
        let stand_in = NO_ID.to_string();
        assert!(
            env.iter()
                .filter(|(_, value)| value.contains(&stand_in))
                .count()
                >= 2,
            "{env:?}"
        );
        without_id(&mut env);
        for (name, value) in &env {
            assert!(!value.contains(&stand_in), "{name}={value}");
        }
        let value = |wanted: &str| {
            env.iter()
                .find(|(name, _)| name == wanted)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(value("BELT_ID").as_deref(), Some(""));
        assert_eq!(value("PROJECT_NAME").as_deref(), Some("team-a"));
    }

    #[test]
    fn a_good_draft_keeps_its_callback() {
        let good = "def execute(headers, event):\n    return []\n";
        let body =
            serde_json::json!({"events": [{"event": 1}], "extractorFn": good, "parameter": "p"});
        let bytes = serde_json::to_vec(&body).unwrap();
        let (events, spec) = parse(&bytes, &crate::domain::defaults::for_tests()).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (spec.extractor_fn.as_str(), spec.parameter.as_str()),
            (good, "p")
        );
    }
}
