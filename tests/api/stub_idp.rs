//! A stub OpenID Connect provider for the console's sign-in (`ui_oidc.rs`): an axum server on
//! port 0 with discovery, a JWKS (the fixture key `rsa-a`), an authorization endpoint that
//! approves the configured user at once, a token endpoint that VERIFIES PKCE (SHA-256 of the
//! verifier must be the challenge), answers each code once and rotates refresh tokens, and an
//! end-session endpoint. Every token it issues is recorded, so a test can look for them where
//! they must never be. Self-contained, so that the browser test (`tests/ui_browser/oidc.rs`)
//! includes the same file; each binary uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

pub const CLIENT_ID: &str = "belt-console";
pub const CLIENT_SECRET: &str = "console-secret";

/// Who the authorization endpoint signs in, and how the next answers misbehave.
#[derive(Clone)]
pub struct Behaviour {
    pub name: String,
    pub project: String,
    pub roles: Vec<String>,
    /// Roles in further projects, besides `roles` in `project`.
    pub also: Vec<(String, Vec<String>)>,
    /// Seconds until an access token expires.
    pub access_lifetime: i64,
    /// `error=` instead of a code (`access_denied`).
    pub deny: Option<String>,
    /// The ID token carries another nonce than the one asked for.
    pub wrong_nonce: bool,
    /// The ID token is signed by a key the JWKS does not publish.
    pub foreign_id_key: bool,
    /// The code is remembered with another challenge: the verifier will not match.
    pub corrupt_challenge: bool,
    /// Refresh grants are refused (`invalid_grant`).
    pub refuse_refresh: bool,
}

struct Grant {
    challenge: String,
    nonce: String,
    redirect_uri: String,
    used: bool,
}

#[derive(Default)]
struct Book {
    codes: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, String>,
    issued: Vec<String>,
    refresh_grants: usize,
    logouts: Vec<HashMap<String, String>>,
    counter: u64,
}

pub struct StubIdp {
    pub issuer: String,
    behaviour: Mutex<Behaviour>,
    book: Mutex<Book>,
}

impl StubIdp {
    pub async fn start(project: &str, roles: &[&str]) -> Arc<StubIdp> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let stub = Arc::new(StubIdp {
            issuer,
            behaviour: Mutex::new(Behaviour {
                name: "Ada Lovelace".into(),
                project: project.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                also: Vec::new(),
                access_lifetime: 600,
                deny: None,
                wrong_nonce: false,
                foreign_id_key: false,
                corrupt_challenge: false,
                refuse_refresh: false,
            }),
            book: Mutex::new(Book::default()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/certs", get(certs))
            .route("/auth", get(authorize))
            .route("/token", post(token))
            .route("/logout", get(logout))
            .with_state(stub.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        stub
    }

    pub fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().unwrap());
    }

    /// Every token issued so far (access, ID and refresh).
    pub fn issued(&self) -> Vec<String> {
        self.book.lock().unwrap().issued.clone()
    }

    pub fn refresh_grants(&self) -> usize {
        self.book.lock().unwrap().refresh_grants
    }

    /// The query of each visit to the end-session endpoint.
    pub fn logouts(&self) -> Vec<HashMap<String, String>> {
        self.book.lock().unwrap().logouts.clone()
    }

    /// An access token for the API, as the provider would issue one.
    pub fn api_token(&self, project: &str, roles: &[&str]) -> String {
        sign_with("rsa-a", &self.claims("someone-else", project, roles, 600))
    }

    fn claims(&self, sub: &str, project: &str, roles: &[&str], lifetime: i64) -> Value {
        let behaviour = self.behaviour.lock().unwrap().clone();
        let mut access = json!({ project: { "roles": roles } });
        if sub == "ada" {
            for (project, roles) in &behaviour.also {
                access[project] = json!({ "roles": roles });
            }
        }
        json!({
            "iss": self.issuer, "sub": sub, "iat": now(), "exp": now() + lifetime,
            "name": behaviour.name, "email": "ada@example.com", "typ": "Bearer",
            "resource_access": access,
        })
    }

    /// Access, ID and refresh token for the signed-in user; `nonce` in the ID token.
    fn tokens(&self, nonce: Option<&str>) -> Value {
        let behaviour = self.behaviour.lock().unwrap().clone();
        let roles: Vec<&str> = behaviour.roles.iter().map(String::as_str).collect();
        let access = self.claims("ada", &behaviour.project, &roles, behaviour.access_lifetime);
        let access = sign_with("rsa-a", &access);
        let mut identity = json!({
            "iss": self.issuer, "sub": "ada", "aud": CLIENT_ID, "iat": now(), "exp": now() + 600,
            "name": behaviour.name,
        });
        if let Some(nonce) = nonce {
            let nonce = if behaviour.wrong_nonce {
                "not-the-nonce"
            } else {
                nonce
            };
            identity["nonce"] = json!(nonce);
        }
        let key = if behaviour.foreign_id_key {
            "rsa-b"
        } else {
            "rsa-a"
        };
        let id_token = sign_with(key, &identity);
        let mut book = self.book.lock().unwrap();
        book.counter += 1;
        let refresh = format!("refresh-{}-{}", book.counter, now());
        book.refresh_tokens.insert(refresh.clone(), "ada".into());
        book.issued
            .extend([access.clone(), id_token.clone(), refresh.clone()]);
        json!({
            "access_token": access, "id_token": id_token, "refresh_token": refresh,
            "token_type": "Bearer", "expires_in": behaviour.access_lifetime,
        })
    }
}

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keys");

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.unwrap().as_secs() as i64
}

