//! Renders every error response in the one error body (docs/api.md#errors), whoever produced it:
//! our handlers (which attach an `ErrorReport`), the router (404/405) or a body limit (413).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiError, ErrorKind, ErrorReport};
use super::query::Query;

/// Bodies above this are refused with 413 before they are read to the end.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The content type of the console's pages (`ui`).
pub const UI_PAGE: &str = "text/html; charset=utf-8";

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Epoch milliseconds.
    #[schema(example = 1587302499600_i64)]
    pub timestamp: i64,
    #[serde(rename = "type")]
    #[schema(example = "bad_parameter_value")]
    pub kind: &'static str,
    #[schema(example = "Parameter 'pagesize' must be a natural number but is '-1'.")]
    pub message: String,
    #[schema(example = "uri=/projects/global/belts")]
    pub details: String,
}

pub async fn render_errors(request: Request, next: Next) -> Response {
    // The Uri, not its path as a String: a clone shares the bytes, and most answers never need it.
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    // The console's pages say what went wrong in HTML, for a person; the API's error body is
    // for programs.
    if response.headers().get(header::CONTENT_TYPE) == Some(&HeaderValue::from_static(UI_PAGE)) {
        return response;
    }
    let report = response.extensions().get::<ErrorReport>().cloned();
    let (kind, message) = match report {
        Some(report) => (report.kind, report.message),
        None => {
            let kind = ErrorKind::for_status(status);
            (kind, default_message(kind, status))
        }
    };
    let body = ErrorBody {
        timestamp: crate::domain::belt::epoch_millis(time::OffsetDateTime::now_utc()),
        kind: kind.as_str(),
        message,
        details: format!("uri={}", uri.path()),
    };
    let (mut parts, _) = response.into_parts();
    parts.status = kind.status();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, Body::from(bytes))
}

fn default_message(kind: ErrorKind, status: axum::http::StatusCode) -> String {
    match kind {
        ErrorKind::EntityNotFound => "No such resource.".into(),
        ErrorKind::MethodNotAllowed => "Method not allowed on this resource.".into(),
        ErrorKind::PayloadTooLarge => {
            format!("Request body is larger than {} bytes.", MAX_BODY_BYTES)
        }
        ErrorKind::AuthenticationError => "Authentication failed.".into(),
        ErrorKind::EntityNotAccessible => "Access forbidden due to missing roles.".into(),
        ErrorKind::UnexpectedError => "An unexpected error occurred.".into(),
        _ => status
            .canonical_reason()
            .map(|reason| format!("{reason}."))
            .unwrap_or_else(|| "Request failed.".into()),
    }
}

pub async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError::NotFound(format!("No resource at '{}'.", uri.path())).into_response()
}

pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let mut response = axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response();
    response.extensions_mut().insert(ErrorReport {
        kind: ErrorKind::MethodNotAllowed,
        message: format!("Method '{method}' is not allowed on '{}'.", uri.path()),
    });
    response
}

/// Refuses NUL in any query parameter (name or value) of any request, before a handler reads it:
/// PostgreSQL cannot compare or store it, SQLite can, and both must answer alike.
pub async fn refuse_nul_in_query(request: Request, next: Next) -> Response {
    if let Some(query) = request.uri().query() {
        // The `%00` test spares the decoding of every other query.
        if query.contains("%00") || query.contains('\0') {
            if let Some(refusal) = Query::of(Some(query)).nul_refusal() {
                return ApiError::BadParameter(refusal).into_response();
            }
        }
    }
    next.run(request).await
}
