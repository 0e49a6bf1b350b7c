//! What a registry answer says about one event type, read strictly (docs/upstream-trust.md).
//!
//! A Harvester API answers `GET …/event-types/{name}` with all versions of the event type, wrapped
//! as `{"eventTypes": [...]}`; other deployments answer one record, a bare list of versions, or a
//! Spring page `{"content": [...]}`. Whatever the shape, the answer must hold a record named
//! exactly like the event type asked for, and that record must say who may consume it (or
//! produce it). Anything else is not understood, and not understood is never "open to all".

use serde_json::{Map, Value};

/// Who may consume (or produce) an event type, according to the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holders {
    /// The record names none of the roles that guard this use (each explicitly null or empty).
    EveryProjectMember,
    /// The caller must hold one of these roles.
    RoleHolders(Vec<String>),
}

/// Reads who may consume `name` from a registry answer, or says why the answer is not understood:
/// the holders of its `consumer` or `editor` roles.
pub(crate) fn consumers(answer: &Value, name: &str) -> Result<Holders, String> {
    let record = record_of(answer, name)?;
    let mut roles = role_field(record, "consumer")?;
    roles.extend(role_field(record, "editor")?);
    Ok(holders(roles))
}

/// Reads who may produce `name` (write it as an output type): the holders of its `editor` role,
/// or of its `producer` role where the record names one. `editor` must be there, as for
/// consuming; `producer` is optional, since registries without producers do not write it.
pub(crate) fn producers(answer: &Value, name: &str) -> Result<Holders, String> {
    let record = record_of(answer, name)?;
    let mut roles = role_field(record, "editor")?;
    if record.contains_key("producer") {
        roles.extend(role_field(record, "producer")?);
    }
    Ok(holders(roles))
}

fn holders(roles: Vec<String>) -> Holders {
    if roles.is_empty() {
        Holders::EveryProjectMember
    } else {
        Holders::RoleHolders(roles)
    }
}

/// The one record that decides about `name`: the only one of that name, or its latest version.
fn record_of<'a>(answer: &'a Value, name: &str) -> Result<&'a Map<String, Value>, String> {
    let records = records(answer)?;
    let mut matching = Vec::new();
    for record in records {
        match record.get("name") {
            Some(Value::String(n)) if n == name => matching.push(record),
            Some(Value::String(_)) => {}
            _ => return Err("a record without a string 'name'".into()),
        }
    }
    match matching.as_slice() {
        [] => Err(format!("no record named '{name}'")),
        [one] => Ok(*one),
        several => latest_version(several),
    }
}

/// The records of an answer: one object, a bare list, or a list under `eventTypes` or `content`.
fn records(answer: &Value) -> Result<Vec<&Map<String, Value>>, String> {
    let list = match answer {
        Value::Object(map) => {
            let wrapped: Vec<&str> = ["eventTypes", "content"]
                .into_iter()
                .filter(|key| map.contains_key(*key))
                .collect();
            match wrapped.as_slice() {
                [] => return Ok(vec![map]),
                [key] if !map.contains_key("name") => match &map[*key] {
                    Value::Array(items) => items,
                    _ => return Err(format!("'{key}' is not a list")),
                },
                _ => return Err("an object that is both a record and a list, or two lists".into()),
            }
        }
        Value::Array(items) => items,
        _ => return Err("neither an event type record nor a list of them".into()),
    };
    list.iter()
        .map(|item| {
            item.as_object()
                .ok_or_else(|| "a list item that is not an object".to_string())
        })
        .collect()
}

/// Among several versions of one event type, the latest decides; versions must be natural
/// numbers (JSON numbers or digit strings) and the latest must be unique.
fn latest_version<'a>(
    records: &[&'a Map<String, Value>],
) -> Result<&'a Map<String, Value>, String> {
    let mut versioned = Vec::with_capacity(records.len());
    for record in records {
        let version = match record.get("version") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok()
            }
            _ => None,
        }
        .ok_or("several records without a natural 'version'")?;
        versioned.push((version, *record));
    }
    let latest = versioned.iter().map(|(v, _)| *v).max().unwrap_or(0);
    match versioned
        .iter()
        .filter(|(v, _)| *v == latest)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [(_, record)] => Ok(record),
        _ => Err(format!("several records of version {latest}")),
    }
}

