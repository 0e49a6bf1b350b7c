//! Sample events as test-invoke runs them and a saved sample keeps them: the one reading of an
//! `events` list (docs/api.md#test-invoke), shared by test-invoke's body, a saved sample's body
//! and a saved sample read back from the store.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::Invalid;

/// Events one invocation, and so one saved sample, may carry.
pub const MAX_EVENTS: usize = 100;

/// One sample event, as a replica would read it from a topic.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct SampleEvent {
    pub headers: BTreeMap<String, String>,
    /// Any JSON.
    pub event: Value,
    /// Any JSON; handed to `execute` as its third argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
}

/// The `events` field: 1 to [`MAX_EVENTS`] events, each an object with `event` and optional
/// `headers` (names to strings) and `profile`; a refusal names the field or the event's field.
pub fn parse_events(events: Option<&Value>) -> Result<Vec<SampleEvent>, Invalid> {
    let Some(Value::Array(items)) = events else {
        return Err(Invalid::field("events", "must be a list of sample events"));
    };
    if items.is_empty() || items.len() > MAX_EVENTS {
        return Err(Invalid::field(
            "events",
            format!(
                "must hold 1 to {MAX_EVENTS} events but holds {}",
                items.len()
            ),
        ));
    }
    items.iter().enumerate().map(sample_of).collect()
}

fn sample_of((index, item): (usize, &Value)) -> Result<SampleEvent, Invalid> {
    let field = |name: &str| format!("events[{index}].{name}");
    let Value::Object(item) = item else {
        return Err(Invalid::field(
            &format!("events[{index}]"),
            "must be an object",
        ));
    };
    let event = item
        .get("event")
        .cloned()
        .ok_or_else(|| Invalid::field(&field("event"), "is required"))?;
    let headers = match item.get("headers") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(headers)) => headers
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => Ok((name.clone(), text.clone())),
                _ => Err(Invalid::field(
                    &field("headers"),
                    format!("must map names to strings, but '{name}' is not a string"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(Invalid::field(
                &field("headers"),
                "must be an object of strings",
            ))
        }
    };
    Ok(SampleEvent {
        headers,
        event,
        profile: item.get("profile").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(events: Value) -> String {
        parse_events(Some(&events)).unwrap_err().message
    }

    #[test]
    fn bad_lists_name_the_field() {
        assert!(parse_events(None).unwrap_err().message.contains("'events'"));
        assert!(refused(json!([])).contains("'events'"));
        let many: Vec<_> = (0..101).map(|_| json!({"event": {}})).collect();
        assert!(refused(json!(many)).contains("holds 101"));
        assert!(refused(json!([1])).contains("'events[0]'"));
        assert!(refused(json!([{"event": 1}, {"headers": {}}])).contains("events[1].event"));
        assert!(refused(json!([{"event": 1, "headers": {"a": 1}}])).contains("events[0].headers"));
        assert!(refused(json!([{"event": 1, "headers": ["a"]}])).contains("events[0].headers"));
    }

    #[test]
    fn a_list_reads_back_from_what_it_writes() {
        let events = json!([{"event": {"x": 1}, "headers": {"h": "v"}, "profile": {"p": 1}},
            {"event": null}]);
        let parsed = parse_events(Some(&events)).unwrap();
        assert_eq!(parsed[0].headers["h"], "v");
        assert_eq!(parsed[0].profile, Some(json!({"p": 1})));
        assert_eq!(parsed[1].event, Value::Null);
        let written = serde_json::to_value(&parsed).unwrap();
        assert_eq!(written[1], json!({"headers": {}, "event": null}));
        assert_eq!(parse_events(Some(&written)).unwrap(), parsed);
    }
}
