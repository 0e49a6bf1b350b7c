//! The database goes away and comes back: `/ready` answers 503 whenever the store cannot serve,
//! 200 once it can again, and requests in between answer 503 `service_unavailable`, never 500.
//!
//! PostgreSQL is reached through a TCP proxy that the test cuts (every connection closed, new ones
//! closed on accept) and restores. SQLite lives in the process, so the outage there is its file:
//! another process holds it locked.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use crate::helpers::*;

/// Where the proxy forwards to: PostgreSQL's Unix socket or a TCP address.
#[derive(Clone)]
enum Upstream {
    Unix(String),
    Tcp(String),
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

impl Upstream {
    /// From a PostgreSQL URL such as `postgres://root@localhost/db?host=/var/run/postgresql&port=5432`.
    fn of(database_url: &str) -> Upstream {
        let url = url::Url::parse(database_url).unwrap();
        let query: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        let port = query
            .get("port")
            .cloned()
            .or_else(|| url.port().map(|p| p.to_string()))
            .unwrap_or_else(|| "5432".into());
        let host = query
            .get("host")
            .cloned()
            .unwrap_or_else(|| url.host_str().unwrap_or("localhost").to_string());
        if host.starts_with('/') {
            Upstream::Unix(format!("{host}/.s.PGSQL.{port}"))
        } else {
            Upstream::Tcp(format!("{host}:{port}"))
        }
    }

    async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Upstream::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            Upstream::Tcp(address) => Box::new(tokio::net::TcpStream::connect(address).await?),
        })
    }
}

const OPEN: u8 = 0;
const CUT: u8 = 1;
const FROZEN: u8 = 2;

/// A TCP proxy that can be cut (every connection closed, new ones closed on accept), frozen
/// (connections stay open but nothing passes: a network partition, a stopped server) and
/// restored.
struct CutProxy {
    port: u16,
    mode: Arc<AtomicU8>,
    relays: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

/// Copies one direction, holding whatever it reads while the proxy is frozen.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while mode.load(Ordering::SeqCst) == FROZEN {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if mode.load(Ordering::SeqCst) == CUT || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl CutProxy {
    async fn start(upstream: Upstream) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(OPEN));
        let relays: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (mode, relays) = (mode.clone(), relays.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        continue;
                    };
                    if mode.load(Ordering::SeqCst) == CUT {
                        drop(client);
                        continue;
                    }
                    let (upstream, mode) = (upstream.clone(), mode.clone());
                    let relay = tokio::spawn(async move {
                        while mode.load(Ordering::SeqCst) == FROZEN {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        let Ok(server) = upstream.connect().await else {
                            return;
                        };
                        let (client_read, client_write) = tokio::io::split(client);
                        let (server_read, server_write) = tokio::io::split(server);
                        tokio::select! {
                            _ = pump(client_read, server_write, mode.clone()) => {}
                            _ = pump(server_read, client_write, mode.clone()) => {}
                        }
                    });
                    relays.lock().unwrap().push(relay.abort_handle());
                }
            })
            .abort_handle()
        };
        CutProxy {
            port,
            mode,
            relays,
            accept,
        }
    }

    /// Closes every connection and every new one.
    fn cut(&self) {
        self.mode.store(CUT, Ordering::SeqCst);
        for relay in self.relays.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    /// Keeps every connection open and passes nothing.
    fn freeze(&self) {
        self.mode.store(FROZEN, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.mode.store(OPEN, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn ready_status(app: &TestApp) -> StatusCode {
    app.request(Method::GET, "/ready", None)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls `/ready` until it answers `wanted`; returns how long that took.
async fn ready_becomes(app: &TestApp, wanted: StatusCode) -> Duration {
    let start = Instant::now();
    loop {
        let status = ready_status(app).await;
        if status == wanted {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "/ready still {status}, wanted {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every request a user might send during the outage: each answers 503 in the error format.
async fn requests_answer_503(app: &TestApp, id: &str) {
    let token = app.editor();
    let belt = format!("/projects/global/belts/{id}");
    let requests = [
        (Method::GET, "/projects/global/belts".to_string(), None),
        (Method::GET, belt.clone(), None),
        (Method::GET, format!("{belt}/state"), None),
        (
            Method::POST,
            "/projects/global/belts".to_string(),
            Some(minimal_belt("during-outage")),
        ),
        (
            Method::PUT,
            belt.clone(),
            Some(json!({"name": "renamed", "eventTypes": ["test-a"]})),
        ),
        (
            Method::POST,
            format!("{belt}/state"),
            Some(json!({"action": "START"})),
        ),
        (Method::DELETE, belt.clone(), None),
    ];
    for (method, path, body) in requests {
        let mut request = app
            .request(method.clone(), &path, Some(&token))
            .timeout(Duration::from_secs(20));
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let message = assert_error(
            response,
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        )
        .await;
        assert!(!message.contains("SQL"), "{method} {path}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_through_a_cut_proxy() {
    // A fresh, migrated database; then the app under test reaches it only through the proxy.
    let setup = TestApp::spawn(Backend::Postgres).await;
    let direct = setup.database_url.clone();
    drop(setup);
    let proxy = CutProxy::start(Upstream::of(&direct)).await;
    let mut proxied = url::Url::parse(&direct).unwrap();
    let kept: Vec<(String, String)> = proxied
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "host" && k != "port")
        .collect();
    proxied.set_query(None);
    for (k, v) in kept {
        proxied.query_pairs_mut().append_pair(&k, &v);
    }
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            database_url: Some(proxied.to_string()),
            ..Default::default()
        },
    )
    .await;
    let created = app.create_belt("global", &minimal_belt("survivor")).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(ready_status(&app).await, StatusCode::OK);

    for round in 0..3 {
        // Rounds 0 and 2: the connection drops. Round 1: the database stops answering but no
        // connection closes, which only a timeout on this side can tell.
        if round == 1 {
            proxy.freeze();
        } else {
            proxy.cut();
        }
        // Not one 200 while the database is out of reach: every probe makes a round trip.
        for probe in 0..5 {
            assert_eq!(
                ready_status(&app).await,
                StatusCode::SERVICE_UNAVAILABLE,
                "round {round}, probe {probe}"
            );
        }
        requests_answer_503(&app, &id).await;
        assert_eq!(
            ready_status(&app).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "round {round}"
        );
        // A partition ends with its connections timed out: closed, then the network is back.
        proxy.cut();
        proxy.restore();
        ready_becomes(&app, StatusCode::OK).await;
        // Back: the belt is there, unchanged, and writes work at once.
        let (status, belt) = json_of(app.get(&format!("/belts/{id}"), &app.editor()).await).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {belt}");
        assert_eq!(belt["version"], "1");
        assert_eq!(belt["name"], "survivor");
    }
    let (status, list) = json_of(app.get("/belts", &app.editor()).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["totalCount"], 1, "nothing from the outage was stored");
}
