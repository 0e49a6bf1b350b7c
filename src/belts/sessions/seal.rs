//! What makes a stored console session useless to whoever reads the database. The browser's
//! cookie holds 32 random bytes that are never stored; the row is found by their SHA-256, and the
//! session's secrets are sealed (ChaCha20-Poly1305) under a key derived from them by HKDF-SHA256,
//! with the row's key as associated data, so a sealed value moved to another row opens nowhere.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// HKDF's salt and info: they tie the derived key to this one use of the cookie secret.
const SALT: &[u8] = b"belt-api console session";
const SEALING: &[u8] = b"sealing key, version 1";

/// The browser's session cookie: 32 random bytes, base64url in the cookie.
pub struct CookieSecret([u8; 32]);

impl CookieSecret {
    pub fn generate() -> CookieSecret {
        CookieSecret(random_key())
    }

    /// The secret a cookie holds; `None` for anything but base64url of exactly 32 bytes.
    pub fn parse(cookie: &str) -> Option<CookieSecret> {
        decode_key(cookie).map(CookieSecret)
    }

    /// The cookie's value.
    pub fn encode(&self) -> String {
        encode_key(&self.0)
    }

    /// The session's row key: base64url(SHA-256(secret)). It finds the row but does not open it,
    /// and the secret cannot be had back from it.
    pub fn row_key(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.0);
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }

    fn sealing_key(&self) -> LessSafeKey {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&self.0);
        let okm = prk
            .expand(&[SEALING], &CHACHA20_POLY1305)
            .expect("32 bytes are within HKDF-SHA256's output");
        LessSafeKey::new(UnboundKey::from(okm))
    }

    /// `plain` sealed for this session's row.
    pub fn seal(&self, plain: &[u8]) -> String {
        seal_with(&self.sealing_key(), self.row_key().as_bytes(), plain)
    }

    /// What [`CookieSecret::seal`] sealed for this row; `None` for anything else.
    pub fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        open_with(&self.sealing_key(), self.row_key().as_bytes(), sealed)
    }
}

/// base64url(nonce ‖ ciphertext ‖ tag) of `plain`, with a random nonce: a key seals few values
/// (a session's renewals, a sign-in's cookies), far from where random nonces could repeat.
pub fn seal_with(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("the system's random source works");
    let mut sealed = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut sealed,
    )
    .expect("a plaintext far under ChaCha20-Poly1305's limit");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    URL_SAFE_NO_PAD.encode(out)
}

/// What [`seal_with`] sealed under `key` with `aad`; `None` for anything else (altered,
/// truncated, another key's, another row's).
pub fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if bytes.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut sealed = sealed.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad), &mut sealed).ok()?;
    Some(plain.to_vec())
}

/// A ChaCha20-Poly1305 key of 32 bytes.
pub fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, bytes).expect("a 32-byte key"))
}

pub fn random_key() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes
}

/// 32 random bytes, base64url.
pub fn random_secret() -> String {
    encode_key(&random_key())
}

pub fn encode_key(key: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

/// The 32 bytes `encoded` holds in base64url; `None` for anything else.
pub fn decode_key(encoded: &str) -> Option<[u8; 32]> {
    URL_SAFE_NO_PAD.decode(encoded).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_session_opens_only_with_its_own_cookie_and_unaltered() {
        let secret = CookieSecret::generate();
        let again = CookieSecret::parse(&secret.encode()).unwrap();
        assert_eq!(again.row_key(), secret.row_key());
        let sealed = secret.seal(b"the refresh token");
        assert_eq!(again.open(&sealed).unwrap(), b"the refresh token");
        assert!(!sealed.contains("refresh"));
        assert!(
            CookieSecret::generate().open(&sealed).is_none(),
            "another cookie"
        );
        let mut altered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        altered[NONCE_LEN] ^= 1;
        assert!(secret.open(&URL_SAFE_NO_PAD.encode(altered)).is_none());
        let key = secret.sealing_key();
        let elsewhere = seal_with(&key, b"another row", b"the refresh token");
        assert!(
            secret.open(&elsewhere).is_none(),
            "another row's associated data"
        );
    }

    #[test]
    fn only_32_bytes_of_base64url_are_a_cookie_secret() {
        assert!(CookieSecret::parse("").is_none());
        assert!(CookieSecret::parse("not base64!").is_none());
        assert!(CookieSecret::parse(&URL_SAFE_NO_PAD.encode([1u8; 31])).is_none());
        assert!(CookieSecret::parse(&URL_SAFE_NO_PAD.encode([1u8; 33])).is_none());
        assert!(CookieSecret::parse(&random_secret()).is_some());
    }
}
