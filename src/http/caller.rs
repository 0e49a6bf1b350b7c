//! Who is calling: a verified token, and what its project roles allow
//! (docs/api.md#authentication-and-roles).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use crate::auth::{token_from_headers, AuthError, Claims};
use crate::domain::{Person, ProjectName};
use crate::error::ApiError;

pub struct Caller {
    pub claims: Claims,
    /// Forwarded to the event-type registry, which applies its own access rules. Never logged.
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// list, get, get state
    Read,
    /// create, update, delete, change state, logs
    Write,
}

impl Caller {
    pub fn require(&self, project: &ProjectName, access: Access) -> Result<(), ApiError> {
        let has = |role| self.claims.has_client_role(project.as_str(), role);
        let allowed = match access {
            Access::Read => has("editor") || has("viewer"),
            Access::Write => has("editor"),
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    pub fn person(&self) -> Person {
        Person {
            name: self.claims.display_name(),
            email: self.claims.email(),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_from_headers(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        match state.verifier.verify(token).await {
            Ok(claims) => {
                // The names are stored with every write (createdBy, modifiedBy).
                for (claim, value) in [("name", claims.display_name()), ("email", claims.email())] {
                    if value.contains('\0') {
                        return Err(ApiError::BadHeader(format!(
                            "Token claim '{claim}' must not contain the NUL character (\\u0000)."
                        )));
                    }
                }
                Ok(Caller {
                    claims,
                    token: token.to_string(),
                })
            }
            Err(AuthError::Unavailable(reason)) => {
                tracing::warn!(%reason, "cannot verify tokens: key set unavailable");
                Err(ApiError::Unavailable(
                    "The identity provider's keys could not be fetched; try again later.".into(),
                ))
            }
            Err(err) => {
                tracing::info!(reason = %err, "token refused");
                Err(ApiError::Unauthenticated)
            }
        }
    }
}
