//! `If-Match` (docs/api.md#put-etag-and-if-match).
//!
//! Parsed here rather than with `headers::IfMatch`: that type only answers
//! `precondition_passes(&ETag)` with the strong comparison, so a weak `W/"3"` would never match
//! and the versions it names cannot be read out; and its refusal could not name the header in the
//! sentence the client reads.

use axum::http::{header, HeaderMap, HeaderValue};

use crate::domain::{Invalid, Precondition};

/// `Any` when absent or `*`; otherwise the versions it names.
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
    text.split(',')
        .map(|tag| {
            let tag = tag.trim();
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            tag.trim_matches('"').parse::<i64>().map_err(|_| {
                Invalid::header(
                    "If-Match",
                    format!(
                        "Header 'If-Match' must hold belt versions such as '\"3\"' but is '{text}'."
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Precondition::OneOf)
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
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"3\", W/\"4\""));
        assert_eq!(
            precondition(&headers).unwrap(),
            Precondition::OneOf(vec![3, 4])
        );
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
