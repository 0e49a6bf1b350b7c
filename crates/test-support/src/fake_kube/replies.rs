//! Answers in the API server's shapes: JSON objects, lists with a resourceVersion, `Status`
//! bodies for failures, plain text for a pod's log, newline-separated watch events.

use http::Response;
use kube::client::Body;
use serde_json::{json, Value};

/// Where the answer to one call goes.
pub type Reply = tower_test::mock::SendResponse<Response<Body>>;

/// A list of `kind` (`PodList`, or `List`) at resourceVersion 50000.
pub fn list(kind: &str, items: &[Value]) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "50000"}, "items": items})
}

pub fn reply_json(reply: Reply, status: u16, body: &Value) {
    let response = Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    reply.send_response(response);
}

/// A failure as the API server sends it: a `Status` body with its reason and code.
pub fn reply_status(reply: Reply, code: u16, reason: &str) {
    reply_failure(
        reply,
        code,
        reason,
        &format!("{reason} (from the fake API)"),
    );
}

/// A failure with the message the API server words for it.
pub(super) fn reply_failure(reply: Reply, code: u16, reason: &str, message: &str) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    reply_json(reply, code, &body);
}

/// A pod's log, as `pods/{name}/log` answers it.
pub fn reply_text(reply: Reply, text: &str) {
    let response = Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(Body::from(text.as_bytes().to_vec()))
        .unwrap();
    reply.send_response(response);
}

/// Ends a held watch with `events` (`("MODIFIED", object)`), one JSON line each.
pub(super) fn send_watch_events(watch: Reply, events: &[(&str, &Value)]) {
    let body: String = events
        .iter()
        .map(|(kind, object)| json!({"type": kind, "object": object}).to_string() + "\n")
        .collect();
    watch.send_response(Response::new(Body::from(body.into_bytes())));
}
