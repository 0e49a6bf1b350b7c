//! `If-Match` (docs/api.md#put-etag-and-if-match).
//!
//! RFC 9110 §13.1.1: `If-Match` uses the strong comparison, so a weak tag (`W/"3"`) never
//! matches, even when it names the current version: it is read (a list may mix both kinds) and
//! contributes no version, and a list of weak tags alone answers 412. `*` matches any current
//! version. Parsed here rather than with `headers::IfMatch` so that the versions can be handed to
//! the locked write, and a malformed header is refused in a sentence that names it.

use axum::http::{header, HeaderMap, HeaderValue};

use crate::domain::{Invalid, Precondition};

/// `Any` when absent or `*`; otherwise the versions its strong tags name (none, for weak tags alone).
pub fn precondition(headers: &HeaderMap) -> Result<Precondition, Invalid> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(Precondition::Any);
    };
    let text = value
        .to_str()
        .map_err(|_| Invalid::header("If-Match", "Header 'If-Match' is not valid text."))?;
    if text.trim() == "*" {
        return Ok(Precondition::Any);
    }
    let refused = || {
        Invalid::header(
            "If-Match",
            format!("Header 'If-Match' must hold belt versions such as '\"3\"' but is '{text}'."),
        )
    };
    let mut versions = Vec::new();
    for tag in text.split(',').map(str::trim) {
        let (weak, opaque) = match tag.strip_prefix("W/") {
            Some(opaque) => (true, opaque),
            None => (false, tag),
        };
        let version = opaque
            .trim_matches('"')
            .parse::<i64>()
            .map_err(|_| refused())?;
        if !weak {
            versions.push(version);
        }
    }
    Ok(Precondition::OneOf(versions))
}

/// The `ETag` of a belt at `version`.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("a number is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(precondition(&headers).unwrap(), Precondition::Any);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"3\", \"4\""));
        assert_eq!(
            precondition(&headers).unwrap(),
            Precondition::OneOf(vec![3, 4])
        );
        // The strong comparison: a weak tag names no version it could match.
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"3\", W/\"4\""));
        assert_eq!(
            precondition(&headers).unwrap(),
            Precondition::OneOf(vec![3])
        );
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"4\""));
        assert_eq!(precondition(&headers).unwrap(), Precondition::OneOf(vec![]));
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"x\""));
        assert!(precondition(&headers).is_err());
        headers.insert(header::IF_MATCH, HeaderValue::from_static("*"));
        assert_eq!(precondition(&headers).unwrap(), Precondition::Any);
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
        let refused = precondition(&headers).unwrap_err();
        assert_eq!(
            refused.culprit,
            crate::domain::Culprit::Header("If-Match".into())
        );
    }
}
