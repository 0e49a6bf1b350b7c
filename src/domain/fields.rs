//! Tolerant readers for the fields of a request body. Real clients send numbers as strings, booleans
//! as strings and `""` for "unset"; each reader accepts those and answers a 400 that names the field
//! for anything else.

use serde_json::{Map, Value};

use super::invalid::Invalid;

pub struct Fields<'a> {
    map: &'a Map<String, Value>,
}

fn bad(field: &str, reason: impl std::fmt::Display) -> Invalid {
    Invalid::field(field, reason)
}

/// How a JSON value reads in an error message.
pub fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "an object".into(),
        other => other.to_string(),
    }
}

/// PostgreSQL's `text` cannot hold NUL (SQLite's can), and neither can a process environment or a
/// Kubernetes object, so NUL is refused wherever text comes in: both databases answer alike and
/// neither ever sees it.
pub fn refuse_nul(parameter: &str, text: &str) -> Result<(), Invalid> {
    if text.contains('\0') {
        Err(bad(
            parameter,
            "must not contain the NUL character (\\u0000)",
        ))
    } else {
        Ok(())
    }
}

/// [`refuse_nul`] for every string and key of a JSON body, at any depth; the message names the
/// top-level field it is in.
pub fn refuse_nul_in_body(map: &Map<String, Value>) -> Result<(), Invalid> {
    fn holds_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(holds_nul),
            Value::Object(map) => map
                .iter()
                .any(|(key, value)| key.contains('\0') || holds_nul(value)),
            _ => false,
        }
    }
    for (key, value) in map {
        if key.contains('\0') {
            return Err(Invalid::body(
                "Request body has a field name with the NUL character (\\u0000).",
            ));
        }
        if holds_nul(value) {
            return Err(bad(key, "must not contain the NUL character (\\u0000)"));
        }
    }
    Ok(())
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Fields { map }
    }

    /// The raw value; `null` counts as absent.
    pub fn raw(&self, field: &str) -> Option<&'a Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// A string; numbers and booleans are taken as their text. `None` when absent or null.
    pub fn string(&self, field: &str) -> Result<Option<String>, Invalid> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::String(s)) => refuse_nul(field, s).map(|()| Some(s.clone())),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(other) => Err(bad(
                field,
                format_args!("must be a string but is {}", describe(other)),
            )),
        }
    }

    /// A string where `""` (or absent) means the server default.
    pub fn string_or(&self, field: &str, default: &str) -> Result<String, Invalid> {
        Ok(match self.string(field)? {
            Some(s) if !s.is_empty() => s,
            _ => default.to_string(),
        })
    }

    /// A string with no server default beyond `""`.
    pub fn text(&self, field: &str) -> Result<String, Invalid> {
        self.string_or(field, "")
    }

    /// A whole number within `min..=max`, from a JSON number or a numeric string; `""` or absent
    /// gives `None`.
    pub fn number(&self, field: &str, min: u64, max: u64) -> Result<Option<u64>, Invalid> {
        let Some(value) = self.raw(field) else {
            return Ok(None);
        };
        let parsed = match value {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            None => Err(bad(
                field,
                format_args!("must be a natural number but is '{}'", describe(value)),
            )),
            Some(n) if n < min || n > max => Err(bad(
                field,
                format_args!("must be in between {min} and {max} but is '{n}'"),
            )),
            Some(n) => Ok(Some(n)),
        }
    }

    /// A boolean from `true`/`false` or their strings (any case); `""` or absent gives `None`.
    pub fn boolean(&self, field: &str) -> Result<Option<bool>, Invalid> {
        match self.raw(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(other) => Err(bad(
                field,
                format_args!("must be true or false but is '{}'", describe(other)),
            )),
        }
    }

    /// A list of strings; absent, null or `""` gives an empty list.
    pub fn string_list(&self, field: &str) -> Result<Vec<String>, Invalid> {
        match self.raw(field) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(s) => refuse_nul(field, s).map(|()| s.clone()),
                    other => Err(bad(
                        field,
                        format_args!(
                            "must be a list of strings but item {index} is {}",
                            describe(other)
                        ),
                    )),
                })
                .collect(),
            Some(other) => Err(bad(
                field,
                format_args!("must be a list of strings but is {}", describe(other)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(value: Value) -> Map<String, Value> {
        named("f", value)
    }

    fn named(field: &str, value: Value) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(field.into(), value);
        map
    }

    #[test]
    fn numbers_accept_numeric_strings() {
        for (input, expected) in [
            (json!(5), Some(5)),
            (json!("5"), Some(5)),
            (json!(" 7 "), Some(7)),
            (json!(5.0), Some(5)),
            (json!(""), None),
            (json!(null), None),
        ] {
            let map = with(input.clone());
            assert_eq!(
                Fields::new(&map).number("f", 0, 10).unwrap(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn numbers_name_the_field_when_wrong() {
        let map = named("replicas", json!("abc"));
        let err = Fields::new(&map).number("replicas", 1, 50).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Parameter 'replicas' must be a natural number but is 'abc'."
        );
        let map = with(json!(-1));
        assert!(Fields::new(&map).number("f", 0, 10).is_err());
        let map = with(json!(1.5));
        assert!(Fields::new(&map).number("f", 0, 10).is_err());
        let map = named("replicas", json!("70"));
        assert_eq!(
            Fields::new(&map)
                .number("replicas", 1, 50)
                .unwrap_err()
                .to_string(),
            "Parameter 'replicas' must be in between 1 and 50 but is '70'."
        );
    }

    #[test]
    fn booleans_accept_strings() {
        for (input, expected) in [
            (json!(true), Some(true)),
            (json!("TRUE"), Some(true)),
            (json!("false"), Some(false)),
            (json!(""), None),
        ] {
            let map = with(input);
            assert_eq!(Fields::new(&map).boolean("f").unwrap(), expected);
        }
        let map = with(json!("yes"));
        assert!(Fields::new(&map).boolean("f").is_err());
    }

    #[test]
    fn text_refuses_nul_wherever_it_is() {
        let map = named("name", json!("a\u{0}b"));
        assert_eq!(
            Fields::new(&map).string("name").unwrap_err().to_string(),
            "Parameter 'name' must not contain the NUL character (\\u0000)."
        );
        let map = named("labels", json!(["ok", "\u{0}"]));
        assert!(Fields::new(&map).string_list("labels").is_err());
        let map = named("volumes", json!({"volumes": [{"name": "x\u{0}"}]}));
        assert_eq!(
            refuse_nul_in_body(&map).unwrap_err().to_string(),
            "Parameter 'volumes' must not contain the NUL character (\\u0000)."
        );
        let map = named("partitionOffsets", json!({"k\u{0}": [1]}));
        assert!(refuse_nul_in_body(&map).is_err());
        let map = named("a\u{0}", json!(1));
        assert!(refuse_nul_in_body(&map).is_err());
        let map = named("name", json!("plain \\ % _ \u{1F600}"));
        assert!(refuse_nul_in_body(&map).is_ok());
    }

    #[test]
    fn strings_refuse_structures() {
        let map = named("name", json!({"a": 1}));
        assert_eq!(
            Fields::new(&map).string("name").unwrap_err().to_string(),
            "Parameter 'name' must be a string but is an object."
        );
        let map = with(json!(12));
        assert_eq!(Fields::new(&map).string("f").unwrap(), Some("12".into()));
    }
}
