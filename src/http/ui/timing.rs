//! `Server-Timing: app;dur=<ms>` on every console answer: how long belt-api took to make it, shown
//! by the browser's developer tools next to the network's share, and read by the console
//! benchmark (bench/console/) to hold the list page's server time. Only the console's own pages
//! carry it; it says nothing the signed-in user could not time themselves.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    // Until the handler returned its answer: a page is rendered in full before it is sent.
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("app;dur={millis:.2}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}