/// Signs `claims` RS256 with the fixture key `key`, named as its `kid`.
fn sign_with(key: &str, claims: &Value) -> String {
    let pem = std::fs::read(format!("{KEYS}/{key}.pem")).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

fn pairs(raw: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

async fn discovery(State(stub): State<Arc<StubIdp>>) -> Json<Value> {
    let issuer = &stub.issuer;
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/auth"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/certs"),
        "end_session_endpoint": format!("{issuer}/logout"),
    }))
}

async fn certs() -> Json<Value> {
    let jwk = std::fs::read(format!("{KEYS}/rsa-a.jwk.json")).unwrap();
    let key: Value = serde_json::from_slice(&jwk).unwrap();
    Json(json!({ "keys": [key] }))
}

/// Approves at once, as a provider with a signed-in user and consent given would.
async fn authorize(State(stub): State<Arc<StubIdp>>, RawQuery(raw): RawQuery) -> Response {
    let query = pairs(&raw.unwrap_or_default());
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let well_formed = field("response_type") == "code"
        && field("client_id") == CLIENT_ID
        && field("scope").split(' ').any(|scope| scope == "openid")
        && field("code_challenge_method") == "S256"
        && field("code_challenge").len() == 43
        && !field("state").is_empty()
        && !field("nonce").is_empty();
    if !well_formed {
        return (StatusCode::BAD_REQUEST, "malformed authorization request").into_response();
    }
    let (redirect_uri, state) = (field("redirect_uri"), field("state"));
    let behaviour = stub.behaviour.lock().unwrap().clone();
    if let Some(error) = behaviour.deny {
        return Redirect::to(&format!("{redirect_uri}?error={error}&state={state}"))
            .into_response();
    }
    let mut book = stub.book.lock().unwrap();
    book.counter += 1;
    let code = format!("code-{}", book.counter);
    let challenge = if behaviour.corrupt_challenge {
        URL_SAFE_NO_PAD.encode([7u8; 32])
    } else {
        field("code_challenge")
    };
    let grant = Grant {
        challenge,
        nonce: field("nonce"),
        redirect_uri: redirect_uri.clone(),
        used: false,
    };
    book.codes.insert(code.clone(), grant);
    Redirect::to(&format!("{redirect_uri}?code={code}&state={state}")).into_response()
}

async fn token(State(stub): State<Arc<StubIdp>>, body: String) -> Response {
    let form = pairs(&body);
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return refuse("invalid_client");
    }
    match field("grant_type").as_str() {
        "authorization_code" => {
            let nonce = {
                let mut book = stub.book.lock().unwrap();
                let Some(grant) = book.codes.get_mut(&field("code")) else {
                    return refuse("invalid_grant");
                };
                let proof =
                    ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes());
                let proved = URL_SAFE_NO_PAD.encode(proof.as_ref()) == grant.challenge;
                if grant.used || !proved || grant.redirect_uri != field("redirect_uri") {
                    grant.used = true;
                    return refuse("invalid_grant");
                }
                grant.used = true;
                grant.nonce.clone()
            };
            Json(stub.tokens(Some(&nonce))).into_response()
        }
        "refresh_token" => {
            let refused = stub.behaviour.lock().unwrap().refuse_refresh;
            let mut book = stub.book.lock().unwrap();
            book.refresh_grants += 1;
            // Rotation: a refresh token is good once.
            if book
                .refresh_tokens
                .remove(&field("refresh_token"))
                .is_none()
                || refused
            {
                return refuse("invalid_grant");
            }
            drop(book);
            Json(stub.tokens(None)).into_response()
        }
        _ => refuse("unsupported_grant_type"),
    }
}

fn refuse(error: &str) -> Response {
    let body = json!({ "error": error, "error_description": "stub refused" });
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

async fn logout(State(stub): State<Arc<StubIdp>>, RawQuery(raw): RawQuery) -> Response {
    let query = pairs(&raw.unwrap_or_default());
    let back = query
        .get("post_logout_redirect_uri")
        .cloned()
        .unwrap_or_default();
    stub.book.lock().unwrap().logouts.push(query);
    Redirect::to(&back).into_response()
}
