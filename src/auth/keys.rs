//! A JSON Web Key Set reduced to the keys we are willing to verify with.
//!
//! Parsing is deliberately lenient per key and strict per use: a JWKS may hold
//! keys we cannot or must not use (encryption keys, symmetric `oct` keys,
//! curves we do not support); those are skipped, not fatal, so one odd key
//! does not lock everybody out.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Algorithms accepted from an external IdP. HMAC is never accepted: its
/// "key" would be something public (the classic RS256→HS256 confusion).
pub(crate) const IDP_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::PS256,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Rsa,
    EcP256,
}

impl KeyType {
    /// The key type a signature algorithm needs, for the algorithms we support.
    fn for_alg(alg: Algorithm) -> Option<KeyType> {
        match alg {
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 | Algorithm::PS256 => {
                Some(KeyType::Rsa)
            }
            Algorithm::ES256 => Some(KeyType::EcP256),
            _ => None,
        }
    }
}

/// A digest of a key's type and material: what the verified-token cache remembers, so that a
/// remembered token is trusted only while the very key that verified it is still published.
pub(crate) type KeyFingerprint = [u8; 32];

fn fingerprint(parts: &[&str]) -> KeyFingerprint {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part.as_bytes());
    }
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

/// One usable public key.
pub(crate) struct VerifyingKey {
    pub(crate) kid: Option<String>,
    pub(crate) fingerprint: KeyFingerprint,
    kty: KeyType,
    /// The JWK's `alg`, when it pins one.
    alg: Option<Algorithm>,
    pub(crate) key: DecodingKey,
}

impl VerifyingKey {
    /// Whether a token signed with `alg` may be checked against this key.
    fn fits(&self, alg: Algorithm) -> bool {
        KeyType::for_alg(alg) == Some(self.kty) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), keeping the usable keys.
    /// Fails only when the document itself is not a JWKS.
    pub(crate) fn from_jwks(doc: serde_json::Value) -> Result<KeySet, String> {
        // Each key is parsed on its own: `JwkSet` as a whole fails on the first key it cannot
        // read, and one odd key must not lock everybody out.
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        let jwks: Jwks = serde_json::from_value(doc).map_err(|e| format!("not a JWK set: {e}"))?;
        let keys = jwks
            .keys
            .into_iter()
            .filter_map(|jwk| match parse_jwk(jwk) {
                Ok(key) => Some(key),
                Err(reason) => {
                    tracing::debug!(reason, "skipping JWK");
                    None
                }
            })
            .collect();
        Ok(KeySet { keys })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Whether the key with this fingerprint is (still) in the set.
    pub(crate) fn has_key(&self, fingerprint: &KeyFingerprint) -> bool {
        self.keys.iter().any(|k| &k.fingerprint == fingerprint)
    }

    /// Keys a token with this `kid` and `alg` may be checked against: the key
    /// with that kid, or for kid-less tokens every key of a fitting type.
    pub(crate) fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a VerifyingKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(move |k| k.fits(alg))
    }
}

/// Turns one JWK, as `jsonwebtoken` parsed it, into a key we verify with, or says why not.
fn usable_key(jwk: Jwk) -> Result<VerifyingKey, String> {
    let kid = jwk.common.key_id;
    if jwk
        .common
        .public_key_use
        .is_some_and(|use_| use_ != PublicKeyUse::Signature)
    {
        return Err(format!("kid {kid:?}: not a signing key"));
    }
    // An `alg` that is no signature algorithm (e.g. Keycloak's "RSA-OAEP") means the key is meant
    // for something else.
    let alg = jwk
        .common
        .key_algorithm
        .map(|a| {
            a.to_string()
                .parse::<Algorithm>()
                .map_err(|_| format!("kid {kid:?}: alg {a} unsupported"))
        })
        .transpose()?;
    let (kty, key, fingerprint) = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => (
            KeyType::Rsa,
            DecodingKey::from_rsa_components(&rsa.n, &rsa.e),
            fingerprint(&["RSA", &rsa.n, &rsa.e]),
        ),
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => (
            KeyType::EcP256,
            DecodingKey::from_ec_components(&ec.x, &ec.y),
            fingerprint(&["EC", "P-256", &ec.x, &ec.y]),
        ),
        // "oct" (HMAC secrets) is refused on purpose, the rest is unsupported.
        other => {
            return Err(format!(
                "kid {kid:?}: key type {} not accepted",
                key_type(other)
            ))
        }
    };
    let key = key.map_err(|e| format!("kid {kid:?}: bad key material: {e}"))?;
    if let Some(alg) = alg.filter(|alg| KeyType::for_alg(*alg) != Some(kty)) {
        return Err(format!("kid {kid:?}: alg {alg:?} unsupported for this key"));
    }
    Ok(VerifyingKey {
        kid,
        fingerprint,
        kty,
        alg,
        key,
    })
}

