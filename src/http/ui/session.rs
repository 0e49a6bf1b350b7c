//! Console sessions, backend-for-frontend: the browser holds only a random session id in an
//! `HttpOnly; SameSite=Strict` cookie; the caller it stands for (and the token the use cases
//! forward) stays in this process's memory until it expires or the user signs out. No token
//! ever reaches a URL, a page or the browser's storage.

use std::collections::HashMap;
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
    expires: Instant,
}

#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Arc<Session>>>);

impl Sessions {
    /// A new session for `caller`; its id, or `None` when too many are open.
    pub fn open(&self, caller: belts::Caller, project: String, role: String) -> Option<String> {
        let id = random_secret();
        let session = Session {
            caller,
            csrf: random_secret(),
            project,
            role,
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

    pub fn close(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// 32 random bytes, base64url.
fn random_secret() -> String {
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
        let sessions = parts.extensions.get::<Arc<Sessions>>().cloned();
        let found = sessions
            .zip(session_id(&parts.headers))
            .and_then(|(sessions, id)| {
                let session = sessions.find(&id)?;
                Some(SignedIn { id, session })
            });
        found.ok_or_else(|| Redirect::to("/ui/login").into_response())
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
