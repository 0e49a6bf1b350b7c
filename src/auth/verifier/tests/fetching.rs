//! Fetching the key set: refetch limits, outages, redirects, key rotation and max-age.

use super::*;

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
