//! The caller extractor: a verified token becomes the use cases' [`belts::Caller`]
//! (docs/api.md#authentication-and-roles).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{token_from_headers, AuthError};
use crate::belts;

/// Who is calling; what their roles allow is the use cases' question.
pub struct Caller(pub belts::Caller);

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
                Ok(Caller(belts::Caller {
                    claims,
                    token: token.to_string(),
                }))
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
