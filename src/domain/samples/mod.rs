//! Saved samples (docs/api.md#saved-samples): sample events kept with a belt under a name, listed
//! and replayed through test-invoke. Every rule of them is here: the name, how many a belt keeps,
//! how large one may be, and whether a save creates or replaces. The store keeps what these
//! decided.

mod events;

use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;

use super::input::parse_body;
use super::{Invalid, Person};
pub use events::{parse_events, SampleEvent, MAX_EVENTS};

/// Samples one belt keeps.
pub const MAX_SAMPLES_PER_BELT: usize = 20;
/// A sample's events, as JSON (the canonical form the API answers), at most this many bytes.
pub const MAX_SAMPLE_BYTES: usize = 64 * 1024;
/// Characters of a name, the first included.
pub const MAX_NAME_LEN: usize = 63;

/// A sample's name: 1 to 63 ASCII letters, digits, `.`, `_` and `-`, starting with a letter or
/// a digit (`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`), so it is a path segment as it stands. Case
/// matters: `Order` and `order` are two samples.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SampleName(String);

impl SampleName {
    /// Parses a name; `field` names it in the refusal (`name` in a path, `sample` in a body).
    pub fn parse(text: &str, field: &str) -> Result<Self, Invalid> {
        let bytes = text.as_bytes();
        let valid = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.len() <= MAX_NAME_LEN
            && (bytes.iter()).all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if valid {
            Ok(SampleName(text.to_owned()))
        } else {
            Err(Invalid::field(
                field,
                format!(
                    "must be 1 to {MAX_NAME_LEN} letters, digits, '.', '_' or '-', starting with \
                     a letter or digit, but is '{text}'"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SampleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Sample events that may be saved: valid as test-invoke's `events`, and at most
/// [`MAX_SAMPLE_BYTES`] as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEvents {
    events: Vec<SampleEvent>,
    /// The events as JSON: what is stored and what the size is measured on.
    json: String,
}

impl SampleEvents {
    /// A list that passed [`parse_events`], if it is small enough.
    pub fn new(events: Vec<SampleEvent>) -> Result<Self, Invalid> {
        let json = serde_json::to_string(&events)
            .map_err(|err| Invalid::field("events", format!("cannot be written: {err}")))?;
        if json.len() > MAX_SAMPLE_BYTES {
            return Err(Invalid::field(
                "events",
                format!(
                    "must be at most {MAX_SAMPLE_BYTES} bytes as JSON but is {} bytes",
                    json.len()
                ),
            ));
        }
        Ok(SampleEvents { events, json })
    }

    /// The body of a save: `{"events": [...]}`, any other field ignored.
    pub fn parse_body(bytes: &[u8]) -> Result<Self, Invalid> {
        let body = parse_body(bytes)?;
        super::fields::refuse_nul_in_body(&body)?;
        Self::new(parse_events(body.get("events"))?)
    }

    /// Events as stored (`as_json`); what no longer reads is a corrupt store, and says why.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(json).map_err(|err| err.to_string())?;
        let events = parse_events(Some(&value)).map_err(|invalid| invalid.message)?;
        Ok(SampleEvents {
            events,
            json: json.to_owned(),
        })
    }

    pub fn events(&self) -> &[SampleEvent] {
        &self.events
    }

    pub fn into_events(self) -> Vec<SampleEvent> {
        self.events
    }

    pub fn as_json(&self) -> &str {
        &self.json
    }
}

/// A sample kept with a belt: its events, and who saved it last and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: SampleName,
    pub events: SampleEvents,
    pub saved_by: Person,
    pub saved_at: OffsetDateTime,
}

/// What a save did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saving {
    Created,
    Replaced,
}

/// Whether `name` may be saved with a belt that keeps the samples `kept`: a name it keeps is
/// replaced; a new one needs room under [`MAX_SAMPLES_PER_BELT`], else it is refused naming
/// `name` (delete one first).
pub fn admit(kept: &[SampleName], name: &SampleName) -> Result<Saving, Invalid> {
    if kept.contains(name) {
        return Ok(Saving::Replaced);
    }
    if kept.len() >= MAX_SAMPLES_PER_BELT {
        return Err(Invalid::field(
            "name",
            format!(
                "is not a sample of this belt, which already keeps {} samples, the most it may: \
                 delete one, or save under a name it keeps",
                kept.len()
            ),
        ));
    }
    Ok(Saving::Created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn name(text: &str) -> SampleName {
        SampleName::parse(text, "name").unwrap()
    }

    #[test]
    fn names_follow_the_pattern() {
        for good in ["a", "Order-7", "7.v2_x", &"x".repeat(63)] {
            assert_eq!(name(good).as_str(), good);
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a b",
            "a/b",
            "é",
            "a\u{0}",
            &"x".repeat(64),
        ] {
            let refused = SampleName::parse(bad, "sample").unwrap_err();
            assert!(refused.message.contains("'sample'"), "{bad}: {refused}");
        }
    }

    #[test]
    fn a_belt_keeps_at_most_twenty_and_a_kept_name_is_replaced() {
        let kept: Vec<_> = (0..MAX_SAMPLES_PER_BELT)
            .map(|n| name(&format!("s{n}")))
            .collect();
        assert_eq!(admit(&kept[..19], &name("new")), Ok(Saving::Created));
        assert_eq!(admit(&kept, &name("s3")), Ok(Saving::Replaced));
        let full = admit(&kept, &name("new")).unwrap_err();
        assert!(full.message.starts_with("Parameter 'name'"), "{full}");
    }

    #[test]
    fn the_size_is_the_events_as_json() {
        let big = "x".repeat(MAX_SAMPLE_BYTES);
        let body = serde_json::to_vec(&json!({"events": [{"event": big}]})).unwrap();
        let refused = SampleEvents::parse_body(&body).unwrap_err();
        assert!(refused.message.contains("'events'") && refused.message.contains("65536"));
        let fits = "x".repeat(MAX_SAMPLE_BYTES - 40);
        let body = serde_json::to_vec(&json!({"events": [{"event": fits}]})).unwrap();
        let saved = SampleEvents::parse_body(&body).unwrap();
        assert!(saved.as_json().len() <= MAX_SAMPLE_BYTES);
        assert_eq!(SampleEvents::from_json(saved.as_json()).unwrap(), saved);
        let nul = SampleEvents::parse_body(br#"{"events": [{"event": "a\u0000"}]}"#);
        assert!(nul.unwrap_err().message.contains("NUL"));
    }
}
