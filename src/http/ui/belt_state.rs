//! The belt page's state section (docs/console.md): the status, the state details in words and
//! the replicas asked for. `ui/live.js` fetches it as a fragment when the belt's status changes,
//! and START/STOP asked through htmx answer it, with their notice (or refusal) swapped out of band
//! into the page's notice place, so neither navigates.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use super::explain::explain;
use super::guarded::done_notice;
use super::html::{encode, Html};
use super::page::respond;
use super::session::{Session, SignedIn};
use super::ui_error;
use crate::belts::{BeltError, StateReport};
use crate::domain::{BeltStatus, ProjectName};
use crate::http::scope::BeltScope;
use crate::http::state::AppState;

/// The fragment's route, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/ui/projects/{project}/belts/{id}/state-section",
        get(fragment),
    )
}

/// `GET /ui/projects/{project}/belts/{id}/state-section`: the section alone, with the page's
/// role check (a reader of the project) and its 404 for a belt of another project.
pub async fn fragment(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
) -> Response {
    let asked = scope.asked_for(&signed_in.session.caller);
    match state.belts.state(asked).await {
        Ok(report) => {
            let mut html = Html::default();
            section(&mut html, &report);
            respond(StatusCode::OK, html)
        }
        Err(err) => ui_error(err),
    }
}

/// Where the fragment is, for the page's script.
pub fn fragment_path(project: &ProjectName, id: crate::domain::BeltId) -> String {
    format!(
        "/ui/projects/{}/belts/{id}/state-section",
        encode(project.as_str())
    )
}

/// START/STOP's answer to htmx: the state section as it is now, and out of band the notice of
/// what was done (`Ok(action)`) or the sentence that refused it, as the page without JavaScript
/// says them. Always 200, so htmx swaps in whatever it says.
pub async fn changed(
    state: &AppState,
    session: &Session,
    scope: &BeltScope,
    outcome: Result<&str, String>,
) -> Response {
    let mut html = Html::default();
    match state.belts.state(scope.asked_for(&session.caller)).await {
        Ok(report) => section(&mut html, &report),
        Err(err) => {
            html.raw("<section id=\"state-section\" aria-labelledby=\"state\">")
                .raw("<h2 id=\"state\">State</h2><p class=\"problem\">")
                .text(crate::http::error::ApiError::from(err))
                .raw("</p></section>");
        }
    }
    html.raw("<div id=\"done-notice\" hx-swap-oob=\"true\">");
    match outcome {
        Ok(done) => done_notice(&mut html, done),
        Err(refused) => {
            html.raw("<p class=\"problem\" role=\"alert\">")
                .text(refused)
                .raw("</p>");
        }
    }
    html.raw("</div>");
    respond(StatusCode::OK, html)
}

/// The page's notice place: empty, or the notice of the write that led to the page.
pub fn notice_place(html: &mut Html, done: Option<&str>) {
    html.raw("<div id=\"done-notice\">");
    if let Some(done) = done {
        done_notice(html, done);
    }
    html.raw("</div>");
}

/// The state section: the status in a sentence, what the runtime reports wrong (in words), the
/// replicas asked for, and the records waiting.
pub fn section(html: &mut Html, report: &StateReport) {
    html.raw("<section id=\"state-section\" aria-labelledby=\"state\">")
        .raw("<h2 id=\"state\">State</h2><p class=\"status-sentence\">")
        .raw(status_sentence(report.status))
        .raw("</p>");
    details(html, report);
    html.raw("</section>");
}

/// Each status in words, our own: what the badge says, for a reader.
fn status_sentence(status: BeltStatus) -> &'static str {
    match status {
        BeltStatus::Running => "Running: every replica asked for is ready.",
        BeltStatus::RunningButOutdated => {
            "Running an older version: the current version is being rolled out."
        }
        BeltStatus::Deploying => "Deploying: the replicas are starting.",
        BeltStatus::Failed => "Failed: the replicas do not run as asked.",
        BeltStatus::Stopped => "Stopped: no replica runs.",
    }
}

fn details(html: &mut Html, report: &StateReport) {
    let Some(details) = &report.details else {
        html.raw("<p>Nothing is deployed.</p>");
        return;
    };
    let said = explain(details);
    if said.is_empty() {
        html.raw("<p>Replicas asked for: ")
            .text(&details.deployment_replicas)
            .raw(". Nothing is reported wrong.</p>");
    } else {
        html.raw("<p>Replicas asked for: ")
            .text(&details.deployment_replicas)
            .raw(".</p><ul>");
        for sentence in said {
            html.element("li", sentence);
        }
        html.raw("</ul>");
    }
    if let Some(lag) = report.total_lag {
        html.raw("<p>Records waiting in the input topics: ")
            .text(lag)
            .raw("</p>");
    }
}

/// Whether htmx asked (it swaps the answer in) or a browser without JavaScript did.
pub fn from_htmx(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The sentence a page without JavaScript shows for a refused write, for htmx's answer.
pub fn refusal_sentence(err: BeltError) -> String {
    match err {
        BeltError::VersionMismatch { current, .. } => super::guarded::stale_sentence(current),
        err => crate::http::error::ApiError::from(err).to_string(),
    }
}
