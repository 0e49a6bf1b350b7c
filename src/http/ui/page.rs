//! The frame of every console page: head, header with sign-out, `<main>`, and the pages that say
//! why something did not work (HTML, never the API's JSON error body).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::assets::{HTMX, STYLE};
use super::html::Html;
use super::session::Session;

/// A page titled `title`, its `<main>` written by `body`; `session` adds the header's sign-out.
pub fn render(title: &str, session: Option<&Session>, body: impl FnOnce(&mut Html)) -> Html {
    let mut html = Html::default();
    html.raw("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<title>")
        .text(title)
        .raw(" · Belt console</title><link rel=\"stylesheet\" href=\"")
        .text(&*STYLE)
        .raw("\"><script src=\"")
        .text(HTMX)
        .raw("\" defer></script></head><body><header><a href=\"/ui\">Belt console</a>");
    if let Some(session) = session {
        html.raw("<span>Signed in as ")
            .text(session.caller.claims.display_name())
            .raw(" (")
            .text(&session.role)
            .raw(" of ")
            .text(&session.project)
            .raw(")</span><form class=\"inline\" method=\"post\" action=\"/ui/logout\">")
            .hidden("csrf", &session.csrf)
            .raw("<button type=\"submit\">Sign out</button></form>");
    }
    html.raw("</header><main>");
    body(&mut html);
    html.raw("</main></body></html>");
    html
}

/// An HTML answer; never stored by a shared cache, since it shows what one caller may see.
pub fn respond(status: StatusCode, html: Html) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, crate::http::errors::UI_PAGE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html.finish(),
    )
        .into_response()
}

/// A page that says what went wrong, with `status`.
pub fn problem(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let html = render(title, None, |html| {
        html.element("h1", title)
            .raw("<p class=\"problem\" role=\"alert\">")
            .text(message)
            .raw("</p><p><a href=\"/ui\">Back to the console</a></p>");
    });
    respond(status, html)
}
