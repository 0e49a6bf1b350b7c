//! Sign-ins under way: between the redirect to the provider and its answer at `/ui/callback`,
//! what only we may know (the PKCE verifier, the nonce) waits in the starting browser's binding
//! cookie, sealed (ChaCha20-Poly1305 under a key every replica shares, made once and kept in the
//! store), together with the `state` it belongs to, so the provider's answer completes on any
//! replica. Starting a sign-in needs no credential, so it must cost the server no memory: a
//! flood of `/ui/login` used to fill a table of 1,000 pending sign-ins and lock everyone out for
//! ten minutes. Only states already answered are remembered, briefly and in a bounded set, so that
//! each is good for one answer.
//!
//! That set is this replica's own: the same answer replayed at another replica gets past it. It
//! gets no further: the replay carries the code the first answer spent, and the provider takes a
//! code once (RFC 6749, 4.1.2; the exchange is refused, nobody is signed in), and only the browser
//! that began the sign-in holds the binding that opens. Sharing the set through the store would
//! cost a write per sign-in for a check the provider already makes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::LessSafeKey;
use serde::{Deserialize, Serialize};

use crate::belts::sessions::{aead_key, open_with, seal_with};
use crate::http::ui::session::{random_secret, same_secret, unix_now};

/// How long a user may take at the provider's sign-in page.
pub const LIFETIME: Duration = Duration::from_secs(600);
/// Answered states remembered at once; past it, the oldest is forgotten (its code was already
/// spent at the provider, which takes a code once).
const MAX_ANSWERED: usize = 10_000;

/// The name of the binding cookie's key among the keys the replicas share.
pub const BINDING_KEY: &str = "console sign-in binding";

/// The cookie that binds a browser to the sign-in it started: a callback from another browser
/// (a link an attacker had the victim open, with the attacker's code) carries no binding for its
/// state.
pub const BINDING_COOKIE: &str = "belt_login";

/// What the binding cookie holds, sealed.
#[derive(Serialize, Deserialize)]
pub struct Pending {
    state: String,
    /// PKCE (RFC 7636): the secret whose hash went to the provider as the challenge.
    pub verifier: String,
    pub nonce: String,
    /// The redirect URI the code was issued for; the exchange must name the same.
    pub redirect_uri: String,
    /// Unix seconds.
    expires: i64,
}

/// What the redirect to the provider carries, and the browser's binding cookie's value.
pub struct Begun {
    pub state: String,
    pub nonce: String,
    pub challenge: String,
    pub binding: String,
}

pub struct PendingLogins {
    key: LessSafeKey,
    /// States taken, until they would have expired anyway.
    answered: Mutex<HashMap<String, Instant>>,
}

#[cfg(test)]
impl Default for PendingLogins {
    /// Under a key of its own, as another deployment's.
    fn default() -> Self {
        PendingLogins::new(&crate::belts::sessions::random_key())
    }
}

impl PendingLogins {
    /// Sign-ins sealed under `key`, the one every replica shares.
    pub fn new(key: &[u8; 32]) -> Self {
        PendingLogins {
            key: aead_key(key),
            answered: Mutex::new(HashMap::new()),
        }
    }

    /// A new sign-in to `redirect_uri`: the binding cookie carries it, the server keeps nothing.
    pub fn begin(&self, redirect_uri: String) -> Begun {
        let pending = Pending {
            state: random_secret(),
            verifier: random_secret(),
            nonce: random_secret(),
            redirect_uri,
            expires: unix_now() + LIFETIME.as_secs() as i64,
        };
        Begun {
            state: pending.state.clone(),
            nonce: pending.nonce.clone(),
            challenge: challenge(&pending.verifier),
            binding: self.seal(&pending),
        }
    }

    /// The sign-in `state` names, once, if `binding` is the sealed cookie of the browser that
    /// began it and it is live. A refused attempt with a good binding uses the state up too: a
    /// state is good for one answer.
    pub fn take(&self, state: &str, binding: Option<&str>) -> Option<Pending> {
        let pending = self.open(binding?)?;
        if !same_secret(state, &pending.state) || pending.expires <= unix_now() {
            return None;
        }
        self.first_answer(&pending.state).then_some(pending)
    }

    fn first_answer(&self, state: &str) -> bool {
        let mut answered = self.answered.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        answered.retain(|_, at| now.saturating_duration_since(*at) < LIFETIME);
        if answered.contains_key(state) {
            return false;
        }
        if answered.len() >= MAX_ANSWERED {
            let oldest = answered.iter().min_by_key(|(_, at)| **at);
            if let Some(oldest) = oldest.map(|(state, _)| state.clone()) {
                answered.remove(&oldest);
            }
        }
        answered.insert(state.to_string(), now);
        true
    }

    /// base64url(nonce ‖ ciphertext ‖ tag) of the pending sign-in's JSON.
    fn seal(&self, pending: &Pending) -> String {
        let plain = serde_json::to_vec(pending).expect("plain strings serialize");
        seal_with(&self.key, &[], &plain)
    }

    /// What `seal` made with the shared key; `None` for anything else.
    fn open(&self, binding: &str) -> Option<Pending> {
        serde_json::from_slice(&open_with(&self.key, &[], binding)?).ok()
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
        let begun = logins.begin("http://x/ui/callback".into());
        let other = logins.begin("http://x/ui/callback".into());
        assert!(logins.take(&begun.state, Some("other")).is_none());
        assert!(logins.take(&begun.state, None).is_none());
        assert!(
            logins.take(&begun.state, Some(&other.binding)).is_none(),
            "another sign-in's binding"
        );
        let pending = logins.take(&begun.state, Some(&begun.binding)).unwrap();
        assert_eq!(pending.nonce, begun.nonce);
        assert_eq!(pending.redirect_uri, "http://x/ui/callback");
        assert_eq!(challenge(&pending.verifier), begun.challenge);
        assert!(
            logins.take(&begun.state, Some(&begun.binding)).is_none(),
            "used up"
        );
    }

    #[test]
    fn a_binding_sealed_under_the_same_key_opens_anywhere_another_keys_or_altered_nothing() {
        let key = crate::belts::sessions::random_key();
        let (here, there) = (PendingLogins::new(&key), PendingLogins::new(&key));
        let begun = here.begin("http://x/ui/callback".into());
        assert!(there.take(&begun.state, Some(&begun.binding)).is_some());
        let (ours, theirs) = (PendingLogins::default(), PendingLogins::default());
        let begun = theirs.begin("http://x/ui/callback".into());
        assert!(ours.take(&begun.state, Some(&begun.binding)).is_none());
        let mut altered = URL_SAFE_NO_PAD.decode(&begun.binding).unwrap();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(altered);
        assert!(theirs.take(&begun.state, Some(&altered)).is_none());
        assert!(theirs.take(&begun.state, Some(&begun.binding)).is_some());
    }

    #[test]
    fn a_flood_of_sign_ins_keeps_nothing_and_blocks_no_one() {
        let logins = PendingLogins::default();
        for _ in 0..5_000 {
            logins.begin("http://x/ui/callback".into());
        }
        assert!(logins.answered.lock().unwrap().is_empty());
        let begun = logins.begin("http://x/ui/callback".into());
        assert!(logins.take(&begun.state, Some(&begun.binding)).is_some());
    }
}
