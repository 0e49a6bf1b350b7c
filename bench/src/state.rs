//! The `state` scenario over the HTTP API: START 100 belts, poll `GET …/state` until every one
//! is RUNNING, then STOP them and poll until every one is STOPPED. When the starts do not reach
//! RUNNING within the timeout the scenario is skipped with the statuses it saw, and the belts are
//! stopped anyway so later phases start clean.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::load::{new_histogram, Conn, Measured};
use crate::scenarios::get_request;

const POLL_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Serialize)]
pub struct StateOutcome {
    pub belts: usize,
    /// Why the timing is missing, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// From the first START sent until every belt reported RUNNING.
    pub all_running_s: Option<f64>,
    /// From the first STOP sent until every belt reported STOPPED.
    pub all_stopped_s: Option<f64>,
    /// The START and STOP requests themselves.
    pub actions: Measured,
}

struct Shared {
    address: SocketAddr,
    token: String,
    conns: Vec<Mutex<Conn>>,
}

impl Shared {
    async fn send(
        &self,
        lane: usize,
        request: Request<Full<Bytes>>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let response = self.conns[lane % self.conns.len()]
            .lock()
            .await
            .send(request)
            .await?;
        Ok((response.status(), response.into_body()))
    }

    fn action(&self, id: u64, action: &str) -> Request<Full<Bytes>> {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/projects/global/belts/{id}/state"))
            .header(header::HOST, self.address.to_string())
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(format!(
                r#"{{"action":"{action}"}}"#
            ))))
            .expect("a valid request")
    }

    async fn status(&self, lane: usize, id: u64) -> anyhow::Result<String> {
        let path = format!("/projects/global/belts/{id}/state");
        let (status, body) = self
            .send(lane, get_request(self.address, &path, Some(&self.token)))
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "GET {path} answered {status}");
        let body: Value = serde_json::from_slice(&body)?;
        Ok(body["status"].as_str().unwrap_or("?").to_string())
    }
}

/// Sends `action` for every belt, one lane per connection; returns the latencies in µs.
async fn act(shared: &Arc<Shared>, ids: &[u64], action: &'static str) -> anyhow::Result<Vec<u64>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (lane, chunk) in lanes(ids, shared.conns.len()).into_iter().enumerate() {
        let shared = shared.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            for id in chunk {
                let started = Instant::now();
                let (status, body) = shared.send(lane, shared.action(id, action)).await?;
                anyhow::ensure!(
                    status == StatusCode::OK,
                    "{action} of belt {id} answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
                latencies.push(started.elapsed().as_micros() as u64);
            }
            Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done??);
    }
    Ok(all)
}

/// Polls until every belt reports `wanted`; `Err` carries the statuses seen at the timeout.
async fn wait_for(
    shared: &Arc<Shared>,
    ids: &[u64],
    wanted: &'static str,
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Result<Duration, BTreeMap<String, usize>>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (lane, chunk) in lanes(ids, shared.conns.len()).into_iter().enumerate() {
        let shared = shared.clone();
        tasks.spawn(async move {
            let mut pending: Vec<(u64, String)> =
                chunk.into_iter().map(|id| (id, String::new())).collect();
            loop {
                for (id, status) in pending.iter_mut() {
                    *status = shared.status(lane, *id).await?;
                }
                pending.retain(|(_, status)| status != wanted);
                if pending.is_empty() {
                    return Ok::<_, anyhow::Error>(Ok(since.elapsed()));
                }
                if since.elapsed() >= timeout {
                    return Ok(Err(pending.into_iter().map(|(_, s)| s).collect::<Vec<_>>()));
                }
                tokio::time::sleep(POLL_EVERY).await;
            }
        });
    }
    let mut slowest = Duration::ZERO;
    let mut stuck = BTreeMap::<String, usize>::new();
    while let Some(done) = tasks.join_next().await {
        match done?? {
            Ok(took) => slowest = slowest.max(took),
            Err(statuses) => {
                for status in statuses {
                    *stuck.entry(status).or_default() += 1;
                }
            }
        }
    }
    Ok(if stuck.is_empty() {
        Ok(slowest)
    } else {
        Err(stuck)
    })
}

fn lanes(ids: &[u64], count: usize) -> Vec<Vec<u64>> {
    let count = count.max(1);
    let mut lanes = vec![Vec::new(); count];
    for (at, id) in ids.iter().enumerate() {
        lanes[at % count].push(*id);
    }
    lanes
}

pub async fn run(
    address: SocketAddr,
    token: &str,
    ids: &[u64],
    connections: usize,
    timeout: Duration,
) -> anyhow::Result<StateOutcome> {
    let mut conns = Vec::new();
    for _ in 0..connections.max(1) {
        conns.push(Mutex::new(Conn::open(address).await?));
    }
    let shared = Arc::new(Shared {
        address,
        token: token.to_string(),
        conns,
    });
    let mut histogram = new_histogram();
    let started = Instant::now();

    let start_began = Instant::now();
    for micros in act(&shared, ids, "START").await? {
        histogram.saturating_record(micros.max(1));
    }
    let running = wait_for(&shared, ids, "RUNNING", start_began, timeout).await?;

    let stop_began = Instant::now();
    for micros in act(&shared, ids, "STOP").await? {
        histogram.saturating_record(micros.max(1));
    }
    let stopped = wait_for(&shared, ids, "STOPPED", stop_began, timeout).await?;

    let skipped = match &running {
        Ok(_) => None,
        Err(stuck) => Some(format!(
            "START did not reach RUNNING within {}s on the local runtime: {} of {} belts still {} \
             (the local runtime is not finished yet)",
            timeout.as_secs_f64(),
            stuck.values().sum::<usize>(),
            ids.len(),
            stuck
                .iter()
                .map(|(status, n)| format!("{n}× {status}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    if let Err(stuck) = &stopped {
        anyhow::bail!("STOP did not reach STOPPED within {timeout:?}: {stuck:?}");
    }
    Ok(StateOutcome {
        belts: ids.len(),
        skipped,
        all_running_s: running.ok().map(|d| d.as_secs_f64()),
        all_stopped_s: stopped.ok().map(|d| d.as_secs_f64()),
        actions: Measured::from_histogram(&histogram, 0, started.elapsed().as_secs_f64(), None),
    })
}
