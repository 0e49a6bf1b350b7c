use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::auth::test_support::{
    claims, fixture, idp, jwks, mount_discovery, now, requests_to, sign, TempDir,
};
use crate::auth::DEV_KID;

mod fetching;
mod id_tokens;

fn oidc(issuer: &str) -> AuthConfig {
    AuthConfig {
        issuer: Some(issuer.to_owned()),
        ..AuthConfig::default()
    }
}

async fn verifier(config: &AuthConfig) -> Verifier {
    Verifier::new(config).await.unwrap()
}

/// Dev mode, its key under `dir`.
fn dev_config(dir: &TempDir) -> AuthConfig {
    AuthConfig {
        data_dir: dir.path().join("data"),
        ..AuthConfig::default()
    }
}

fn assert_invalid(result: Result<Claims, AuthError>, expected: &str) {
    match result {
        Err(AuthError::Invalid(reason)) => assert!(reason.contains(expected), "{reason}"),
        other => panic!("expected Invalid({expected}), got {other:?}"),
    }
}

fn with(mut claims: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

#[tokio::test]
async fn accepts_every_allowed_algorithm_via_discovery() {
    let server = idp(jwks(&["rsa-a", "ec-a"])).await;
    let v = verifier(&oidc(&server.uri())).await;
    assert_eq!(
        v.mode(),
        AuthMode::Oidc {
            issuer: Some(server.uri()),
            jwks_url: "discovery".into()
        }
    );
    let body = with(
        claims(&server.uri()),
        json!({ "realm_access": { "roles": ["r"] } }),
    );
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
    ] {
        let got = v.verify(&sign(alg, "rsa-a", Some("rsa-a"), &body)).await;
        assert_eq!(got.unwrap().sub.as_deref(), Some("user-1"), "{alg:?}");
    }
    let got = v
        .verify(&sign(Algorithm::ES256, "ec-a", Some("ec-a"), &body))
        .await
        .unwrap();
    assert!(got.holds_any_role("r"));
    // All of that came from the one eager fetch.
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

#[tokio::test]
async fn issuer_may_be_configured_with_trailing_slash() {
    let server = idp(jwks(&["rsa-a"])).await;
    let v = verifier(&oidc(&format!("{}/", server.uri()))).await;
    let token = sign(
        Algorithm::RS256,
        "rsa-a",
        Some("rsa-a"),
        &claims(&server.uri()),
    );
    v.verify(&token).await.unwrap();
}

#[tokio::test]
async fn explicit_jwks_url_without_issuer_skips_iss_check() {
    let server = idp(jwks(&["rsa-a"])).await;
    let config = AuthConfig {
        jwks_url: Some(format!("{}/jwks", server.uri())),
        ..AuthConfig::default()
    };
    let v = verifier(&config).await;
    assert!(
        matches!(v.mode(), AuthMode::Oidc { issuer: None, ref jwks_url } if jwks_url.ends_with("/jwks"))
    );
    let token = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &claims("anyone"));
    v.verify(&token).await.unwrap();
    assert_eq!(
        requests_to(&server, "/.well-known/openid-configuration").await,
        0
    );
}

#[tokio::test]
async fn exp_and_nbf_are_checked_with_leeway() {
    let server = idp(jwks(&["rsa-a"])).await;
    let v = verifier(&oidc(&server.uri())).await;
    let iss = server.uri();
    let token = |extra: Value| {
        sign(
            Algorithm::RS256,
            "rsa-a",
            Some("rsa-a"),
            &with(claims(&iss), extra),
        )
    };
    let now = now();

    assert_invalid(
        v.verify(&token(json!({ "exp": now - 120 }))).await,
        "expired",
    );
    v.verify(&token(json!({ "exp": now - 10 }))).await.unwrap();
    assert_invalid(
        v.verify(&token(json!({ "nbf": now + 120 }))).await,
        "not yet valid",
    );
    v.verify(&token(json!({ "nbf": now + 10 }))).await.unwrap();

    let mut no_exp = claims(&iss);
    no_exp.as_object_mut().unwrap().remove("exp");
    let no_exp = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &no_exp);
    assert_invalid(v.verify(&no_exp).await, "missing claim exp");
}

