//! The frame of every console page: head, header with sign-out, `<main>`, and the pages that say
//! why something did not work (HTML, never the API's JSON error body).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::assets::{HTMX, STYLE};
use super::html::{encode, Html};
use super::session::Session;
use crate::domain::ProjectName;

/// What a signed-in page is framed with: the session, and the project the page is of (the
/// header names the caller's role there, and leads to the caller's other projects).
#[derive(Clone, Copy)]
pub struct Frame<'a> {
    pub session: &'a Session,
    pub project: &'a ProjectName,
}

impl<'a> Frame<'a> {
    pub fn new(session: &'a Session, project: &'a ProjectName) -> Frame<'a> {
        Frame { session, project }
    }
}

/// A page titled `title`, its `<main>` written by `body`; `frame` adds the header's sign-in line,
/// project list and sign-out.
pub fn render(title: &str, frame: Option<Frame<'_>>, body: impl FnOnce(&mut Html)) -> Html {
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
    if let Some(frame) = frame {
        signed_in(&mut html, frame);
    }
    html.raw("</header><main>");
    body(&mut html);
    html.raw("</main></body></html>");
    html
}

/// Who is signed in and their role in the page's project; the projects they hold a role in when
/// there are several, this one marked; the sign-out.
fn signed_in(html: &mut Html, Frame { session, project }: Frame<'_>) {
    let caller = &session.caller;
    html.raw("<span>Signed in as ")
        .text(caller.claims.display_name())
        .raw(" (")
        .text(caller.role_in(project).unwrap_or("no role"))
        .raw(" of ")
        .text(project)
        .raw(")</span>");
    let projects = caller.projects();
    if projects.len() > 1 {
        html.raw("<nav aria-label=\"Your projects\"><ul class=\"projects\">");
        for granted in &projects {
            html.raw("<li><a href=\"/ui/projects/")
                .text(encode(granted.project.as_str()))
                .raw("/belts\"");
            if granted.project == *project {
                html.raw(" aria-current=\"page\"");
            }
            html.raw(">")
                .text(&granted.project)
                .raw("</a> <span class=\"role\">")
                .text(granted.role)
                .raw("</span></li>");
        }
        html.raw("</ul></nav>");
    }
    html.raw("<form class=\"inline\" method=\"post\" action=\"/ui/logout\">")
        .hidden("csrf", &session.csrf)
        .raw("<button type=\"submit\">Sign out</button></form>");
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
