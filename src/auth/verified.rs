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

use std::time::Duration;

use quick_cache::sync::Cache;

use super::keys::KeyFingerprint;
use super::Claims;

/// The longest an entry is trusted without checking the signature again.
pub(crate) const MAX_TTL: Duration = Duration::from_secs(60);

/// Entries kept at most. Keycloak tokens are 1–2 KB, so a full cache holds a few MB.
pub(crate) const CAPACITY: usize = 1024;

#[derive(Clone)]
struct Entry {
    claims: Claims,
    /// The key that verified the token.
    key: KeyFingerprint,
    /// Seconds since the Unix epoch after which the entry is not used.
    valid_until: i64,
}

pub(crate) struct VerifiedTokens {
    entries: Cache<Box<str>, Entry>,
}

impl VerifiedTokens {
    pub(crate) fn new(capacity: usize) -> Self {
        VerifiedTokens {
            entries: Cache::new(capacity),
        }
    }

    /// The claims of `token` if it was verified, its entry is still valid at `now` (seconds) and
    /// the key that verified it is still `published`. An entry whose key is gone, or whose time
    /// is over, is dropped.
    pub(crate) fn get(
        &self,
        token: &str,
        now: i64,
        published: impl Fn(&KeyFingerprint) -> bool,
    ) -> Option<Claims> {
        let entry = self.entries.get(token)?;
        if !published(&entry.key) || now >= entry.valid_until {
            self.entries.remove(token);
            return None;
        }
        Some(entry.claims)
    }

    /// Remembers a token that passed every check at `now`, verified by the key `key`.
    pub(crate) fn insert(&self, token: &str, claims: &Claims, key: KeyFingerprint, now: i64) {
        // Verified tokens always carry `exp` (it is a required claim); without it, do not cache.
        let Some(exp) = claims.exp else { return };
        let valid_until = exp.min(now.saturating_add(MAX_TTL.as_secs() as i64));
        if valid_until <= now {
            return;
        }
        let entry = Entry {
            claims: claims.clone(),
            key,
            valid_until,
        };
        self.entries.insert(token.into(), entry);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
        for n in 0..100 {
            cache.insert(&n.to_string(), &claims(1_000), KEY, 50);
        }
        assert!((1..=3).contains(&cache.len()), "{} entries", cache.len());
        assert!(cache.get("99", 100, any).is_some(), "the newest is kept");
    }

    #[test]
    fn an_entry_past_its_time_is_dropped() {
        let cache = VerifiedTokens::new(4);
        cache.insert("t", &claims(100), KEY, 50);
        assert!(cache.get("t", 100, any).is_none());
        assert_eq!(cache.len(), 0);
    }
}
