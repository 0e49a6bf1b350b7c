//! The one error type of the API. Every failure a client can see is one of these variants, and each
//! maps to exactly one row of the error table (docs/api.md#errors).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::belts::{BeltError, Dependency, StreamShare};
use crate::invoke::Full;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadParameter(String),
    #[error("{0}")]
    BadHeader(String),
    #[error("Authentication failed.")]
    Unauthenticated,
    #[error("Access forbidden due to missing roles.")]
    Forbidden,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    InUse(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// What a watch asked to resume from was pruned; the client must re-list.
    #[error("{0}")]
    Gone(String),
    /// Every slot of a bounded resource is taken; the client may retry after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// Internal failure: the detail goes to the log, never to the client.
    #[error("An unexpected error occurred.")]
    Unexpected(#[source] anyhow::Error),
}

impl ApiError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ApiError::BadParameter(_) => ErrorKind::BadParameterValue,
            ApiError::BadHeader(_) => ErrorKind::BadHeaderValue,
            ApiError::Unauthenticated => ErrorKind::AuthenticationError,
            ApiError::Forbidden => ErrorKind::EntityNotAccessible,
            ApiError::NotFound(_) => ErrorKind::EntityNotFound,
            ApiError::AlreadyExists(_) => ErrorKind::EntityAlreadyExists,
            ApiError::PreconditionFailed(_) => ErrorKind::PreconditionFailed,
            ApiError::InUse(_) => ErrorKind::EntityInUse,
            ApiError::Conflict(_) => ErrorKind::Conflict,
            ApiError::Unavailable(_) => ErrorKind::ServiceUnavailable,
            ApiError::Gone(_) => ErrorKind::ResyncRequired,
            ApiError::TooManyRequests { .. } => ErrorKind::TooManyRequests,
            ApiError::Unexpected(_) => ErrorKind::UnexpectedError,
        }
    }
}

/// The `type` values of the error body, with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadParameterValue,
    BadHeaderValue,
    AuthenticationError,
    EntityNotAccessible,
    EntityNotFound,
    MethodNotAllowed,
    EntityAlreadyExists,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    EntityInUse,
    ResyncRequired,
    TooManyRequests,
    UnexpectedError,
    ServiceUnavailable,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadParameterValue => "bad_parameter_value",
            ErrorKind::BadHeaderValue => "bad_header_value",
            ErrorKind::AuthenticationError => "authentication_error",
            ErrorKind::EntityNotAccessible => "entity_not_accessible",
            ErrorKind::EntityNotFound => "entity_not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::EntityAlreadyExists => "entity_already_exists",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PreconditionFailed => "precondition_failed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::EntityInUse => "entity_in_use",
            ErrorKind::ResyncRequired => "resync_required",
            ErrorKind::TooManyRequests => "too_many_requests",
            ErrorKind::UnexpectedError => "unexpected_error",
            ErrorKind::ServiceUnavailable => "service_unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadParameterValue | ErrorKind::BadHeaderValue => StatusCode::BAD_REQUEST,
            ErrorKind::AuthenticationError => StatusCode::UNAUTHORIZED,
            ErrorKind::EntityNotAccessible => StatusCode::FORBIDDEN,
            ErrorKind::EntityNotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::EntityAlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::EntityInUse => StatusCode::FAILED_DEPENDENCY,
            ErrorKind::ResyncRequired => StatusCode::GONE,
            ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::UnexpectedError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The kind for a bare status produced outside our handlers (router fallbacks, body limits).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => ErrorKind::AuthenticationError,
            StatusCode::FORBIDDEN => ErrorKind::EntityNotAccessible,
            StatusCode::NOT_FOUND => ErrorKind::EntityNotFound,
            StatusCode::METHOD_NOT_ALLOWED => ErrorKind::MethodNotAllowed,
            StatusCode::CONFLICT => ErrorKind::EntityAlreadyExists,
            StatusCode::PRECONDITION_FAILED => ErrorKind::PreconditionFailed,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
            StatusCode::FAILED_DEPENDENCY => ErrorKind::EntityInUse,
            StatusCode::GONE => ErrorKind::ResyncRequired,
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::TooManyRequests,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                ErrorKind::ServiceUnavailable
            }
            s if s.is_client_error() => ErrorKind::BadParameterValue,
            _ => ErrorKind::UnexpectedError,
        }
    }
}

/// Carried in the response extensions; the error-rendering middleware turns it into the error
/// body, because only the middleware knows the request path that goes into `details`.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub kind: ErrorKind,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        if let ApiError::Unexpected(err) = &self {
            tracing::error!(error = ?err, "request failed");
        } else if kind == ErrorKind::ServiceUnavailable {
            tracing::warn!(reason = %self, "dependency unavailable");
        }
        let mut response = kind.status().into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(*retry_after_secs),
            );
        }
        response.extensions_mut().insert(ErrorReport {
            kind,
            message: self.to_string(),
        });
        response
    }
}

impl From<crate::domain::Invalid> for ApiError {
    fn from(invalid: crate::domain::Invalid) -> Self {
        match invalid.culprit {
            crate::domain::Culprit::Header(_) => ApiError::BadHeader(invalid.message),
            _ => ApiError::BadParameter(invalid.message),
        }
    }
}