#[tokio::test]
async fn issuer_must_match() {
    let server = idp(jwks(&["rsa-a"])).await;
    let v = verifier(&oidc(&server.uri())).await;
    let wrong = sign(
        Algorithm::RS256,
        "rsa-a",
        Some("rsa-a"),
        &claims("https://evil.example"),
    );
    assert_invalid(v.verify(&wrong).await, "wrong issuer");

    let mut missing = claims("");
    missing.as_object_mut().unwrap().remove("iss");
    let missing = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &missing);
    assert_invalid(v.verify(&missing).await, "missing claim iss");
}

#[tokio::test]
async fn audience_is_checked_only_when_configured() {
    let server = idp(jwks(&["rsa-a"])).await;
    let iss = server.uri();
    let token = |aud: Value| {
        let body = match aud {
            Value::Null => claims(&iss),
            aud => with(claims(&iss), json!({ "aud": aud })),
        };
        sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &body)
    };

    let any = verifier(&oidc(&iss)).await;
    any.verify(&token(json!("account"))).await.unwrap();
    any.verify(&token(Value::Null)).await.unwrap();

    let config = AuthConfig {
        audience: Some("belt-api".into()),
        ..oidc(&iss)
    };
    let v = verifier(&config).await;
    let got = v.verify(&token(json!("belt-api"))).await.unwrap();
    assert_eq!(got.aud, vec!["belt-api"]);
    v.verify(&token(json!(["account", "belt-api"])))
        .await
        .unwrap();
    assert_invalid(v.verify(&token(json!("account"))).await, "wrong audience");
    assert_invalid(v.verify(&token(json!(["a", "b"]))).await, "wrong audience");
    assert_invalid(v.verify(&token(Value::Null)).await, "missing claim aud");
}

#[tokio::test]
async fn alg_none_is_refused() {
    let server = idp(jwks(&["rsa-a"])).await;
    let v = verifier(&oidc(&server.uri())).await;
    let part = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
    for header in [
        json!({ "alg": "none", "typ": "JWT", "kid": "rsa-a" }),
        json!({ "alg": "None" }),
    ] {
        let token = format!("{}.{}.", part(header), part(claims(&server.uri())));
        assert_invalid(v.verify(&token).await, "unsupported alg");
    }
}

#[tokio::test]
async fn hmac_key_confusion_is_refused() {
    // The classic attack: HS256 with the RSA public key as the shared secret.
    let mut doc = jwks(&["rsa-a"]);
    let secret = fixture("rsa-a.pub.pem");
    doc["keys"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "kty": "oct", "kid": "hmac", "k": URL_SAFE_NO_PAD.encode(&secret) }));
    let server = idp(doc).await;
    let v = verifier(&oidc(&server.uri())).await;
    let body = claims(&server.uri());
    for kid in [Some("rsa-a"), None, Some("hmac")] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        let token =
            jsonwebtoken::encode(&header, &body, &EncodingKey::from_secret(&secret)).unwrap();
        assert_invalid(v.verify(&token).await, "algorithm not allowed");
    }
    // Refused before key lookup: no refetch for the unknown kid "hmac".
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

#[tokio::test]
async fn alg_must_fit_the_key_type() {
    let mut doc = jwks(&["rsa-a", "ec-a"]);
    doc["keys"][0]["alg"] = json!("RS256");
    let server = idp(doc).await;
    let v = verifier(&oidc(&server.uri())).await;
    let body = claims(&server.uri());
    // EC-signed token claiming the RSA key, and the reverse.
    let token = sign(Algorithm::ES256, "ec-a", Some("rsa-a"), &body);
    assert_invalid(v.verify(&token).await, "does not fit");
    let token = sign(Algorithm::RS256, "rsa-a", Some("ec-a"), &body);
    assert_invalid(v.verify(&token).await, "does not fit");
    // The JWK pins RS256, so PS256 with that key is refused too.
    let token = sign(Algorithm::PS256, "rsa-a", Some("rsa-a"), &body);
    assert_invalid(v.verify(&token).await, "does not fit");
}

