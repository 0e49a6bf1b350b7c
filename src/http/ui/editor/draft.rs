//! What the editor's form holds, read from a submitted form or from a stored belt, and the JSON
//! body it becomes for the create and replace use cases (the API's own body, so the use case
//! reads it exactly as it reads a `POST` or `PUT`).

use serde_json::{Map, Value};

use crate::domain::{Belt, Invalid, Precondition};
use crate::http::ui::form::Form;

/// The callback a new belt starts from: the smallest `execute` the check accepts.
const STARTER: &str = "def execute(headers, event):\n    return []\n";
/// The sample event the test panel starts from.
const SAMPLE: &str = "{\"id\": 1}";

/// The form's fields, as text: the use case parses them, and refuses them naming the field.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub name: String,
    pub description: String,
    /// Event type names, separated by commas or blanks.
    pub event_types: String,
    /// Blank for the server default.
    pub replicas: String,
    pub extractor_fn: String,
    pub requirements_py: String,
    /// The test panel's sample: one event (JSON), or the API's `{"events": [...]}`.
    pub sample: String,
    /// The saved sample the test panel's select names, to load.
    pub saved: String,
    /// The name the test panel's "Save as…" saves the sample under.
    pub sample_name: String,
    /// The version the edit page showed: the save's `If-Match`.
    pub version: Option<String>,
}

/// A textarea's value as it was typed: browsers submit every line end as `\r\n` (HTML's form
/// encoding), which would otherwise turn each save from the console into a change of every line.
fn typed(form: &Form, name: &str) -> String {
    form.field(name).unwrap_or_default().replace("\r\n", "\n")
}

impl Draft {
    pub fn blank() -> Draft {
        Draft {
            extractor_fn: STARTER.to_owned(),
            sample: SAMPLE.to_owned(),
            ..Draft::default()
        }
    }

    pub fn of(belt: &Belt) -> Draft {
        let spec = &belt.spec;
        Draft {
            name: spec.name.clone(),
            description: spec.description.clone(),
            event_types: spec.event_types.join(", "),
            replicas: spec.replicas.to_string(),
            extractor_fn: spec.extractor_fn.clone(),
            requirements_py: spec.requirements_py.clone(),
            sample: SAMPLE.to_owned(),
            version: Some(belt.version.to_string()),
            ..Draft::default()
        }
    }

    pub fn read(form: &Form) -> Draft {
        let line = |name: &str| form.field(name).unwrap_or_default().to_owned();
        Draft {
            name: line("name"),
            description: typed(form, "description"),
            event_types: line("eventTypes"),
            replicas: line("replicas").trim().to_owned(),
            extractor_fn: typed(form, "extractorFn"),
            requirements_py: typed(form, "requirementsPy"),
            sample: typed(form, "sample"),
            saved: line("saved"),
            sample_name: line("sampleName").trim().to_owned(),
            version: form.field("version").map(str::to_owned),
        }
    }

