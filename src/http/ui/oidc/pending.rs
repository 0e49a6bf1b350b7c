//! Sign-ins under way: between the redirect to the provider and its answer at `/ui/callback`,
//! what only we may know (the PKCE verifier, the nonce) waits here, keyed by `state`, together
//! with a binding that the starting browser holds in a cookie. Each is taken once, lives a few
//! minutes, and there are at most a bounded number: starting a sign-in needs no credential.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::http::ui::session::{random_secret, same_secret};

/// How long a user may take at the provider's sign-in page.
pub const LIFETIME: Duration = Duration::from_secs(600);
/// Sign-ins under way at once.
const MAX_PENDING: usize = 1_000;

/// The cookie that binds a browser to the sign-in it started: a callback from another browser
/// (a link an attacker had the victim open, with the attacker's code) finds no binding.
pub const BINDING_COOKIE: &str = "belt_login";

pub struct Pending {
    /// PKCE (RFC 7636): the secret whose hash went to the provider as the challenge.
    pub verifier: String,
    pub nonce: String,
    /// The redirect URI the code was issued for; the exchange must name the same.
    pub redirect_uri: String,
    binding: String,
    expires: Instant,
}

/// What the redirect to the provider carries, and the browser's binding.
pub struct Begun {
    pub state: String,
    pub nonce: String,
    pub challenge: String,
    pub binding: String,
}

#[derive(Default)]
pub struct PendingLogins(Mutex<HashMap<String, Pending>>);

impl PendingLogins {
    /// A new sign-in to `redirect_uri`; `None` when too many are under way.
    pub fn begin(&self, redirect_uri: String) -> Option<Begun> {
        let pending = Pending {
            verifier: random_secret(),
            nonce: random_secret(),
            redirect_uri,
            binding: random_secret(),
            expires: Instant::now() + LIFETIME,
        };
        let begun = Begun {
            state: random_secret(),
            nonce: pending.nonce.clone(),
            challenge: challenge(&pending.verifier),
            binding: pending.binding.clone(),
        };
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, pending| pending.expires > now);
        if map.len() >= MAX_PENDING {
            return None;
        }
        map.insert(begun.state.clone(), pending);
        Some(begun)
    }

    /// The sign-in `state` names, once, if it is live and `binding` is the browser's that began
    /// it. A refused attempt uses it up too: a state is good for one answer.
    pub fn take(&self, state: &str, binding: Option<&str>) -> Option<Pending> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let pending = map.remove(state)?;
        let bound = binding.is_some_and(|binding| same_secret(binding, &pending.binding));
        (bound && pending.expires > Instant::now()).then_some(pending)
    }
}

/// The S256 code challenge of `verifier`: base64url(SHA-256(verifier)), unpadded.
pub fn challenge(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_state_is_taken_once_and_only_with_its_binding() {
        let logins = PendingLogins::default();
        let begun = logins.begin("http://x/ui/callback".into()).unwrap();
        assert!(logins.take(&begun.state, Some("other")).is_none());
        assert!(
            logins.take(&begun.state, Some(&begun.binding)).is_none(),
            "used up"
        );
        let begun = logins.begin("http://x/ui/callback".into()).unwrap();
        assert!(logins.take(&begun.state, None).is_none());
        let begun = logins.begin("http://x/ui/callback".into()).unwrap();
        let pending = logins.take(&begun.state, Some(&begun.binding)).unwrap();
        assert_eq!(pending.nonce, begun.nonce);
        assert_eq!(challenge(&pending.verifier), begun.challenge);
        assert!(logins.take(&begun.state, Some(&begun.binding)).is_none());
    }
}
