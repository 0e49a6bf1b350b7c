//! The bare-HTTP ceiling: the service's HTTP stack (axum on hyper, tokio's multi-thread runtime,
//! its own process) answering each route with the bytes the real service answered once — no
//! auth, no database, no rendering. Request bodies are still read to the end, as the service does.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};

/// One captured answer of the real service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Captured {
    pub status: u16,
    /// The headers that describe the body (`content-type`, `etag`, `location`).
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// What the bare server answers, per operation (`get`, `list`, `create`, `update`).
pub type Answers = BTreeMap<String, Captured>;

#[derive(Clone)]
struct Prepared {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

type Routes = Arc<BTreeMap<String, Prepared>>;

fn answer(routes: &Routes, operation: &str) -> (StatusCode, HeaderMap, Bytes) {
    match routes.get(operation) {
        Some(p) => (p.status, p.headers.clone(), p.body.clone()),
        None => (StatusCode::NOT_FOUND, HeaderMap::new(), Bytes::new()),
    }
}

async fn get_one(State(routes): State<Routes>) -> (StatusCode, HeaderMap, Bytes) {
    answer(&routes, "get")
}

async fn list(State(routes): State<Routes>) -> (StatusCode, HeaderMap, Bytes) {
    answer(&routes, "list")
}

async fn create(State(routes): State<Routes>, _body: Bytes) -> (StatusCode, HeaderMap, Bytes) {
    answer(&routes, "create")
}

async fn update(State(routes): State<Routes>, _body: Bytes) -> (StatusCode, HeaderMap, Bytes) {
    answer(&routes, "update")
}

fn prepare(answers: Answers) -> anyhow::Result<Routes> {
    let mut routes = BTreeMap::new();
    for (operation, captured) in answers {
        let mut headers = HeaderMap::new();
        for (name, value) in &captured.headers {
            headers.insert(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        headers
            .entry(header::CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
        routes.insert(
            operation,
            Prepared {
                status: StatusCode::from_u16(captured.status)?,
                headers,
                body: Bytes::from(captured.body),
            },
        );
    }
    Ok(Arc::new(routes))
}

/// `belt-bench bare-http --answers FILE`: serves on 127.0.0.1:0 and prints its address.
pub async fn serve(answers_file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(answers_file)
        .with_context(|| format!("reading {}", answers_file.display()))?;
    let routes = prepare(serde_json::from_str(&text)?)?;
    let router = Router::new()
        .route("/projects/{project}/belts", get(list).post(create))
        .route("/projects/{project}/belts/{id}", get(get_one).put(update))
        .with_state(routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "bare-http listening address=http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            term.recv().await;
        })
        .await?;
    Ok(())
}
