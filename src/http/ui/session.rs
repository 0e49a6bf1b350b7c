//! Console sessions, backend-for-frontend: the browser holds only a random session id in an
//! `HttpOnly; SameSite=Strict` cookie; the caller it stands for (and the token the use cases
//! forward) stays in this process's memory until it expires or the user signs out. No token
//! ever reaches a URL, a page or the browser's storage.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::belts;

pub const COOKIE: &str = "belt_session";
/// How long a sign-in lasts; the dev token behind it is minted for as long.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Sessions kept at once: dev sign-in needs no secret, so its memory must be bounded.
const MAX_SESSIONS: usize = 10_000;

pub struct Session {
    pub caller: belts::Caller,
    /// Bound to this session; every form that writes carries it.
    pub csrf: String,
    pub project: String,
    pub role: String,
    /// What the OIDC provider handed over at sign-in; `None` for a dev sign-in.
    pub provider: Option<ProviderTokens>,
    expires: Instant,
}

/// The provider's tokens besides the access token (which is `caller.token`). They stay in this
/// process: never in a cookie, a URL of ours, a page or a log line.
pub struct ProviderTokens {
    /// Renews the access token at the token endpoint, when the provider gave one.
    pub refresh: Option<String>,
    /// The ID token, for the provider's sign-out (`id_token_hint`).
    pub id_token: String,
    /// Seconds since the Unix epoch from which the access token is renewed: before it expires,
    /// so no page is refused for an expired token.
    pub renew_at: i64,
}

/// Renews a session's access token when it nears expiry (the OIDC sign-in implements it); the
/// session module only asks, so it does not depend on the provider's code.
pub trait Renewal: Send + Sync {
    /// The session with a fresh token (the same session when it needs none), or `None` when it
    /// cannot be renewed: the session is then over.
    fn renew<'a>(
        &'a self,
        sessions: &'a Sessions,
        id: &'a str,
        session: Arc<Session>,
    ) -> Pin<Box<dyn Future<Output = Option<Arc<Session>>> + Send + 'a>>;
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Arc<Session>>>);

impl Sessions {
    /// A new session for `caller`; its id, or `None` when too many are open.
    pub fn open(&self, caller: belts::Caller, project: String, role: String) -> Option<String> {
        self.open_with(caller, project, role, None)
    }

    /// As `open`, for a sign-in through the OIDC provider, keeping its tokens.
    pub fn open_with(
        &self,
        caller: belts::Caller,
        project: String,
        role: String,
        provider: Option<ProviderTokens>,
    ) -> Option<String> {
        let id = random_secret();
        let session = Session {
            caller,
            csrf: random_secret(),
            project,
            role,
            provider,
            expires: Instant::now() + LIFETIME,
        };
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            return None;
        }
        map.insert(id.clone(), Arc::new(session));
        Some(id)
    }

    pub fn find(&self, id: &str) -> Option<Arc<Session>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(id) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Replaces the caller and the provider's tokens of a live session (a renewal), keeping its
    /// id, CSRF token and lifetime; `None` when the session is gone meanwhile.
    pub fn renewed(
        &self,
        id: &str,
        caller: belts::Caller,
        provider: ProviderTokens,
    ) -> Option<Arc<Session>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let old = map.get(id)?;
        let session = Arc::new(Session {
            caller,
            csrf: old.csrf.clone(),
            project: old.project.clone(),
            role: old.role.clone(),
            provider: Some(provider),
            expires: old.expires,
        });
        map.insert(id.to_string(), session.clone());
        Some(session)
    }

    pub fn close(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// 32 random bytes, base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
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
    pub id: String,
    pub session: Arc<Session>,
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let to_sign_in = || Redirect::to("/ui/login").into_response();
        let sessions = parts.extensions.get::<Arc<Sessions>>().cloned();
        let (sessions, id) = sessions
            .zip(session_id(&parts.headers))
            .ok_or_else(to_sign_in)?;
        let session = sessions.find(&id).ok_or_else(to_sign_in)?;
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
                sessions.close(&id);
                Err(([(header::SET_COOKIE, cleared_cookie())], to_sign_in()).into_response())
            }
        }
    }
}

/// Seconds since the Unix epoch, the unit of a token's `exp`.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
