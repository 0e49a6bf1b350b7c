//! The one error type of the API. Every failure a client can see is one of these variants, and each
//! maps to exactly one row of the error table (docs/api.md#errors).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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
    Unavailable(String),
    /// Internal failure: the detail goes to the log, never to the client.
    #[error("An unexpected error occurred.")]
    Unexpected(#[source] anyhow::Error),
}

impl ApiError {
    pub fn belt_not_found(id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("Belt with ID '{id}' not found."))
    }

    pub fn unexpected(err: impl Into<anyhow::Error>) -> Self {
        ApiError::Unexpected(err.into())
    }

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
            ApiError::Unavailable(_) => ErrorKind::ServiceUnavailable,
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
    PreconditionFailed,
    PayloadTooLarge,
    EntityInUse,
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
            ErrorKind::PreconditionFailed => "precondition_failed",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::EntityInUse => "entity_in_use",
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
            ErrorKind::EntityAlreadyExists => StatusCode::CONFLICT,
            ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::EntityInUse => StatusCode::FAILED_DEPENDENCY,
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

pub type ApiResult<T> = Result<T, ApiError>;
