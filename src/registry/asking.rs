//! One call's answer, judged before it is read: what its status means, and a bounded body.
//! Anything that is not a plain answer is a 503 for the request, never a pass
//! (docs/upstream-trust.md).

use super::{refused, RegistryError, Use};

/// The largest answer read; an event type record is a few KB.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Why a registry call gave no usable answer; either way the request is answered 503.
pub(super) enum Trouble {
    Unavailable(String),
    NotUnderstood(String),
}

impl Trouble {
    /// Logs the reason and words the 503 for the caller, who learns which event type but not why.
    pub(super) fn about(self, event_type: &str, used: Use) -> RegistryError {
        let field = used.field();
        match self {
            Trouble::Unavailable(reason) => {
                tracing::warn!(%event_type, %reason, "event-type registry did not answer");
                RegistryError::Unavailable(format!(
                    "The event-type registry did not answer about '{event_type}' (parameter \
                     '{field}'); nothing was changed."
                ))
            }
            Trouble::NotUnderstood(reason) => {
                tracing::warn!(%event_type, %reason, "event-type registry answer not understood");
                RegistryError::Unavailable(format!(
                    "The event-type registry's answer about '{event_type}' (parameter '{field}') \
                     was not understood; nothing was changed."
                ))
            }
        }
    }
}

/// Only a 200 carries an answer: 404 and 401/403 are the caller's problem, anything else the
/// registry's.
pub(super) fn check_status(
    status: reqwest::StatusCode,
    event_type: &str,
    used: Use,
) -> Result<(), RegistryError> {
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(refused(used, used.unknown(event_type)));
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(refused(
            used,
            format!(
                "Parameter '{}' holds '{event_type}', which the event-type registry does not let you read.",
                used.field()
            ),
        ));
    }
    let trouble = if status.is_redirection() {
        Trouble::NotUnderstood(format!("status {status}, a redirect, not followed"))
    } else if status.is_success() && status != reqwest::StatusCode::OK {
        Trouble::NotUnderstood(format!("status {status}"))
    } else if status != reqwest::StatusCode::OK {
        Trouble::Unavailable(format!("status {status}"))
    } else {
        return Ok(());
    };
    Err(trouble.about(event_type, used))
}

/// The answer's body, refused past [`MAX_ANSWER_BYTES`] without reading the rest.
pub(super) async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, Trouble> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Trouble::Unavailable(format!("unreadable answer: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Trouble::NotUnderstood(format!(
                "answer larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