/// One entry of a JWKS: skipped (with the reason) when `jsonwebtoken` cannot read it or we must
/// not use it.
fn parse_jwk(value: serde_json::Value) -> Result<VerifyingKey, String> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("malformed JWK: {e}"))?;
    usable_key(jwk)
}

/// The JWK `kty` of refused key parameters, for the log.
fn key_type(parameters: &AlgorithmParameters) -> &'static str {
    match parameters {
        AlgorithmParameters::EllipticCurve(_) => "EC",
        AlgorithmParameters::RSA(_) => "RSA",
        AlgorithmParameters::OctetKey(_) => "oct",
        AlgorithmParameters::OctetKeyPair(_) => "OKP",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_support::jwks;
    use serde_json::json;

    fn kids(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Vec<Option<String>> {
        set.candidates(kid, alg).map(|k| k.kid.clone()).collect()
    }

    #[test]
    fn keeps_signing_keys_and_skips_the_rest() {
        let mut doc = jwks(&["rsa-a", "ec-a"]);
        let keys = doc["keys"].as_array_mut().unwrap();
        keys.push(json!({ "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" }));
        keys.push(json!({ "kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB" }));
        keys.push(json!({ "kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA" }));
        keys.push(json!({ "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA" }));
        keys.push(json!({ "kty": "RSA", "kid": "no-n", "e": "AQAB" }));
        keys.push(
            json!({ "kty": "RSA", "kid": "es-on-rsa", "alg": "ES256", "n": "AQAB", "e": "AQAB" }),
        );
        keys.push(
            json!({ "kty": "RSA", "kid": "hs-on-rsa", "alg": "HS256", "n": "AQAB", "e": "AQAB" }),
        );
        keys.push(json!({ "kty": "oct", "kid": "hs", "alg": "HS256", "k": "c2VjcmV0" }));
        keys.push(json!({ "kid": "no-kty", "n": "AQAB", "e": "AQAB" }));
        keys.push(json!("not an object"));
        let set = KeySet::from_jwks(doc).unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.has_kid("rsa-a") && set.has_kid("ec-a") && !set.has_kid("hmac"));
    }

    #[test]
    fn rejects_documents_that_are_not_a_jwks() {
        assert!(KeySet::from_jwks(json!({ "issuer": "x" })).is_err());
        assert!(KeySet::from_jwks(json!([])).is_err());
    }

    #[test]
    fn candidates_match_kid_and_key_type() {
        let set = KeySet::from_jwks(jwks(&["rsa-a", "rsa-b", "ec-a"])).unwrap();
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            kids(&set, None, Algorithm::RS256),
            [some("rsa-a"), some("rsa-b")]
        );
        assert_eq!(
            kids(&set, None, Algorithm::PS256),
            [some("rsa-a"), some("rsa-b")]
        );
        assert_eq!(kids(&set, None, Algorithm::ES256), [some("ec-a")]);
        assert_eq!(kids(&set, Some("rsa-b"), Algorithm::RS512), [some("rsa-b")]);
        assert!(kids(&set, Some("ec-a"), Algorithm::RS256).is_empty());
        assert!(kids(&set, Some("rsa-a"), Algorithm::ES256).is_empty());
        assert!(kids(&set, Some("rsa-a"), Algorithm::HS256).is_empty());
        assert!(kids(&set, None, Algorithm::ES384).is_empty());
    }

    #[test]
    fn jwk_alg_pins_the_algorithm() {
        let mut doc = jwks(&["rsa-a"]);
        doc["keys"][0]["alg"] = json!("RS256");
        let set = KeySet::from_jwks(doc).unwrap();
        assert_eq!(kids(&set, None, Algorithm::RS256).len(), 1);
        assert!(kids(&set, None, Algorithm::PS256).is_empty());
    }
}
