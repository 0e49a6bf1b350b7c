//! ID tokens for the console's sign-in: the API's checks, with the client as the audience.

use super::*;

#[tokio::test]
async fn an_id_token_must_name_the_client_and_pass_every_other_check() {
    let server = idp(jwks(&["rsa-a"])).await;
    let iss = server.uri();
    // The API's audience differs from the console's client id, as with Keycloak.
    let config = AuthConfig {
        audience: Some("belt-api".into()),
        ..oidc(&iss)
    };
    let v = verifier(&config).await;
    let id_token = |extra: Value| {
        let body = with(claims(&iss), extra);
        sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &body)
    };
    let good = id_token(json!({ "aud": "belt-console", "nonce": "n-1" }));
    let got = v.verify_id_token(&good, "belt-console").await.unwrap();
    assert_eq!(got.nonce.as_deref(), Some("n-1"));
    // Not an access token for the API, and not an ID token for another client.
    assert_invalid(v.verify(&good).await, "wrong audience");
    assert_invalid(v.verify_id_token(&good, "other").await, "wrong audience");
    let no_aud = sign(Algorithm::RS256, "rsa-a", Some("rsa-a"), &claims(&iss));
    assert_invalid(
        v.verify_id_token(&no_aud, "belt-console").await,
        "missing claim aud",
    );
    let expired = id_token(json!({ "aud": "belt-console", "exp": now() - 120 }));
    assert_invalid(v.verify_id_token(&expired, "belt-console").await, "expired");
    let elsewhere = id_token(json!({ "aud": "belt-console", "iss": "https://elsewhere" }));
    assert_invalid(
        v.verify_id_token(&elsewhere, "belt-console").await,
        "wrong issuer",
    );
    let foreign = sign(
        Algorithm::RS256,
        "rsa-b",
        Some("rsa-a"),
        &with(claims(&iss), json!({ "aud": "belt-console" })),
    );
    assert_invalid(
        v.verify_id_token(&foreign, "belt-console").await,
        "bad signature",
    );
}
