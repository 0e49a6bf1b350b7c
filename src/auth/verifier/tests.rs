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
async fn unknown_kid_refetches_once_per_interval() {
    let server = MockServer::start().await;
    mount_discovery(&server).await;
    // First fetch sees only rsa-a; after "rotation" rsa-b is published too.
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&["rsa-a"])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&["rsa-a", "rsa-b"])))
        .mount(&server)
        .await;
    let v = verifier(&oidc(&server.uri())).await;
    let body = claims(&server.uri());
    assert_eq!(requests_to(&server, "/jwks").await, 1);

    // The startup fetch happened just now, so within the default 10 s window
    // the new kid is not fetched yet.
    let rotated = sign(Algorithm::RS256, "rsa-b", Some("rsa-b"), &body);
    assert_invalid(v.verify(&rotated).await, "unknown kid");
    assert_eq!(requests_to(&server, "/jwks").await, 1);

    // Once the window has passed, the unknown kid triggers a refetch.
    let v = v.with_min_refetch_interval(Duration::ZERO);
    v.verify(&rotated).await.unwrap();
    assert_eq!(requests_to(&server, "/jwks").await, 2);

    // Another unknown kid right after that fetch does not cause another one.
    let v = v.with_min_refetch_interval(Duration::from_secs(10));
    let bogus = sign(Algorithm::RS256, "rsa-b", Some("rsa-c"), &body);
    assert_invalid(v.verify(&bogus).await, "unknown kid");
    assert_invalid(v.verify(&bogus).await, "unknown kid");
    v.verify(&rotated).await.unwrap();
    v.verify(&sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &body))
        .await
        .unwrap();
    assert_eq!(requests_to(&server, "/jwks").await, 2);
    // Discovery is done once; refreshes reuse the jwks_uri.
    assert_eq!(
        requests_to(&server, "/.well-known/openid-configuration").await,
        1
    );
}

#[tokio::test]
async fn jwks_down_is_unavailable_and_recovers() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&["rsa-a"])))
        .mount(&server)
        .await;
    let config = AuthConfig {
        jwks_url: Some(format!("{}/jwks", server.uri())),
        ..AuthConfig::default()
    };
    // Startup succeeds although the fetch fails.
    let v = verifier(&config).await;
    let token = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &claims("x"));

    // Within the rate-limit window: no new request, still unavailable.
    let err = v.verify(&token).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Unavailable(m) if m.contains("500")),
        "{err:?}"
    );
    assert_eq!(requests_to(&server, "/jwks").await, 1);

    let v = v.with_min_refetch_interval(Duration::ZERO);
    assert!(matches!(
        v.verify(&token).await,
        Err(AuthError::Unavailable(_))
    ));
    assert_eq!(requests_to(&server, "/jwks").await, 2);
    // The IdP is back.
    v.verify(&token).await.unwrap();
}

#[tokio::test]
async fn unreachable_idp_is_unavailable() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let issuer = format!("http://127.0.0.1:{port}/realms/belt");
    let v = verifier(&oidc(&issuer))
        .await
        .with_min_refetch_interval(Duration::ZERO);
    let token = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &claims(&issuer));
    let err = v.verify(&token).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Unavailable(m) if m.contains("openid-configuration")),
        "{err:?}"
    );
}

#[tokio::test]
async fn garbage_is_invalid_not_unavailable() {
    let v = verifier(&oidc("http://127.0.0.1:9/")).await;
    for token in ["", "abc", "a.b.c", "a.b"] {
        assert_invalid(v.verify(token).await, "malformed");
    }
}

#[tokio::test]
async fn rejects_bad_urls() {
    assert!(Verifier::new(&oidc("not a url")).await.is_err());
    let ftp = AuthConfig {
        jwks_url: Some("ftp://idp/jwks".into()),
        ..AuthConfig::default()
    };
    assert!(Verifier::new(&ftp).await.is_err());
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

/// A second origin serving discovery and a JWKS with every fixture key: what an attacker would
/// point a redirect or a `jku` header at.
async fn elsewhere() -> MockServer {
    idp(jwks(&["rsa-a", "rsa-b", "ec-a"])).await
}

fn moved_to(url: String) -> ResponseTemplate {
    ResponseTemplate::new(302).insert_header("location", url.as_str())
}

#[tokio::test]
async fn redirects_from_the_identity_provider_are_not_followed() {
    let other = elsewhere().await;
    let token = sign(Algorithm::RS256, "rsa-b", Some("rsa-b"), &claims("x"));

    // A JWKS URL that redirects: no keys, the target is never asked.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(moved_to(format!("{}/jwks", other.uri())))
        .mount(&server)
        .await;
    let explicit = AuthConfig {
        jwks_url: Some(format!("{}/jwks", server.uri())),
        ..AuthConfig::default()
    };
    let v = verifier(&explicit).await;
    let err = v.verify(&token).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::Unavailable(m) if m.contains("302")),
        "{err:?}"
    );

    // A discovery document that redirects: likewise.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(moved_to(format!(
            "{}/.well-known/openid-configuration",
            other.uri()
        )))
        .mount(&server)
        .await;
    let v = verifier(&oidc(&server.uri())).await;
    assert!(matches!(
        v.verify(&token).await,
        Err(AuthError::Unavailable(_))
    ));

    // Keys fetched before a redirect are kept; the redirect target's keys are not trusted.
    let server = MockServer::start().await;
    mount_discovery(&server).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks(&["rsa-a"])))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(moved_to(format!("{}/jwks", other.uri())))
        .mount(&server)
        .await;
    let v = verifier(&oidc(&server.uri()))
        .await
        .with_min_refetch_interval(Duration::ZERO);
    let body = claims(&server.uri());
    let known = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &body);
    v.verify(&known).await.unwrap();
    let unknown = sign(Algorithm::RS256, "rsa-b", Some("rsa-b"), &body);
    assert_invalid(v.verify(&unknown).await, "unknown kid");
    assert!(requests_to(&server, "/jwks").await >= 2, "it did refetch");
    v.verify(&known).await.unwrap();

    assert!(
        other.received_requests().await.unwrap().is_empty(),
        "a redirect was followed"
    );
}