/// A role field: null, `""` or `[]` name no role; a string or a list of non-empty strings name
/// roles; a missing field or any other type is not understood.
fn role_field(record: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match record.get(key) {
        None => Err(format!("a record without '{key}'")),
        Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(role)) if role.is_empty() => Ok(Vec::new()),
        Some(Value::String(role)) => Ok(vec![role.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(role) if !role.is_empty() => Ok(role.clone()),
                _ => Err(format!("'{key}' holds something other than role names")),
            })
            .collect(),
        Some(_) => Err(format!("'{key}' is neither a role name nor a list of them")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open(name: &str) -> Value {
        json!({"name": name, "consumer": null, "editor": null})
    }

    fn guarded(name: &str, version: Value) -> Value {
        json!({"name": name, "version": version, "consumer": "c", "editor": "e"})
    }

    fn roles(list: &[&str]) -> Holders {
        Holders::RoleHolders(list.iter().map(|r| r.to_string()).collect())
    }

    #[test]
    fn every_harvester_shape_is_understood() {
        let one = guarded("t", json!(1));
        assert_eq!(consumers(&one, "t"), Ok(roles(&["c", "e"])));
        let wrapped = json!({"_links": {}, "eventTypes": [one]});
        assert_eq!(consumers(&wrapped, "t"), Ok(roles(&["c", "e"])));
        let paged = json!({"content": [one], "totalElements": 1});
        assert_eq!(consumers(&paged, "t"), Ok(roles(&["c", "e"])));
        assert_eq!(consumers(&json!([one]), "t"), Ok(roles(&["c", "e"])));
        assert_eq!(consumers(&open("t"), "t"), Ok(Holders::EveryProjectMember));
        let empty = json!({"name": "t", "consumer": "", "editor": []});
        assert_eq!(consumers(&empty, "t"), Ok(Holders::EveryProjectMember));
        let listed = json!({"name": "t", "consumer": ["a", "b"], "editor": null});
        assert_eq!(consumers(&listed, "t"), Ok(roles(&["a", "b"])));
    }

    #[test]
    fn the_latest_version_decides_and_other_names_are_skipped() {
        let versions = json!({"eventTypes": [
            {"name": "t", "version": "2", "consumer": null, "editor": null},
            guarded("t", json!("10")),
            open("other"),
        ]});
        assert_eq!(consumers(&versions, "t"), Ok(roles(&["c", "e"])));
        let tie = json!([guarded("t", json!(3)), open("t")]);
        assert!(consumers(
            &json!([guarded("t", json!(3)), guarded("t", json!("3"))]),
            "t"
        )
        .is_err());
        assert!(consumers(&tie, "t").is_err(), "versionless duplicates");
    }

    #[test]
    fn producers_hold_the_editor_role_or_a_producer_role_the_record_names() {
        let record = json!({"name": "t", "consumer": "c", "editor": "e", "producer": ["p"]});
        assert_eq!(producers(&record, "t"), Ok(roles(&["e", "p"])));
        let without = json!({"name": "t", "consumer": "c", "editor": "e"});
        assert_eq!(producers(&without, "t"), Ok(roles(&["e"])));
        // A consumer role says nothing about writing.
        let open = json!({"name": "t", "consumer": "c", "editor": null, "producer": null});
        assert_eq!(producers(&open, "t"), Ok(Holders::EveryProjectMember));
        for answer in [
            json!({"name": "t", "consumer": null}),
            json!({"name": "t", "editor": "e", "producer": 5}),
            json!({"name": "t", "editor": "e", "producer": [""]}),
            json!({"name": "t", "editor": "e", "producer": {"role": "p"}}),
            json!({"name": "other", "editor": "e"}),
            json!([]),
        ] {
            assert!(producers(&answer, "t").is_err(), "accepted {answer}");
        }
    }

    #[test]
    fn anything_else_is_not_understood() {
        let other = open("other");
        for answer in [
            json!([]),
            json!({}),
            Value::Null,
            json!("t"),
            json!(7),
            json!(true),
            json!({"eventTypes": []}),
            json!({"content": {}}),
            json!({"eventTypes": [open("t")], "content": [open("t")]}),
            json!({"name": "t", "consumer": null, "editor": null, "eventTypes": []}),
            other.clone(),
            json!([other]),
            json!([open("t"), 5]),
            json!({"name": "t"}),
            json!({"name": "t", "consumer": null}),
            json!({"name": "t", "editor": null}),
            json!({"name": "t", "consumer": 5, "editor": null}),
            json!({"name": "t", "consumer": {"role": "c"}, "editor": null}),
            json!({"name": "t", "consumer": ["c", 5], "editor": null}),
            json!({"name": "t", "consumer": [""], "editor": null}),
            json!({"name": "T", "consumer": null, "editor": null}),
            json!({"roles": {"consumer": "c"}, "name": "t"}),
        ] {
            assert!(consumers(&answer, "t").is_err(), "accepted {answer}");
        }
    }
}
