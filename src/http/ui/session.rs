//! Console sessions, backend-for-frontend: the browser holds only a random secret in an
//! `HttpOnly; SameSite=Strict` cookie; the caller it stands for (and the token the use cases
//! forward) is kept in the store, sealed under a key only that secret gives
//! (`belts/sessions/`), until it expires or the user signs out. No token ever reaches a URL, a
//! page or the browser's storage.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};

pub use crate::belts::sessions::{
    random_secret, unix_now, ProviderTokens, Session, SessionBook, LIFETIME,
};

pub const COOKIE: &str = "belt_session";

/// Renews a session's access token when it nears expiry (the OIDC sign-in implements it); the
/// session module only asks, so it does not depend on the provider's code.
pub trait Renewal: Send + Sync {
    /// The session with a fresh token (the same session when it needs none), or `None` when it
    /// cannot be renewed: the session is then over.
    fn renew<'a>(
        &'a self,
        sessions: &'a SessionBook,
        id: &'a str,
        session: Session,
    ) -> Pin<Box<dyn Future<Output = Option<Session>> + Send + 'a>>;
}

/// Equality that takes as long whatever the first differing byte: a secret compared with `==`
/// leaks, through timing, how much of a guess was right.
pub fn same_secret(given: &str, kept: &str) -> bool {
    let (a, b) = (given.as_bytes(), kept.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session cookie; `Secure` when the page was asked for over https.
pub fn cookie(id: &str, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    let max_age = LIFETIME.as_secs();
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={max_age}{secure}")
}

/// A cookie that makes the browser forget the session.
pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0")
}

pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, id)| id.to_string())
}

/// A request from a signed-in browser; without a live session the browser is sent to sign in.
pub struct SignedIn {
    /// The session cookie's value.
    pub id: String,
    pub session: Session,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/ui/login").into_response();
        let sessions = parts.extensions.get::<Arc<SessionBook>>().cloned();
        let (sessions, id) = sessions
            .zip(session_id(&parts.headers))
            .ok_or_else(to_sign_in)?;
        let session = match sessions.find(&id).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(to_sign_in()),
            Err(err) => return Err(super::ui_error(err)),
        };
        let due = session
            .provider
            .as_ref()
            .is_some_and(|tokens| tokens.renew_at <= unix_now());
        if !due {
            return Ok(SignedIn { id, session });
        }
        let renewal = parts.extensions.get::<Arc<dyn Renewal>>().cloned();
        let renewed = match renewal {
            Some(renewal) => renewal.renew(&sessions, &id, session).await,
            None => None,
        };
        match renewed {
            Some(session) => Ok(SignedIn { id, session }),
            None => {
                // The provider no longer vouches for the user: sign-in again, from scratch.
                if let Err(err) = sessions.close(&id).await {
                    tracing::warn!(error = %err, "an unrenewable console session stays stored");
                }
                Err(([(header::SET_COOKIE, cleared_cookie())], to_sign_in()).into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert_ne!(random_secret(), random_secret());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; belt_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(session_id(&headers).as_deref(), Some("xyz"));
        assert!(cookie("xyz", true).ends_with("; Secure"));
        assert!(!cookie("xyz", false).contains("Secure"));
    }
}