/// The one mapping from a use case's error to what the client reads.
impl From<BeltError> for ApiError {
    fn from(err: BeltError) -> Self {
        match err {
            BeltError::Invalid(invalid) => invalid.into(),
            BeltError::NotFound(id) => ApiError::NotFound(format!("Belt with ID '{id}' not found.")),
            BeltError::RevisionNotFound { id, version } => ApiError::NotFound(format!(
                "Version '{version}' of belt with ID '{id}' is not kept (unknown or pruned)."
            )),
            BeltError::SampleNotFound { id, name } => ApiError::NotFound(format!(
                "Belt with ID '{id}' keeps no saved sample named '{name}'."
            )),
            BeltError::NoOlderRevision { id, current } => ApiError::NotFound(format!(
                "Belt with ID '{id}' keeps no version older than its current version '{current}' to roll back to."
            )),
            BeltError::VersionMismatch { id, current } => ApiError::PreconditionFailed(format!(
                "Belt with ID '{id}' is at version '{current}', which 'If-Match' does not name."
            )),
            BeltError::IdTaken(id) => {
                ApiError::AlreadyExists(format!("Belt with ID '{id}' already exists."))
            }
            BeltError::NameTaken(name) => ApiError::AlreadyExists(format!(
                "Parameter 'name' must be unique in the project but a belt named '{name}' already exists."
            )),
            BeltError::Forbidden => ApiError::Forbidden,
            BeltError::Unavailable(what) => ApiError::Unavailable(unavailable(what)),
            BeltError::InUse(reason) => ApiError::InUse(format!(
                "The belt's runtime objects are in use by something belt-api does not manage: {reason}"
            )),
            BeltError::Busy { full, retry_after } => ApiError::TooManyRequests {
                message: busy(full),
                retry_after_secs: seconds(retry_after),
            },
            BeltError::TooManyStreams {
                share,
                cap,
                retry_after,
            } => ApiError::TooManyRequests {
                message: too_many_streams(share, cap),
                retry_after_secs: seconds(retry_after),
            },
            BeltError::NoDataPlane => ApiError::NotFound(
                "This belt-api has no data plane (no Kafka configured), so belts have no offsets."
                    .into(),
            ),
            BeltError::GroupBusy(message) => ApiError::Conflict(message),
            BeltError::Gone(message) => ApiError::Gone(message),
            BeltError::Unexpected(err) => ApiError::Unexpected(err),
        }
    }
}

/// Which test-invoke slots are all busy.
fn busy(full: Full) -> String {
    match full {
        Full::Server(slots) => {
            format!("All {slots} test-invoke slots are busy; try again in a few seconds.")
        }
        Full::Project(slots) => format!(
            "All {slots} test-invoke slots this project may hold at once are busy \
             (its share of the server's); try again in a few seconds."
        ),
    }
}

/// Whose share of open streams is taken.
fn too_many_streams(share: StreamShare, cap: usize) -> String {
    match share {
        StreamShare::Caller => format!(
            "This caller already has {cap} streams open (watch or logs follow); close one or try again later."
        ),
        StreamShare::Server => format!(
            "This server already has {cap} streams open (watch or logs follow); try again later."
        ),
    }
}

/// `Retry-After`: whole seconds, at least one.
fn seconds(retry_after: std::time::Duration) -> u64 {
    retry_after.as_secs_f64().ceil().max(1.0) as u64
}

fn unavailable(what: Dependency) -> String {
    match what {
        Dependency::Database => "The database did not answer in time; nothing was changed.".into(),
        Dependency::DatabaseProbe(bound) => format!(
            "The database did not answer within {} ms.",
            bound.as_millis()
        ),
        Dependency::Runtime(reason) => {
            format!("The runtime did not answer as expected ({reason}); try again.")
        }
        Dependency::Deletion(reason) => format!(
            "The runtime has not confirmed the deletion ({reason}); the deletion continues."
        ),
        Dependency::Registry(message) => message,
        Dependency::Broker(reason) => {
            format!("The data plane's broker did not answer as expected ({reason}); try again.")
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{BeltId, Invalid};

    #[test]
    fn every_use_case_error_has_its_row_of_the_error_table() {
        let id = BeltId::new(7).unwrap();
        let cases = [
            (
                BeltError::Invalid(Invalid::header("If-Match", "bad")),
                ErrorKind::BadHeaderValue,
                "bad",
            ),
            (
                BeltError::NotFound(id),
                ErrorKind::EntityNotFound,
                "Belt with ID '7' not found.",
            ),
            (
                BeltError::VersionMismatch { id, current: 3 },
                ErrorKind::PreconditionFailed,
                "Belt with ID '7' is at version '3', which 'If-Match' does not name.",
            ),
            (
                BeltError::RevisionNotFound { id, version: 4 },
                ErrorKind::EntityNotFound,
                "Version '4' of belt with ID '7' is not kept (unknown or pruned).",
            ),
            (
                BeltError::IdTaken(id),
                ErrorKind::EntityAlreadyExists,
                "Belt with ID '7' already exists.",
            ),
            (
                BeltError::Unavailable(Dependency::DatabaseProbe(Duration::from_secs(2))),
                ErrorKind::ServiceUnavailable,
                "The database did not answer within 2000 ms.",
            ),
            (
                BeltError::GroupBusy("group busy".into()),
                ErrorKind::Conflict,
                "group busy",
            ),
            (
                BeltError::Unavailable(Dependency::Broker("no answer".into())),
                ErrorKind::ServiceUnavailable,
                "The data plane's broker did not answer as expected (no answer); try again.",
            ),
            (
                BeltError::InUse("x".into()),
                ErrorKind::EntityInUse,
                "The belt's runtime objects are in use by something belt-api does not manage: x",
            ),
        ];
        for (err, kind, message) in cases {
            let api = ApiError::from(err);
            assert_eq!((api.kind(), api.to_string().as_str()), (kind, message));
        }
        assert_eq!(
            ApiError::from(BeltError::Forbidden).kind(),
            ErrorKind::EntityNotAccessible
        );
        assert_eq!(
            ApiError::from(BeltError::NoDataPlane).kind(),
            ErrorKind::EntityNotFound
        );
        assert_eq!(ErrorKind::Conflict.status(), StatusCode::CONFLICT);
    }
}
