//! Tokens already verified, so a client that sends the same bearer token on every request pays for
//! one signature check, not one per request (ES256/RS256 verification was the largest single cost
//! of a `GET` in the benchmarks).
//!
//! Keyed by the whole token string, so a lookup can only hit for the exact bytes that were
//! verified. An entry lives until the token's `exp` (no leeway: past `exp` the full check, with its
//! leeway, decides) and at most [`MAX_TTL`], which bounds how long a key withdrawn from the JWKS
//! keeps working through the cache. Tokens that fail are never cached.
//!
//! Each entry also remembers the fingerprint of the key that verified it, and a lookup hits only
//! while that key is in the current key set: when a refresh of the JWKS drops a key, the tokens it
//! verified are dropped at their next lookup, so a withdrawn key does not live on here
//! (docs/upstream-trust.md states the resulting revocation delay).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::keys::KeyFingerprint;
use super::Claims;

/// The longest an entry is trusted without checking the signature again.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(60);

/// Entries kept at most. Keycloak tokens are 1–2 KB, so a full cache holds a few MB.
pub(crate) const CAPACITY: usize = 1024;

struct Entry {
    claims: Claims,
    /// The key that verified the token.
    key: KeyFingerprint,
    /// Seconds since the Unix epoch after which the entry is not used.
    valid_until: i64,
}

pub(crate) struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Entry>>,
    capacity: usize,
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        VerifiedTokens {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The claims of `token` if it was verified, its entry is still valid at `now` (seconds) and
    /// the key that verified it is still `published`. An entry whose key is gone is dropped.
    pub(crate) fn get(
        &self,
        token: &str,
        now: i64,
        published: impl Fn(&KeyFingerprint) -> bool,
    ) -> Option<Claims> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(token)?;
        if !published(&entry.key) {
            entries.remove(token);
            return None;
        }
        (now < entry.valid_until).then(|| entry.claims.clone())
    }

    /// Remembers a token that passed every check at `now`, verified by the key `key`.
    pub(crate) fn insert(&self, token: &str, claims: &Claims, key: KeyFingerprint, now: i64) {
        // Verified tokens always carry `exp` (it is a required claim); without it, do not cache.
        let Some(exp) = claims.exp else { return };
        let valid_until = exp.min(now.saturating_add(MAX_TTL.as_secs() as i64));
        if valid_until <= now {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(token) {
            entries.retain(|_, entry| now < entry.valid_until);
            // Still full of live tokens (many distinct callers): start over rather than track
            // recency; the cost is one signature check per caller.
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Entry {
                claims: claims.clone(),
                key,
                valid_until,
            },
        );
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: KeyFingerprint = [1; 32];

    fn any(_: &KeyFingerprint) -> bool {
        true
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Some("u".into()),
            exp: Some(exp),
            ..Claims::default()
        }
    }

    #[test]
    fn hit_until_exp() {
        let cache = VerifiedTokens::new(4);
        cache.insert("t", &claims(1_000), KEY, 990);
        assert_eq!(cache.get("t", 995, any), Some(claims(1_000)));
        assert_eq!(cache.get("t", 1_000, any), None, "not at or past exp");
        assert_eq!(cache.get("other", 995, any), None);
    }

    #[test]
    fn never_longer_than_max_ttl() {
        let cache = VerifiedTokens::new(4);
        let ttl = MAX_TTL.as_secs() as i64;
        cache.insert("t", &claims(1_000_000), KEY, 0);
        assert!(cache.get("t", ttl - 1, any).is_some());
        assert!(cache.get("t", ttl, any).is_none());
    }

    #[test]
    fn expired_or_exp_less_tokens_are_not_kept() {
        let cache = VerifiedTokens::new(4);
        cache.insert("late", &claims(100), KEY, 100);
        let no_exp = Claims {
            exp: None,
            ..claims(0)
        };
        cache.insert("no-exp", &no_exp, KEY, 100);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn an_entry_lives_only_while_its_key_is_published() {
        let cache = VerifiedTokens::new(4);
        cache.insert("t", &claims(1_000), KEY, 0);
        assert!(cache.get("t", 1, |key| key == &KEY).is_some());
        assert!(
            cache.get("t", 1, |key| key != &KEY).is_none(),
            "key withdrawn"
        );
        assert_eq!(cache.len(), 0, "the entry was dropped");
        assert!(cache.get("t", 1, any).is_none(), "and stays dropped");
    }

    #[test]
    fn stays_within_capacity() {
        let cache = VerifiedTokens::new(3);
        for (i, token) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(token, &claims(100 + i as i64), KEY, 50);
        }
        // "a" expired at 100: making room drops it and keeps the live ones.
        cache.insert("d", &claims(1_000), KEY, 100);
        assert_eq!(cache.len(), 3);
        assert!(cache.get("a", 100, any).is_none());
        assert!(cache.get("b", 100, any).is_some());
        // All live and full: the cache starts over with the newcomer.
        cache.insert("e", &claims(1_000), KEY, 100);
        assert_eq!(cache.len(), 1);
        assert!(cache.get("e", 100, any).is_some());
    }
}
