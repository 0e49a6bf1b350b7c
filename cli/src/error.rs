//! What can go wrong, and the exit code each failure gives a script.

use std::fmt;

/// Exit codes (also listed in `belt --help`).
pub mod code {
    pub const OK: i32 = 0;
    /// Anything else: a bad file, a missing context, a failed local command.
    pub const OTHER: i32 = 1;
    // 2 is clap's: the command line itself is wrong.
    pub const NOT_FOUND: i32 = 3;
    pub const REFUSED: i32 = 4;
    pub const CONFLICT: i32 = 5;
    pub const TIMED_OUT: i32 = 6;
    pub const UNAVAILABLE: i32 = 7;
}

/// A failure the user should see, with the exit code it maps to.
#[derive(Debug)]
pub enum CliError {
    /// The server answered with an error body (or at least an error status).
    Api(ApiError),
    /// No answer at all: connection refused, DNS, TLS, a dropped stream.
    Unreachable(String),
    TimedOut(String),
    /// A conflict found by the client itself (e.g. `apply` of a belt whose name another id holds).
    Conflict(String),
    Other(String),
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

impl ApiError {
    /// The field or parameter the server's message names (`Parameter 'replicas' must …`).
    pub fn field(&self) -> Option<&str> {
        let start = self.message.find('\'')? + 1;
        let len = self.message[start..].find('\'')?;
        let named = &self.message[start..start + len];
        let before = &self.message[..start - 1];
        (before.ends_with("Parameter ")
            || before.ends_with("parameter ")
            || before.ends_with("field "))
        .then_some(named)
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Api(api) => match api.status {
                404 | 410 => code::NOT_FOUND,
                409 | 412 => code::CONFLICT,
                400..=499 => code::REFUSED,
                _ => code::UNAVAILABLE,
            },
            CliError::Unreachable(_) => code::UNAVAILABLE,
            CliError::TimedOut(_) => code::TIMED_OUT,
            CliError::Conflict(_) => code::CONFLICT,
            CliError::Other(_) => code::OTHER,
        }
    }

    /// The error as one JSON object, for `-o json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body =
            serde_json::json!({"exitCode": self.exit_code(), "message": self.to_string()});
        if let CliError::Api(api) = self {
            body["status"] = api.status.into();
            body["type"] = api.kind.clone().into();
            body["message"] = api.message.clone().into();
            if let Some(field) = api.field() {
                body["field"] = field.into();
            }
        }
        serde_json::json!({ "error": body })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Api(api) => {
                write!(f, "{} (HTTP {}, {})", api.message, api.status, api.kind)?;
                if let Some(field) = api.field() {
                    write!(f, " [field: {field}]")?;
                }
                Ok(())
            }
            CliError::Unreachable(m)
            | CliError::TimedOut(m)
            | CliError::Conflict(m)
            | CliError::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> CliError {
        CliError::Api(ApiError {
            status,
            kind: "t".into(),
            message: message.into(),
        })
    }

    #[test]
    fn statuses_map_to_distinct_codes() {
        assert_eq!(api(404, "x").exit_code(), code::NOT_FOUND);
        assert_eq!(api(400, "x").exit_code(), code::REFUSED);
        assert_eq!(api(403, "x").exit_code(), code::REFUSED);
        assert_eq!(api(409, "x").exit_code(), code::CONFLICT);
        assert_eq!(api(412, "x").exit_code(), code::CONFLICT);
        assert_eq!(api(503, "x").exit_code(), code::UNAVAILABLE);
        assert_eq!(CliError::TimedOut("t".into()).exit_code(), code::TIMED_OUT);
    }

    #[test]
    fn the_field_comes_from_the_message() {
        let e = ApiError {
            status: 400,
            kind: "b".into(),
            message: "Parameter 'replicas' must be 1-50.".into(),
        };
        assert_eq!(e.field(), Some("replicas"));
        let e = ApiError {
            status: 400,
            kind: "b".into(),
            message: "Invalid event type: 'x'".into(),
        };
        assert_eq!(e.field(), None);
    }
}
