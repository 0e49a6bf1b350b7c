//! `/ui/projects/{project}/belts/{id}/history`: the belt's events in words, newest first, paged
//! as the API's history is. The history use case already leaves a replica's output out for a
//! viewer, so the page shows exactly what the API would answer to the same caller.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::guarded::belt_page;
use super::html::Html;
use super::list::age;
use super::page::{render, respond, Frame};
use super::session::SignedIn;
use super::ui_error;
use crate::belts::Paging;
use crate::domain::timestamp::format_timestamp;
use crate::domain::{Belt, BeltEvent, BeltStatus, EventAction};
use crate::http::query::Query;
use crate::http::scope::BeltScope;
use crate::http::state::AppState;

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
    query: Query,
) -> Response {
    let session = &signed_in.session;
    let asked = scope.asked_for(&session.caller);
    let paging = query.page();
    let events = match state.belts.history(asked, paging.clone()).await {
        Ok(events) => events,
        Err(err) => return ui_error(err),
    };
    // The use case has already answered a refused query; this only unwraps it.
    let paging = match paging {
        Ok(paging) => paging,
        Err(invalid) => return ui_error(invalid.into()),
    };
    // A deleted belt keeps its history but has no name left to show: the page names it by id.
    let name = state.belts.get(asked).await.ok().map(|s| s.belt.spec.name);
    let title = match &name {
        Some(name) => format!("History of {name}"),
        None => format!("History of belt {}", scope.id),
    };
    let back = belt_page(&scope.project, scope.id);
    let html = render(&title, Some(Frame::new(session, &scope.project)), |html| {
        html.element("h1", &title);
        if name.is_some() {
            html.raw("<p><a href=\"")
                .text(&back)
                .raw("\">Back to the belt</a></p>");
        }
        html.raw("<p>")
            .text(events.total)
            .raw(" events, newest first.</p>");
        html.raw("<ol class=\"history\">");
        for event in &events.events {
            item(html, event);
        }
        html.raw("</ol>");
        let here = format!("{back}/history");
        pager(
            html,
            &here,
            "",
            paging,
            events.events.len() as u64,
            events.total,
        );
    });
    respond(StatusCode::OK, html)
}

fn item(html: &mut Html, event: &BeltEvent) {
    let when = format_timestamp(event.at);
    html.raw("<li><time datetime=\"")
        .text(&when)
        .raw("\">")
        .text(&when)
        .raw("</time> (")
        .text(age(event.at))
        .raw(" ago): <strong>")
        .text(&event.actor)
        .raw("</strong> ")
        .text(what(event));
    if let Some(reason) = event.told_reason() {
        html.raw(": ").text(reason);
    }
    html.raw(".</li>");
}

/// The event in words: who did what, to which version, from which status to which.
pub fn what(event: &BeltEvent) -> String {
    let version = event.version.map(|v| format!(" version {v}"));
    let version = version.unwrap_or_default();
    let status = |s: Option<BeltStatus>| s.map_or("none", BeltStatus::as_str);
    match event.action {
        EventAction::Created => format!("created the belt at{version}"),
        EventAction::Replaced => format!("replaced the belt with{version}"),
        EventAction::Started => format!("asked to start{version}"),
        EventAction::Stopped => format!("asked to stop{version}"),
        EventAction::DeleteRequested => "asked to delete the belt".into(),
        EventAction::Deleted => "deleted the belt".into(),
        EventAction::StatusChanged => format!(
            "saw the status change from {} to {}",
            status(event.from),
            status(event.to)
        ),
    }
}

/// Previous / next links of a paged page at `path`; `extra` is more of the query (`&from=…`).
pub fn pager(html: &mut Html, path: &str, extra: &str, paging: Paging, shown: u64, total: u64) {
    let link = |html: &mut Html, offset: u64, label: &'static str| {
        html.raw("<a href=\"")
            .text(path)
            .raw("?pagesize=")
            .text(paging.limit)
            .raw("&offset=")
            .text(offset)
            .text(extra)
            .raw("\">")
            .raw(label)
            .raw("</a>");
    };
    html.raw("<nav class=\"paging\" aria-label=\"Pages\">");
    if paging.offset > 0 {
        link(html, paging.offset.saturating_sub(paging.limit), "Newer");
    }
    if shown > 0 && paging.offset.saturating_add(shown) < total {
        link(html, paging.offset + paging.limit, "Older");
    }
    html.raw("</nav>");
}

/// The belt page's links to its history and revisions, and for editors to deleting it.
pub fn belt_links(html: &mut Html, belt: &Belt, may_write: bool) {
    let base = belt_page(&belt.project, belt.id);
    html.raw("<nav class=\"belt-links\" aria-label=\"This belt\"><a href=\"")
        .text(&base)
        .raw("/history\" id=\"history-link\">History</a> <a href=\"")
        .text(&base)
        .raw("/revisions\" id=\"revisions-link\">Revisions</a>");
    if may_write {
        // A button, as the other actions are; it only leads to the confirmation page.
        html.raw(" <form class=\"inline\" method=\"get\" action=\"")
            .text(&base)
            .raw("/delete\"><button type=\"submit\" id=\"delete\">Delete…</button></form>");
    }
    html.raw("</nav>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{BeltId, ProjectName};

    fn event(action: EventAction) -> BeltEvent {
        BeltEvent {
            id: 1,
            project: ProjectName::global(),
            belt: BeltId::parse("4", "id").unwrap(),
            at: time::OffsetDateTime::now_utc(),
            actor: "Ada".into(),
            action,
            version: Some(2),
            from: Some(BeltStatus::Deploying),
            to: Some(BeltStatus::Failed),
            reason: None,
            output: None,
        }
    }

    #[test]
    fn events_read_as_sentences() {
        assert_eq!(
            what(&event(EventAction::StatusChanged)),
            "saw the status change from DEPLOYING to FAILED"
        );
        assert_eq!(
            what(&event(EventAction::Replaced)),
            "replaced the belt with version 2"
        );
        assert_eq!(what(&event(EventAction::Deleted)), "deleted the belt");
    }
}
