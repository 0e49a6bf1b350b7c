//! Shared helpers for the auth tests: fixture keys, token signing, a mock IdP.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::Claims;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A JWKS with the public JWKs of the named fixture keys ("rsa-a", ...).
pub(crate) fn jwks(names: &[&str]) -> Value {
    let keys: Vec<Value> = names
        .iter()
        .map(|name| serde_json::from_slice(&fixture(&format!("{name}.jwk.json"))).unwrap())
        .collect();
    json!({ "keys": keys })
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Claims valid for five minutes from `iss`.
pub(crate) fn claims(iss: &str) -> Value {
    let now = now();
    json!({ "iss": iss, "sub": "user-1", "iat": now, "nbf": now, "exp": now + 300 })
}

/// Signs `claims` with the private fixture key `key` ("rsa-a", "ec-a", ...).
pub(crate) fn sign(alg: Algorithm, key: &str, kid: Option<&str>, claims: &Value) -> String {
    let pem = fixture(&format!("{key}.pem"));
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_rsa_pem(&pem),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// Reads a token's claims without checking anything (for asserting on what
/// was minted).
pub(crate) fn unverified_claims(token: &str) -> Claims {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A mock IdP serving discovery at the usual path and `jwks` at `/jwks`.
/// Its issuer is `server.uri()`.
pub(crate) async fn idp(jwks: Value) -> MockServer {
    let server = MockServer::start().await;
    mount_discovery(&server).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks))
        .mount(&server)
        .await;
    server
}

pub(crate) async fn mount_discovery(server: &MockServer) {
    let doc = json!({ "issuer": server.uri(), "jwks_uri": format!("{}/jwks", server.uri()) });
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(doc))
        .mount(server)
        .await;
}

/// How many requests the mock server got for `url_path`.
pub(crate) async fn requests_to(server: &MockServer, url_path: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path() == url_path).count()
}

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("belt-auth-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
