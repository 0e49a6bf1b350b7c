//! `Server-Timing: app;dur=<ms>` on every console answer: how long belt-api took to make it, shown
//! by the browser's developer tools next to the network's share, and read by the console
//! benchmark (bench/console/) to hold the list page's server time. Only the console's own pages
//! carry it; it says nothing the signed-in user could not time themselves. A page may name parts of
//! its time after `app` (the list page: `lag`, its read of the belts' lag samples).

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

const SERVER_TIMING: &str = "server-timing";

pub async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    // Until the handler returned its answer: a page is rendered in full before it is sent.
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    // `app` first, the page's own parts (see `part`) after it in header fields of their own: a
    // reader that takes the first field (bench/console/) reads the whole.
    let headers = response.headers_mut();
    let parts: Vec<HeaderValue> = headers.get_all(SERVER_TIMING).iter().cloned().collect();
    headers.remove(SERVER_TIMING);
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={millis:.2}")) {
        headers.insert(SERVER_TIMING, value);
    }
    for part in parts {
        headers.append(SERVER_TIMING, part);
    }
    response
}

/// Names a part of a page's time (`name;dur=<ms>`), said after `app`, which includes it: the
/// list page's read of its belts' lag samples, for one.
pub fn part(response: &mut Response, name: &'static str, took: std::time::Duration) {
    let millis = took.as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("{name};dur={millis:.2}")) {
        response.headers_mut().append(SERVER_TIMING, value);
    }
}
