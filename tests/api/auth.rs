//! Authentication: token headers, JWKS verification, key rotation, refused algorithms, dev mode.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    every_token_header_form_is_accepted,
    missing_or_broken_tokens_are_401,
    refused_algorithms_and_forged_tokens_are_401,
    rotated_keys_are_picked_up,
    unknown_kids_do_not_hammer_the_identity_provider,
    dev_mode_trusts_only_its_own_key,
    tokens_never_reach_logs_or_error_bodies,
    a_withdrawn_key_is_refused_within_the_jwks_max_age,
    forged_key_locations_wrong_audiences_and_oversized_tokens_are_401,
);

async fn every_token_header_form_is_accepted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.viewer();
    for (header, value) in [
        ("Authorization", format!("Bearer {token}")),
        ("Authorization", format!("bearer {token}")),
        ("Authentication", token.clone()),
        ("Authentication", format!("Bearer {token}")),
    ] {
        let response = app
            .request(Method::GET, "/projects/global/belts", None)
            .header(header, value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{header}");
    }
}

async fn missing_or_broken_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issuer = app.idp.as_ref().unwrap().issuer();
    let roles = json!({"global": {"roles": ["editor"]}});
    let expired = sign_with(
        "rsa-a",
        &json!({"iss": issuer, "exp": now() - 120, "resource_access": roles}),
    );
    let not_yet = sign_with(
        "rsa-a",
        &json!({"iss": issuer, "exp": now() + 600, "nbf": now() + 300, "resource_access": roles}),
    );
    let wrong_issuer = sign_with(
        "rsa-a",
        &json!({"iss": "https://elsewhere/realms/x", "exp": now() + 600, "resource_access": roles}),
    );
    // Signed by a key the identity provider does not publish.
    let foreign = sign_with("rsa-b", &keycloak_claims(&issuer, "global", &["editor"]));
    for token in [
        None,
        Some("not-a-jwt".to_string()),
        Some(expired),
        Some(not_yet),
        Some(wrong_issuer),
        Some(foreign),
    ] {
        let response = app
            .request(Method::GET, "/projects/global/belts", token.as_deref())
            .send()
            .await
            .unwrap();
        let message =
            assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
        assert_eq!(message, "Authentication failed.");
    }
    // Within the 30 s leeway an expired token still passes.
    let just_expired = sign_with(
        "rsa-a",
        &json!({"iss": issuer, "exp": now() - 5, "resource_access": roles}),
    );
    assert_eq!(
        app.get("/projects/global/belts", &just_expired)
            .await
            .status(),
        StatusCode::OK
    );
}

fn unsigned_token(alg: &str, claims: &serde_json::Value) -> String {
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": "rsa-a"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

async fn refused_algorithms_and_forged_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let claims = keycloak_claims(&app.idp.as_ref().unwrap().issuer(), "global", &["editor"]);
    // alg: none, in every spelling.
    for alg in ["none", "None", "NONE"] {
        let response = app
            .get("/projects/global/belts", &unsigned_token(alg, &claims))
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    }
    // HMAC key confusion: HS256 keyed with the published RSA public key.
    let public_pem = fixture("keys/rsa-a.pub.pem");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-a".into());
    let forged =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public_pem)).unwrap();
    let response = app.get("/projects/global/belts", &forged).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    // A valid token with its payload swapped keeps the old signature: refused.
    let good = sign_with("rsa-a", &claims);
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut elevated = claims.clone();
    elevated["resource_access"]["other"] = json!({"roles": ["editor"]});
    let payload = URL_SAFE_NO_PAD.encode(elevated.to_string());
    parts[1] = &payload;
    let tampered = parts.join(".");
    let response = app.get("/projects/global/belts", &tampered).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    // The untampered token works.
    assert_eq!(
        app.get("/projects/global/belts", &good).await.status(),
        StatusCode::OK
    );
}

async fn rotated_keys_are_picked_up(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: vec![("--jwks-refetch-interval-ms".into(), "0".into())],
            ..Default::default()
        },
    )
    .await;
    let idp = app.idp.as_ref().unwrap();
    assert_eq!(
        app.get("/projects/global/belts", &app.viewer())
            .await
            .status(),
        StatusCode::OK
    );
    // The identity provider rotates to rsa-b (and forgets what it was asked so far); a token with
    // the new kid makes the service refetch.
    idp.serve_keys(&["rsa-b"]).await;
    let before = idp.jwks_requests().await;
    let rotated = sign_with(
        "rsa-b",
        &keycloak_claims(&idp.issuer(), "global", &["viewer"]),
    );
    let response = app.get("/projects/global/belts", &rotated).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
    assert!(
        idp.jwks_requests().await > before,
        "the key set was fetched again"
    );
}

async fn unknown_kids_do_not_hammer_the_identity_provider(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let idp = app.idp.as_ref().unwrap();
    assert_eq!(
        app.get("/projects/global/belts", &app.viewer())
            .await
            .status(),
        StatusCode::OK
    );
    let before = idp.jwks_requests().await;
    let claims = keycloak_claims(&idp.issuer(), "global", &["viewer"]);
    for _ in 0..10 {
        let response = app
            .get("/projects/global/belts", &sign_with("rsa-b", &claims))
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    }
    assert!(
        idp.jwks_requests().await <= before + 1,
        "at most one refetch inside the interval"
    );
}