    /// The body of a create or replace: `base` (for an edit, the belt's own fields, so that what
    /// the form does not show is kept) with the form's fields over it.
    pub fn body(&self, mut base: Map<String, Value>) -> Vec<u8> {
        base.remove("id");
        let event_types: Vec<Value> = self
            .event_types
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|name| !name.is_empty())
            .map(Value::from)
            .collect();
        base.insert("name".into(), Value::from(self.name.as_str()));
        base.insert("description".into(), self.description.as_str().into());
        base.insert("eventTypes".into(), Value::Array(event_types));
        base.insert("extractorFn".into(), self.extractor_fn.as_str().into());
        base.insert(
            "requirementsPy".into(),
            self.requirements_py.as_str().into(),
        );
        if self.replicas.is_empty() {
            base.remove("replicas");
        } else {
            // As text: the use case reads "3" as 3 and names `replicas` when it is no number.
            base.insert("replicas".into(), self.replicas.as_str().into());
        }
        serde_json::to_vec(&Value::Object(base)).unwrap_or_default()
    }

    /// The version the page showed, as the `If-Match` of the save.
    pub fn precondition(&self) -> Result<Precondition, Invalid> {
        self.version
            .as_deref()
            .and_then(|v| v.parse::<i64>().ok())
            .map(|v| Precondition::OneOf(vec![v]))
            .ok_or_else(|| {
                Invalid::field_message("version", "Field 'version' must be a belt version.")
            })
    }

    /// The test panel's events, as the API's `events` list: the sample is one event, unless it
    /// is an object whose only field is an `events` list (a saved sample of several events, or
    /// with headers, loads so). A sample that is not JSON is refused naming it.
    pub fn sample_events(&self) -> Result<Value, Invalid> {
        let sample: Value = serde_json::from_str(&self.sample).map_err(|err| {
            Invalid::field_message("sample", format!("The sample event is not JSON: {err}."))
        })?;
        match sample {
            Value::Object(mut whole)
                if whole.len() == 1 && whole.get("events").is_some_and(Value::is_array) =>
            {
                Ok(whole.remove("events").unwrap_or_default())
            }
            event => Ok(serde_json::json!([{ "event": event }])),
        }
    }

    /// The test panel's body for the invoke use case: the sample's events, and the editor's
    /// current callback and requirements as drafts.
    pub fn invoke_body(&self) -> Result<Vec<u8>, Invalid> {
        let body = serde_json::json!({
            "events": self.sample_events()?,
            "extractorFn": self.extractor_fn,
            "requirementsPy": self.requirements_py,
        });
        Ok(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// The body of "Save as…" for the save use case: the sample's events.
    pub fn sample_body(&self) -> Result<Vec<u8>, Invalid> {
        let body = serde_json::json!({ "events": self.sample_events()? });
        Ok(serde_json::to_vec(&body).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_the_api_body_over_the_belt_fields_it_does_not_show() {
        let form = Form::parse(
            b"name=b&eventTypes=a%2C+b++c&replicas=&extractorFn=x+%3D+1%0D%0Ay&version=4",
        );
        let draft = Draft::read(&form);
        assert_eq!(draft.extractor_fn, "x = 1\ny");
        let mut base = Map::new();
        base.insert("id".into(), "7".into());
        base.insert("replicas".into(), 3.into());
        base.insert("labels".into(), serde_json::json!(["kept"]));
        let body: Value = serde_json::from_slice(&draft.body(base)).unwrap();
        assert_eq!(body["eventTypes"], serde_json::json!(["a", "b", "c"]));
        assert_eq!(body["labels"], serde_json::json!(["kept"]));
        assert!(body.get("id").is_none() && body.get("replicas").is_none());
        assert_eq!(draft.precondition(), Ok(Precondition::OneOf(vec![4])));
        let bad = Draft {
            sample: "{nope".into(),
            ..Draft::blank()
        };
        assert!(bad.invoke_body().unwrap_err().message.contains("sample"));
    }

    #[test]
    fn a_sample_is_one_event_unless_it_is_an_events_list_alone() {
        let events = |sample: &str| {
            let draft = Draft {
                sample: sample.into(),
                ..Draft::blank()
            };
            draft.sample_events().unwrap()
        };
        assert_eq!(events("[1, 2]"), serde_json::json!([{"event": [1, 2]}]));
        let list = r#"{"events": [{"event": 1, "headers": {"h": "v"}}, {"event": 2}]}"#;
        assert_eq!(events(list)[0]["headers"]["h"], "v");
        assert_eq!(events(list)[1]["event"], 2);
        let event_with_events = r#"{"events": [1], "id": 7}"#;
        assert_eq!(events(event_with_events)[0]["event"]["id"], 7);
        let not_a_list = r#"{"events": 3}"#;
        assert_eq!(events(not_a_list)[0]["event"]["events"], 3);
        assert_eq!(
            events(r#"{"id": 7}"#),
            serde_json::json!([{"event": {"id": 7}}])
        );
    }
}
