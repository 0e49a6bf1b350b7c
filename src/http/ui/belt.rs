//! `/ui/projects/{project}/belts/{id}`: the document, the state in words, the last log lines, and
//! START/STOP as forms carrying the session's CSRF token and the version the page showed, so a
//! stale page is refused rather than acting on a belt that changed since.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::belt_logs::LogChoice;
use super::belt_state::{self, from_htmx, refusal_sentence};
use super::chart;
use super::form::{Form, CSRF_REFUSED};
use super::guarded::{belt_page, shown_version, write_refusal};
use super::html::{encode, Html};
use super::list::{age, badge};
use super::live;
use super::page::{render, respond, Frame};
use super::session::{Session, SignedIn};
use super::ui_error;
use crate::belts::{Access, BeltError, Edit, Shown, StateReport};
use crate::domain::Commit;
use crate::http::query::Query;
use crate::http::scope::BeltScope;
use crate::http::state::AppState;

/// Lines of each replica the page shows.
const LOG_LINES: u32 = 50;

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
    query: Query,
) -> Response {
    let session = &signed_in.session;
    let asked = scope.asked_for(&session.caller);
    let shown = match state.belts.get(asked).await {
        Ok(shown) => shown,
        Err(err) => return ui_error(err),
    };
    let report = match state.belts.state(asked).await {
        Ok(report) => report,
        Err(err) => return ui_error(err),
    };
    let may_write = session
        .caller
        .require(&scope.project, Access::Write)
        .is_ok();
    // Before the lines are read: the live log picks up from here (a line both read is shown once).
    let read_at = time::OffsetDateTime::now_utc();
    // Logs are an editor's to read (docs/api.md#logs); a viewer is told so instead.
    let choice = LogChoice::of(&query);
    let logs = if may_write {
        state.belts.logs(asked, choice.ask(LOG_LINES)).await
    } else {
        Err(BeltError::Forbidden)
    };
    let lag = state.belts.lag_series(asked, Ok(None)).await;
    let notice = query.single("done").ok().flatten().map(str::to_owned);
    let title = shown.belt.spec.name.clone();
    let html = render(&title, Some(Frame::new(session, &scope.project)), |html| {
        html.element("h1", &title);
        belt_state::notice_place(html, notice.as_deref());
        summary(html, &shown, &report);
        super::history::belt_links(html, &shown.belt, may_write);
        if may_write {
            buttons(html, session, &shown);
        }
        belt_state::section(html, &report);
        chart::section(html, lag);
        super::belt_logs::section(html, &shown.belt, logs, &choice);
        document(html, &shown);
        live::belt_script(html, &shown.belt, read_at, may_write);
    });
    respond(StatusCode::OK, html)
}

fn summary(html: &mut Html, shown: &Shown, report: &StateReport) {
    let belt = &shown.belt;
    html.raw("<p aria-live=\"polite\">Status: ");
    badge(html, belt.id, Some(report.status));
    html.raw("</p><dl><dt>Id</dt><dd>")
        .text(belt.id)
        .raw("</dd><dt>Version</dt><dd>")
        .text(belt.version)
        .raw("</dd><dt>Replicas</dt><dd>")
        .text(belt.spec.replicas)
        .raw("</dd><dt>Description</dt><dd>")
        .text(&belt.spec.description)
        .raw("</dd><dt>Event types</dt><dd>")
        .text(belt.spec.event_types.join(", "))
        .raw("</dd><dt>Created</dt><dd>")
        .text(age(belt.created_at))
        .raw(" ago by ")
        .text(&belt.created_by.name)
        .raw("</dd><dt>Modified</dt><dd>")
        .text(age(belt.modified_at))
        .raw(" ago by ")
        .text(&belt.modified_by.name)
        .raw("</dd></dl>");
}

fn buttons(html: &mut Html, session: &Session, shown: &Shown) {
    let belt = &shown.belt;
    html.raw("<section aria-labelledby=\"actions\"><h2 id=\"actions\">Actions</h2>");
    for (action, label) in [("START", "Start"), ("STOP", "Stop")] {
        // With htmx the answer is the state section, swapped in: the page stays.
        let to = format!("{}/state", belt_page(&belt.project, belt.id));
        html.raw("<form class=\"inline\" method=\"post\" action=\"")
            .text(&to)
            .raw("\" hx-post=\"")
            .text(&to)
            .raw("\" hx-target=\"#state-section\" hx-swap=\"outerHTML\">")
            .hidden("csrf", &session.csrf)
            .hidden("version", belt.version)
            .hidden("action", action)
            .raw("<button type=\"submit\" id=\"")
            .text(action.to_lowercase())
            .raw("\">")
            .raw(label)
            .raw("</button></form> ");
    }
    html.raw("<a id=\"edit\" href=\"/ui/projects/")
        .text(encode(belt.project.as_str()))
        .raw("/belts/")
        .text(belt.id)
        .raw("/edit\">Edit</a></section>");
}

fn document(html: &mut Html, shown: &Shown) {
    let spec = &shown.belt.spec;
    html.raw("<section aria-labelledby=\"callback\"><h2 id=\"callback\">Callback</h2>")
        .raw("<h3>extractorFn</h3><pre tabindex=\"0\">")
        .text(&spec.extractor_fn)
        .raw("</pre><h3>requirementsPy</h3><pre tabindex=\"0\">")
        .text(&spec.requirements_py)
        .raw("</pre><p><a id=\"export\" download href=\"")
        .text(belt_page(&shown.belt.project, shown.belt.id))
        .raw("/export\">Export YAML</a>: only what differs from the server's defaults, for ")
        .raw("<code>belt apply -f</code>.</p></section>");
}

/// START or STOP from the page's form: the CSRF token first, then the use case with the version
/// the page showed as `If-Match`. Without JavaScript the answer is the page again (or the page
/// of the refusal); to htmx it is the state section with the notice or refusal in place.
///
/// Not a `CsrfForm` (form.rs) as the other writes are: a refused token is answered to htmx with
/// the state section, refusal in place, rather than the 403 page `CsrfForm` rejects with.
pub async fn change_state(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = &signed_in.session;
    let htmx = from_htmx(&headers);
    let form = Form::parse(&body);
    if let Some(refused) = form.csrf_refusal(session) {
        if htmx {
            let refused = Err(CSRF_REFUSED.to_owned());
            return belt_state::changed(&state, session, &scope, refused).await;
        }
        return refused;
    }
    let action = form.field("action").unwrap_or_default();
    let edit = Edit {
        asked: scope.asked_for(&session.caller),
        expect: shown_version(&form),
        commit: Ok(Commit::Yes),
    };
    let json = serde_json::json!({ "action": action }).to_string();
    let done = state.belts.change_state(edit, json.as_bytes()).await;
    if htmx {
        let outcome = done.map(|_| action).map_err(refusal_sentence);
        return belt_state::changed(&state, session, &scope, outcome).await;
    }
    let back = belt_page(&scope.project, scope.id);
    match done {
        Ok(_) => Redirect::to(&format!("{back}?done={}", encode(action))).into_response(),
        Err(err) => write_refusal(err),
    }
}