async fn dev_mode_trusts_only_its_own_key(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            dev_mode: true,
            ..Default::default()
        },
    )
    .await;
    assert!(app.data_dir.path().join("dev-signing-key.pk8").exists());
    let token = app.editor();
    let created = app.create_belt("global", &minimal_belt("dev")).await;
    assert_eq!(
        created["createdBy"],
        json!({"name": "Dev User", "email": "dev@localhost"})
    );
    assert_eq!(
        app.get("/projects/global/belts", &token).await.status(),
        StatusCode::OK
    );
    // A token from an identity-provider key is not trusted in dev mode.
    let outsider = sign_with(
        "rsa-a",
        &keycloak_claims("http://127.0.0.1:1", "global", &["editor"]),
    );
    let response = app.get("/projects/global/belts", &outsider).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    // Neither is a dev token minted by another data dir's key.
    let other_dir = tempfile::tempdir().unwrap();
    let other_key = belt_api::auth::DevKey::load_or_create(other_dir.path()).unwrap();
    let other = other_key
        .mint(
            &belt_api::auth::Claims {
                resource_access: [(
                    "global".to_string(),
                    belt_api::auth::Access {
                        roles: vec!["editor".into()],
                    },
                )]
                .into(),
                ..Default::default()
            },
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let response = app.get("/projects/global/belts", &other).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
}

async fn tokens_never_reach_logs_or_error_bodies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.editor();
    let created = app.create_belt("global", &minimal_belt("quiet")).await;
    let path = format!("/projects/global/belts/{}", created["id"].as_str().unwrap());
    let mut bodies = Vec::new();
    for response in [
        app.get(&path, &token).await,
        app.put(&path, &token, &json!({"name": 5})).await,
        app.get("/projects/global/belts?pagesize=x", &token).await,
        app.get(&path, &format!("{token}x")).await,
        app.get("/projects/other/belts", &token).await,
    ] {
        bodies.push(response.text().await.unwrap());
    }
    let logs = captured_logs();
    assert!(!logs.is_empty(), "logs were captured");
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !logs.contains(signature),
        "a token signature reached the logs"
    );
    assert!(!logs.contains(&token[..40]), "a token reached the logs");
    for body in bodies {
        assert!(
            !body.contains(signature),
            "a token reached a response: {body}"
        );
        assert!(
            !body.to_lowercase().contains("select "),
            "SQL reached a response: {body}"
        );
    }
}

async fn a_withdrawn_key_is_refused_within_the_jwks_max_age(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: vec![
                ("--jwks-refetch-interval-ms".into(), "0".into()),
                ("--jwks-max-age-secs".into(), "1".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let idp = app.idp.as_ref().unwrap();
    idp.serve_keys(&["rsa-a", "rsa-b"]).await;
    let claims = keycloak_claims(&idp.issuer(), "global", &["viewer"]);
    let kept = sign_with("rsa-a", &claims);
    let withdrawn = sign_with("rsa-b", &claims);
    for token in [&kept, &withdrawn] {
        let response = app.get("/projects/global/belts", token).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // The identity provider withdraws rsa-b. Within the configured max age (1 s, plus the time
    // of one fetch) every rsa-b token is refused: the one the service remembers, and new ones.
    idp.serve_keys(&["rsa-a"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let mut fresh_claims = claims.clone();
    fresh_claims["jti"] = json!("minted-after-withdrawal");
    for token in [withdrawn, sign_with("rsa-b", &fresh_claims)] {
        let response = app.get("/projects/global/belts", &token).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    }
    let response = app.get("/projects/global/belts", &kept).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a key still listed keeps working"
    );
}

async fn forged_key_locations_wrong_audiences_and_oversized_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            args: vec![
                ("--jwks-refetch-interval-ms".into(), "0".into()),
                ("--oidc-audience".into(), "belt-api".into()),
            ],
            ..Default::default()
        },
    )
    .await;
    let issuer = app.idp.as_ref().unwrap().issuer();
    // An attacker's server publishing the key the forgeries are signed with.
    let attacker = Idp::start(&["rsa-b"]).await;
    let mut claims = keycloak_claims(&issuer, "global", &["editor"]);
    claims["aud"] = json!(["account", "belt-api"]);
    assert_eq!(
        app.get("/projects/global/belts", &sign_with("rsa-a", &claims))
            .await
            .status(),
        StatusCode::OK
    );
    let rsa_b = EncodingKey::from_rsa_pem(&fixture("keys/rsa-b.pem")).unwrap();
    let rsa_b_jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_slice(&fixture("keys/rsa-b.jwk.json")).unwrap();
    let mut forged = Vec::new();
    for kid in [Some("rsa-b"), Some("rsa-a"), None] {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        header.jku = Some(format!(
            "{}/protocol/openid-connect/certs",
            attacker.issuer()
        ));
        header.x5u = Some(format!("{}/cert.pem", attacker.issuer()));
        header.jwk = Some(rsa_b_jwk.clone());
        forged.push(jsonwebtoken::encode(&header, &claims, &rsa_b).unwrap());
    }
    // Signed by the identity provider's key, for another audience, or for none.
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("account");
    forged.push(sign_with("rsa-a", &other_audience));
    let mut no_audience = claims.clone();
    no_audience.as_object_mut().unwrap().remove("aud");
    forged.push(sign_with("rsa-a", &no_audience));
    // Validly signed, but larger than any real token.
    let mut padded = claims.clone();
    padded["padding"] = json!("x".repeat(40 * 1024));
    forged.push(sign_with("rsa-a", &padded));
    // An unknown kid.
    forged.push(sign_with("rsa-b", &claims));
    for token in forged {
        let response = app.get("/projects/global/belts", &token).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "authentication_error").await;
    }
    assert!(
        attacker
            .server
            .received_requests()
            .await
            .unwrap()
            .is_empty(),
        "a key location named by a token was fetched"
    );
}
