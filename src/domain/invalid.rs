//! Why a value from a client is refused, in the domain's words: which field, and why. The HTTP edge
//! turns it into a 400 (docs/api.md#errors); the domain knows nothing of status codes.

use std::fmt::Display;

/// A refused value. `message` is the sentence the client reads; it always names the culprit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub culprit: Culprit,
    pub message: String,
    /// Where in the field's text, when the field is source code (a Python syntax error): an
    /// editor marks that line. The message says it too, for a client that reads only the text.
    pub at: Option<SourceAt>,
}

/// A place in a field's text: 1-based line and column (in characters, as CPython counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceAt {
    pub line: usize,
    pub column: usize,
}

/// What the refused value was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Culprit {
    /// A path or query parameter, or a body field, by the name the client used (`beltId`, `name`).
    Field(String),
    /// A request header (`If-Match`).
    Header(String),
    /// The request body as a whole (missing, not JSON, not an object).
    Body,
}

impl Invalid {
    /// `Parameter '<field>' <reason>.`, the form of nearly every refusal.
    pub fn field(field: &str, reason: impl Display) -> Self {
        Self::field_message(field, format!("Parameter '{field}' {reason}."))
    }

    /// A refusal of `field` whose message is already a whole sentence that names it.
    pub fn field_message(field: &str, message: impl Into<String>) -> Self {
        Invalid {
            culprit: Culprit::Field(field.to_string()),
            message: message.into(),
            at: None,
        }
    }

    /// The same refusal, pointing at `at` in the field's text.
    pub fn at(self, at: SourceAt) -> Self {
        Invalid {
            at: Some(at),
            ..self
        }
    }

    pub fn header(name: &str, message: impl Into<String>) -> Self {
        Invalid {
            culprit: Culprit::Header(name.to_string()),
            message: message.into(),
            at: None,
        }
    }

    pub fn body(message: impl Into<String>) -> Self {
        Invalid {
            culprit: Culprit::Body,
            message: message.into(),
            at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_field() {
        let invalid = Invalid::field("replicas", "must be in between 0 and 100 but is '-1'");
        assert_eq!(
            invalid.to_string(),
            "Parameter 'replicas' must be in between 0 and 100 but is '-1'."
        );
        assert_eq!(invalid.culprit, Culprit::Field("replicas".into()));
    }
}
