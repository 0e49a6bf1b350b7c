//! `GET /whoami` (docs/api.md#who-am-i): the caller's names and the projects their token grants,
//! from the verified token only; a forged or tampered token learns nothing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    whoami_names_the_caller_and_each_project_the_token_grants,
    whoami_refuses_a_missing_or_tampered_token,
);

async fn whoami_names_the_caller_and_each_project_the_token_grants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let issuer = app.idp.as_ref().unwrap().issuer();
    let mut claims = keycloak_claims(&issuer, "zeta", &["viewer"]);
    claims["resource_access"]["global"] = json!({"roles": ["viewer", "editor"]});
    claims["resource_access"]["alpha"] = json!({"roles": ["viewer"]});
    // A client role that is no console role, and one under a name that is no project.
    claims["resource_access"]["account"] = json!({"roles": ["manage-account"]});
    claims["resource_access"]["not a project"] = json!({"roles": ["editor"]});
    let token = sign_with("rsa-a", &claims);
    let (status, body) = json_of(app.get("/whoami", &token).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "name": "Arthur Author",
            "email": "arthur@author.com",
            "subject": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "projects": [
                {"project": "global", "role": "editor"},
                {"project": "alpha", "role": "viewer"},
                {"project": "zeta", "role": "viewer"},
            ],
        })
    );
    // No console role anywhere: an empty list, not a refusal.
    let nothing = sign_with(
        "rsa-a",
        &keycloak_claims(&issuer, "account", &["manage-account"]),
    );
    let (status, body) = json_of(app.get("/whoami", &nothing).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["projects"], json!([]));
}

async fn whoami_refuses_a_missing_or_tampered_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let missing = app
        .request(reqwest::Method::GET, "/whoami", None)
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::UNAUTHORIZED, "authentication_error").await;
    // A viewer's token with a project added to its payload keeps the old signature: refused.
    let issuer = app.idp.as_ref().unwrap().issuer();
    let claims = keycloak_claims(&issuer, "global", &["viewer"]);
    let good = sign_with("rsa-a", &claims);
    let mut elevated = claims.clone();
    elevated["resource_access"]["other"] = json!({"roles": ["editor"]});
    let payload = URL_SAFE_NO_PAD.encode(elevated.to_string());
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = &payload;
    let tampered = app.get("/whoami", &parts.join(".")).await;
    assert_error(tampered, StatusCode::UNAUTHORIZED, "authentication_error").await;
    let (status, body) = json_of(app.get("/whoami", &good).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["projects"],
        json!([{"project": "global", "role": "viewer"}])
    );
}