#[tokio::test]
async fn kidless_token_tries_every_fitting_key() {
    let server = idp(jwks(&["rsa-b", "ec-a", "rsa-a"])).await;
    let v = verifier(&oidc(&server.uri())).await;
    let body = claims(&server.uri());
    v.verify(&sign(Algorithm::RS256, "rsa-a", None, &body))
        .await
        .unwrap();
    v.verify(&sign(Algorithm::ES256, "ec-a", None, &body))
        .await
        .unwrap();

    // Signed by a key the IdP does not publish.
    let lone = idp(jwks(&["rsa-b"])).await;
    let v = verifier(&oidc(&lone.uri())).await;
    let token = sign(Algorithm::RS256, "rsa-a", None, &claims(&lone.uri()));
    assert_invalid(v.verify(&token).await, "bad signature");
    // A kid we know, but another key's signature.
    let token = sign(
        Algorithm::RS256,
        "rsa-a",
        Some("rsa-b"),
        &claims(&lone.uri()),
    );
    assert_invalid(v.verify(&token).await, "bad signature");
}

#[tokio::test]
async fn dev_mode_trusts_only_the_dev_key() {
    let dir = TempDir::new();
    let config = dev_config(&dir);
    let v = verifier(&config).await;
    let key_path = dir.path().join("data/dev-signing-key.pk8");
    assert_eq!(
        v.mode(),
        AuthMode::Dev {
            key_path: key_path.clone()
        }
    );
    assert!(v.mode().to_string().contains("dev-signing-key.pk8"));

    let wanted = Claims {
        sub: Some("dev".into()),
        email: Some("dev@example.com".into()),
        ..Claims::default()
    };
    let token = v
        .dev_key()
        .unwrap()
        .mint(&wanted, Duration::from_secs(60))
        .unwrap();
    let got = v.verify(&token).await.unwrap();
    assert_eq!(
        (got.sub.as_deref(), got.email().as_str()),
        (Some("dev"), "dev@example.com")
    );
    assert_eq!(got.iss.as_deref(), Some(DEV_ISSUER));

    // A second verifier over the same data dir reuses the key.
    let again = verifier(&config).await;
    again.verify(&token).await.unwrap();
    let standalone = DevKey::load_or_create(&config.data_dir).unwrap();
    again
        .verify(&standalone.mint(&wanted, Duration::from_secs(60)).unwrap())
        .await
        .unwrap();

    // Expired dev tokens are refused like any other.
    let expired = standalone.mint(&wanted, Duration::ZERO).unwrap();
    let mut body = crate::auth::test_support::unverified_claims(&expired);
    body.exp = Some(now() - 120);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(DEV_KID.into());
    let token = jsonwebtoken::encode(&header, &body, &standalone.signing).unwrap();
    assert_invalid(v.verify(&token).await, "expired");

    // Right key, wrong issuer.
    body.exp = Some(now() + 60);
    body.iss = Some("someone-else".into());
    let token = jsonwebtoken::encode(&header, &body, &standalone.signing).unwrap();
    assert_invalid(v.verify(&token).await, "wrong issuer");

    // Another EC key claiming to be the dev key, and RSA tokens.
    let body = claims(DEV_ISSUER);
    assert_invalid(
        v.verify(&sign(Algorithm::ES256, "ec-a", Some(DEV_KID), &body))
            .await,
        "bad signature",
    );
    assert_invalid(
        v.verify(&sign(Algorithm::ES256, "ec-a", None, &body)).await,
        "bad signature",
    );
    assert_invalid(
        v.verify(&sign(Algorithm::RS256, "rsa-a", Some(DEV_KID), &body))
            .await,
        "not allowed",
    );
}

#[tokio::test]
async fn verifier_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Verifier>();
    assert_send_sync::<DevKey>();
}

#[tokio::test]
async fn a_verified_token_is_remembered_but_only_byte_for_byte() {
    let dir = TempDir::new();
    let config = dev_config(&dir);
    let v = verifier(&config).await;
    let wanted = Claims::default();
    let token = v
        .dev_key()
        .unwrap()
        .mint(&wanted, Duration::from_secs(60))
        .unwrap();
    let first = v.verify(&token).await.unwrap();
    assert_eq!(v.verified.get(&token, now(), |_| true), Some(first.clone()));
    assert_eq!(v.verify(&token).await.unwrap(), first);

    // The same claims with a flipped signature byte are checked afresh, and refused.
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_invalid(v.verify(&forged).await, "bad signature");
    assert_eq!(v.verified.get(&forged, now(), |_| true), None);
}
