//! The console's static files, embedded at compile time (no CDN, nothing read at run time). Each
//! is served under a name that carries its version or its content hash, so it can be cached for a
//! year: changed content is a new name (ui/vendor/README.md records where the vendored ones come
//! from).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// htmx, as published on the npm registry (ui/vendor/README.md).
pub const HTMX: &str = "/ui/assets/htmx-2.0.11.min.js";
/// Our stylesheet, named by the start of its sha256: an edit of the file renames it.
pub static STYLE: LazyLock<String> = LazyLock::new(|| hashed("style", "css", STYLE_CSS));

/// The console's live updates (`ui/live.js`), named by its content as the stylesheet is.
pub static LIVE: LazyLock<String> = LazyLock::new(|| hashed("live", "js", LIVE_JS));

const HTMX_JS: &[u8] = include_bytes!("../../../ui/vendor/htmx-2.0.11.min.js");
const STYLE_CSS: &[u8] = include_bytes!("../../../ui/style.css");
const LIVE_JS: &[u8] = include_bytes!("../../../ui/live.js");

/// `/ui/assets/{stem}-{first 12 hex digits of the sha256}.{extension}`.
fn hashed(stem: &str, extension: &str, content: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, content);
    let hex: String = digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("/ui/assets/{stem}-{hex}.{extension}")
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let path = format!("/ui/assets/{name}");
    let (body, kind) = if path == HTMX {
        (HTMX_JS, "text/javascript; charset=utf-8")
    } else if path == *STYLE {
        (STYLE_CSS, "text/css; charset=utf-8")
    } else if path == *LIVE {
        (LIVE_JS, "text/javascript; charset=utf-8")
    } else {
        // The API's 404 body: an asset is fetched by the browser, never shown as a page.
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