#[tokio::test]
async fn key_locations_in_the_token_header_are_never_used() {
    let server = idp(jwks(&["rsa-a"])).await;
    let other = elsewhere().await;
    let v = verifier(&oidc(&server.uri()))
        .await
        .with_min_refetch_interval(Duration::ZERO);
    let body = claims(&server.uri());
    let pem = fixture("rsa-b.pem");
    let rsa_b_jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_slice(&fixture("rsa-b.jwk.json")).unwrap();
    for kid in [Some("rsa-b"), Some("rsa-a"), None] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        header.jku = Some(format!("{}/jwks", other.uri()));
        header.x5u = Some(format!("{}/cert.pem", other.uri()));
        header.jwk = Some(rsa_b_jwk.clone());
        let token = jsonwebtoken::encode(&header, &body, &EncodingKey::from_rsa_pem(&pem).unwrap())
            .unwrap();
        let err = v.verify(&token).await.unwrap_err();
        assert!(matches!(err, AuthError::Invalid(_)), "{kid:?}: {err:?}");
    }
    assert!(other.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn oversized_tokens_are_refused_unread() {
    let server = idp(jwks(&["rsa-a"])).await;
    let v = verifier(&oidc(&server.uri()))
        .await
        .with_min_refetch_interval(Duration::ZERO);
    // Validly signed, by a key with an unknown kid: refused for its size, before any refetch.
    let padding = "x".repeat(MAX_TOKEN_BYTES);
    let big = sign(
        Algorithm::RS256,
        "rsa-b",
        Some("rsa-b"),
        &with(claims(&server.uri()), json!({ "padding": padding })),
    );
    assert_invalid(v.verify(&big).await, "too large");
    assert_eq!(requests_to(&server, "/jwks").await, 1);
}

/// An IdP whose JWKS (served with `cache_control`) can be replaced.
async fn rotating_idp(keys: &[&str], cache_control: &str) -> MockServer {
    let server = MockServer::start().await;
    serve(&server, keys, cache_control).await;
    server
}

async fn serve(server: &MockServer, keys: &[&str], cache_control: &str) {
    server.reset().await;
    mount_discovery(server).await;
    Mock::given(method("GET"))
        .and(path("/jwks"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", cache_control)
                .set_body_json(jwks(keys)),
        )
        .mount(server)
        .await;
}

/// Withdraws ec-a after a token signed by it was accepted (and remembered), waits `wait`, and
/// checks that the remembered ec-a token and a fresh one are refused while rsa-a keeps working.
async fn withdrawn_after(v: &Verifier, server: &MockServer, cache_control: &str, wait: Duration) {
    let body = claims(&server.uri());
    let kept = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &body);
    let withdrawn = sign(Algorithm::ES256, "ec-a", Some("ec-a"), &body);
    v.verify(&kept).await.unwrap();
    v.verify(&withdrawn).await.unwrap();
    serve(server, &["rsa-a"], cache_control).await;
    tokio::time::sleep(wait).await;
    assert_invalid(v.verify(&withdrawn).await, "unknown kid");
    let fresh = sign(
        Algorithm::ES256,
        "ec-a",
        Some("ec-a"),
        &with(claims(&server.uri()), json!({ "jti": "fresh" })),
    );
    assert_invalid(v.verify(&fresh).await, "unknown kid");
    v.verify(&kept).await.unwrap();
}

#[tokio::test]
async fn a_withdrawn_key_stops_working_after_the_key_sets_max_age() {
    // The IdP's max-age (1 s) is shorter than the configured maximum: it decides.
    let server = rotating_idp(&["rsa-a", "ec-a"], "public, max-age=1").await;
    let v = verifier(&oidc(&server.uri()))
        .await
        .with_min_refetch_interval(Duration::ZERO)
        .with_jwks_max_age(Duration::from_secs(300));
    withdrawn_after(&v, &server, "max-age=1", Duration::from_millis(1_200)).await;
}

#[tokio::test]
async fn a_withdrawn_key_stops_working_after_the_configured_maximum() {
    // The IdP asks for a day; the configured maximum (1 s) wins.
    let server = rotating_idp(&["rsa-a", "ec-a"], "max-age=86400").await;
    let v = verifier(&oidc(&server.uri()))
        .await
        .with_min_refetch_interval(Duration::ZERO)
        .with_jwks_max_age(Duration::from_secs(1));
    withdrawn_after(&v, &server, "max-age=86400", Duration::from_millis(1_200)).await;
}

#[tokio::test]
async fn due_keys_are_refreshed_without_any_request() {
    let server = rotating_idp(&["rsa-a"], "max-age=1").await;
    let _v = verifier(&oidc(&server.uri()))
        .await
        .with_min_refetch_interval(Duration::ZERO);
    assert_eq!(requests_to(&server, "/jwks").await, 1);
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(
        requests_to(&server, "/jwks").await >= 2,
        "refreshed on schedule"
    );
}
