//! `TestApp`: the real app on port 0 with a stub identity provider, on SQLite or PostgreSQL.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use belt_api::app::App;
use belt_api::config::{Cli, Command, ServeConfig};
use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Generates one `#[tokio::test]` per database for each `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

// ------------------------------------------------------------------------------------------------
// Captured logs: every test's app logs into one buffer, so a test can scan it for secrets.

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_buffer() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug,sqlx=info,hyper=info,hyper_util=info,reqwest=info,h2=info,rustls=info,wiremock=info")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .try_init();
        buffer
    })
}

pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().0.lock().unwrap()).into_owned()
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL: one fresh database per test (`belt_test_support::postgres`).

pub fn unique_suffix() -> String {
    belt_test_support::postgres::unique_suffix()
}

/// A fresh database's URL on the test PostgreSQL.
pub async fn fresh_postgres_database() -> String {
    belt_test_support::postgres::fresh_database("belt_test")
        .await
        .url
}

// ------------------------------------------------------------------------------------------------
// The stub identity provider.

pub struct Idp {
    pub server: MockServer,
}

impl Idp {
    pub async fn start(keys: &[&str]) -> Idp {
        let server = MockServer::start().await;
        let idp = Idp { server };
        idp.serve_keys(keys).await;
        idp
    }

    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    /// Replaces the served JWKS (key rotation).
    pub async fn serve_keys(&self, keys: &[&str]) {
        self.server.reset().await;
        let jwks: Vec<Value> = keys
            .iter()
            .map(|k| serde_json::from_slice(&fixture(&format!("keys/{k}.jwk.json"))).unwrap())
            .collect();
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": self.issuer(),
                "jwks_uri": format!("{}/protocol/openid-connect/certs", self.issuer()),
            })))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path("/protocol/openid-connect/certs"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": jwks })))
            .mount(&self.server)
            .await;
    }

    pub async fn jwks_requests(&self) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path().ends_with("/certs"))
            .count()
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Signs arbitrary claims with a fixture key, RS256, kid = key name.
pub fn sign_with(key: &str, claims: &Value) -> String {
    let encoding = EncodingKey::from_rsa_pem(&fixture(&format!("keys/{key}.pem"))).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.to_string());
    jsonwebtoken::encode(&header, claims, &encoding).unwrap()
}

/// Keycloak-shaped claims granting `roles` in client `project`.
pub fn keycloak_claims(issuer: &str, project: &str, roles: &[&str]) -> Value {
    let now = now();
    json!({
        "iss": issuer,
        "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "iat": now, "nbf": now, "exp": now + 600,
        "name": "Arthur Author",
        "preferred_username": "arthur",
        "email": "arthur@author.com",
        "realm_access": {"roles": ["offline_access"]},
        "resource_access": { project: {"roles": roles} },
    })
}

// ------------------------------------------------------------------------------------------------
// The app under test.

#[derive(Default)]
pub struct Options {
    pub harvester_url: Option<String>,
    pub trusted_hosts: Vec<String>,
    /// Extra `--flag value` pairs for `belt-api serve`.
    pub args: Vec<(String, String)>,
    /// No identity provider: dev mode with a key in the data dir.
    pub dev_mode: bool,
    /// Database URL to use instead of a fresh one (e.g. an unreachable server).
    pub database_url: Option<String>,
    /// A runtime instead of the one the configuration names.
    pub runtime: Option<std::sync::Arc<dyn belt_api::runtime::Runtime>>,
    /// With `runtime`: test-invoke on it (a pod invoker on the same fake API server).
    pub invoker: Option<std::sync::Arc<dyn belt_api::invoke::Invoke>>,
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub idp: Option<Idp>,
    pub data_dir: TempDir,
    pub backend: Backend,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, Options::default()).await
    }

    /// In dev mode (local tokens), with extra `--flag value` pairs for `belt-api serve`.
    pub async fn spawn_dev_with_args(backend: Backend, args: &[(&str, &str)]) -> TestApp {
        let args = args
            .iter()
            .map(|(flag, value)| (flag.to_string(), value.to_string()))
            .collect();
        let options = Options {
            args,
            dev_mode: true,
            ..Default::default()
        };
        Self::spawn_with(backend, options).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
        log_buffer();
        let data_dir = tempfile::tempdir().unwrap();
        let database_url = match (&options.database_url, backend) {
            (Some(url), _) => url.clone(),
            (None, Backend::Sqlite) => format!("sqlite://{}/belts.db", data_dir.path().display()),
            (None, Backend::Postgres) => fresh_postgres_database().await,
        };
        let idp = if options.dev_mode {
            None
        } else {
            Some(Idp::start(&["rsa-a"]).await)
        };
        let mut args: Vec<String> = vec![
            "belt-api".into(),
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.path().display().to_string(),
            "--database-url".into(),
            database_url.clone(),
            "--database-max-connections".into(),
            "4".into(),
        ];
        // Short, so outage tests end quickly; a test may give its own.
        if !options
            .args
            .iter()
            .any(|(flag, _)| flag == "--dependency-timeout-ms")
        {
            args.extend(["--dependency-timeout-ms".into(), "2000".into()]);
        }
        if let Some(idp) = &idp {
            args.extend(["--oidc-issuer".into(), idp.issuer()]);
        }
        if let Some(url) = &options.harvester_url {
            args.extend(["--harvester-url".into(), url.clone()]);
        }
        if !options.trusted_hosts.is_empty() {
            args.extend(["--trusted-hosts".into(), options.trusted_hosts.join(",")]);
        }
        // No data plane unless a test asks for one: a broker per test would cost seconds each.
        if !options
            .args
            .iter()
            .any(|(flag, _)| flag.starts_with("--kafka-broker") || flag == "--kafka-bootstrap")
        {
            args.extend(["--kafka-broker".into(), "none".into()]);
        }
        for (flag, value) in &options.args {
            args.extend([flag.clone(), value.clone()]);
        }
        let Command::Serve(config) = Cli::try_parse_from(args).unwrap().command else {
            unreachable!()
        };
        let config: ServeConfig = *config;
        let app = match options.runtime {
            Some(runtime) => App::build_with(config, runtime, options.invoker).await,
            None => App::build(config).await,
        }
        .expect("building the app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        TestApp {
            address,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            idp,
            data_dir,
            backend,
            database_url,
            shutdown: Some(tx),
        }
    }

    /// A token with `roles` in `project`, signed by the stub identity provider's key.
    pub fn token(&self, project: &str, roles: &[&str]) -> String {
        match &self.idp {
            Some(idp) => sign_with("rsa-a", &keycloak_claims(&idp.issuer(), project, roles)),
            None => {
                let key = belt_api::auth::DevKey::load_or_create(self.data_dir.path()).unwrap();
                let claims = belt_api::auth::Claims {
                    name: Some("Dev User".into()),
                    email: Some("dev@localhost".into()),
                    resource_access: [(
                        project.to_string(),
                        belt_api::auth::Access {
                            roles: roles.iter().map(|r| r.to_string()).collect(),
                        },
                    )]
                    .into(),
                    ..Default::default()
                };
                key.mint(&claims, std::time::Duration::from_secs(600))
                    .unwrap()
            }
        }
    }

    pub fn editor(&self) -> String {
        self.token("global", &["editor"])
    }

    pub fn viewer(&self) -> String {
        self.token("global", &["viewer"])
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.request(Method::GET, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::POST, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request(Method::PUT, path, Some(token))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.request(Method::DELETE, path, Some(token))
            .send()
            .await
            .unwrap()
    }

    /// Creates a belt in `project` and returns its document.
    pub async fn create_belt(&self, project: &str, body: &Value) -> Value {
        let token = self.token(project, &["editor"]);
        let response = self
            .post(&format!("/projects/{project}/belts"), &token, body)
            .await;
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "create failed: {text}");
        serde_json::from_str(&text).unwrap()
    }
}

/// Reads a response as (status, JSON body).
pub async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

/// Asserts the contract's error body and returns its message.
pub async fn assert_error(response: Response, status: StatusCode, kind: &str) -> String {
    let path = response.url().path().to_string();
    let (actual, body) = json_of(response).await;
    assert_eq!(actual, status, "body: {body}");
    assert_eq!(body["type"], kind, "body: {body}");
    assert!(
        body["timestamp"].as_i64().unwrap() > 1_600_000_000_000,
        "{body}"
    );
    assert_eq!(body["details"], format!("uri={path}"), "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        4,
        "exactly timestamp/type/message/details: {body}"
    );
    body["message"].as_str().unwrap().to_string()
}

/// A minimal valid belt body.
pub fn minimal_belt(name: &str) -> Value {
    json!({"name": name, "eventTypes": ["test-a"]})
}

/// The create-request example of the v2 document (its response example, as clients send it back).
pub fn v2_example_body() -> Value {
    serde_json::from_slice(&fixture("v2/create-response-example.json")).unwrap()
}

impl TestApp {
    /// Runs SQL straight against the app's database, behind its back.
    pub async fn execute_sql(&self, sql: &str) {
        use sqlx::{Connection, Executor};
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                    .await
                    .unwrap();
                conn.execute(sql).await.unwrap();
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.database_url)
                    .await
                    .unwrap();
                conn.execute(sql).await.unwrap();
            }
        }
    }

    /// Holds a lock that blocks every write to the belts table until the returned sender fires.
    pub async fn lock_belts_table(&self) -> tokio::sync::oneshot::Sender<()> {
        use sqlx::{Connection, Executor};
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let (locked_tx, locked) = tokio::sync::oneshot::channel::<()>();
        let url = self.database_url.clone();
        let backend = self.backend;
        tokio::spawn(async move {
            match backend {
                Backend::Sqlite => {
                    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
                    conn.execute("BEGIN EXCLUSIVE").await.unwrap();
                    let _ = locked_tx.send(());
                    let _ = released.await;
                    conn.execute("ROLLBACK").await.unwrap();
                }
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                    conn.execute("BEGIN").await.unwrap();
                    conn.execute("LOCK TABLE belts IN ACCESS EXCLUSIVE MODE")
                        .await
                        .unwrap();
                    let _ = locked_tx.send(());
                    let _ = released.await;
                    conn.execute("ROLLBACK").await.unwrap();
                }
            }
        });
        locked.await.unwrap();
        release
    }
}
