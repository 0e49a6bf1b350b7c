//! The caller extractor: a verified token becomes the use cases' [`belts::Caller`]
//! (docs/api.md#authentication-and-roles).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use super::state::AppState;
use crate::auth::{token_from_headers, AuthError, Claims};
use crate::belts;

/// Who is calling; what their roles allow is the use cases' question.
pub struct Caller(pub belts::Caller);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_from_headers(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        match state.verifier.verify(token).await {
            Ok(claims) => {
                if let Some(refusal) = nul_in_names(&claims) {
                    return Err(ApiError::BadHeader(refusal));
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

/// Why a token's names cannot be used, if they cannot: they are stored with every write
/// (createdBy, modifiedBy), and a database refuses NUL in text.
pub fn nul_in_names(claims: &Claims) -> Option<String> {
    [("name", claims.display_name()), ("email", claims.email())]
        .into_iter()
        .find(|(_, value)| value.contains('\0'))
        .map(|(claim, _)| {
            format!("Token claim '{claim}' must not contain the NUL character (\\u0000).")
        })
}
