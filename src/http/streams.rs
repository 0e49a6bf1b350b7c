//! The NDJSON answers that stay open (watch, logs follow; docs/api.md#streams): headers, one
//! JSON object a line, and the last line of a stream that ended on its own.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;

use crate::belts::StreamEnd;

pub const NDJSON: &str = "application/x-ndjson";

/// The last line of a stream that belt-api ended: `{"type": "end", "reason": "token expired"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndLine {
    /// Always `end`.
    #[serde(rename = "type")]
    #[schema(example = "end")]
    pub kind: &'static str,
    /// Why the stream ended: `token expired`, or `server shutting down` (SIGTERM).
    #[schema(example = "token expired")]
    pub reason: &'static str,
}

impl From<StreamEnd> for EndLine {
    fn from(end: StreamEnd) -> Self {
        EndLine {
            kind: "end",
            reason: end.reason(),
        }
    }
}

/// `value` as one line.
pub fn line_of(value: &impl Serialize) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// A chunked `application/x-ndjson` answer of `lines`.
pub fn ndjson(lines: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    let mut response = Body::from_stream(lines.map(Ok::<_, Infallible>)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer answers (nginx) would hold the lines back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_line_says_why() {
        let line = line_of(&EndLine::from(StreamEnd::TokenExpired));
        assert_eq!(
            &line[..],
            b"{\"type\":\"end\",\"reason\":\"token expired\"}\n"
        );
    }
}
