//! Sign-ins under way: between the redirect to the provider and its answer at `/ui/callback`,
//! what only we may know (the PKCE verifier, the nonce) waits in the starting browser's binding
//! cookie, sealed (ChaCha20-Poly1305 under a key of this process), together with the `state` it
//! belongs to. Starting a sign-in needs no credential, so it must cost the server no memory: a
//! flood of `/ui/login` used to fill a table of 1,000 pending sign-ins and lock everyone out for
//! ten minutes. Only states already answered are remembered, briefly and in a bounded set, so that
//! each is good for one answer.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::http::ui::session::{random_secret, same_secret, unix_now};

/// How long a user may take at the provider's sign-in page.
pub const LIFETIME: Duration = Duration::from_secs(600);
/// Answered states remembered at once; past it, the oldest is forgotten (its code was already
/// spent at the provider, which takes a code once).
const MAX_ANSWERED: usize = 10_000;

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
    random: SystemRandom,
    /// States taken, until they would have expired anyway.
    answered: Mutex<HashMap<String, Instant>>,
}

impl Default for PendingLogins {
    fn default() -> Self {
        let random = SystemRandom::new();
        let mut key = [0u8; 32];
        random.fill(&mut key).expect("the system's random source");
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key).expect("a 32-byte key");
        PendingLogins {
            key: LessSafeKey::new(key),
            random,
            answered: Mutex::new(HashMap::new()),
        }
    }
}

impl PendingLogins {
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
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut sealed = serde_json::to_vec(pending).expect("plain strings serialize");
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("a cookie-sized plaintext");
        let mut cookie = nonce.to_vec();
        cookie.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(cookie)
    }

    /// What `seal` made with this process's key; `None` for anything else.
    fn open(&self, binding: &str) -> Option<Pending> {
        let bytes = URL_SAFE_NO_PAD.decode(binding).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .ok()?;
        serde_json::from_slice(plain).ok()
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
    fn a_binding_sealed_by_another_process_or_altered_opens_nothing() {
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
