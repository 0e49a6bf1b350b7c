//! `/ui/projects/{project}/belts/{id}/revisions`: the versions the belt keeps, newest first and
//! paged as the API pages them, a diff between two of them (`compare.rs`), and for editors a
//! rollback button per older version: a POST form with the CSRF token and the version the page
//! showed as `If-Match`, calling the same rollback use case as `POST …/rollback`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::compare::{compare, Pair};
use super::form::CsrfForm;
use super::guarded::{belt_page, shown_version, write_refusal};
use super::history::pager;
use super::html::Html;
use super::list::age;
use super::page::{render, respond, Frame};
use super::session::{Session, SignedIn};
use super::ui_error;
use crate::belts::{Access, Edit, Replaced};
use crate::domain::timestamp::format_timestamp;
use crate::domain::{Belt, Commit, RevisionPage, RevisionSummary};
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
    let revisions = match state.belts.revisions(asked, paging.clone()).await {
        Ok(revisions) => revisions,
        Err(err) => return ui_error(err),
    };
    let current = match state.belts.get(asked).await {
        Ok(shown) => shown.belt,
        Err(err) => return ui_error(err),
    };
    let pair = match Pair::asked(&query, &state, asked, current.version).await {
        Ok(pair) => pair,
        Err(err) => return ui_error(err),
    };
    // The use case has already answered a refused query; this only unwraps it.
    let paging = match paging {
        Ok(paging) => paging,
        Err(invalid) => return ui_error(invalid.into()),
    };
    let may_write = session
        .caller
        .require(&scope.project, Access::Write)
        .is_ok();
    let title = format!("Revisions of {}", current.spec.name);
    let back = belt_page(&scope.project, scope.id);
    let html = render(&title, Some(Frame::new(session, &scope.project)), |html| {
        html.element("h1", &title);
        html.raw("<p><a href=\"")
            .text(&back)
            .raw("\">Back to the belt</a></p>");
        let write = may_write.then_some(&*session);
        table(html, &revisions, &current, write);
        let shown = revisions.items.len() as u64;
        let here = format!("{back}/revisions");
        let extra = pair.as_ref().map(Pair::query).unwrap_or_default();
        pager(html, &here, &extra, paging, shown, revisions.total);
        compare(html, &revisions, pair.as_ref());
    });
    respond(StatusCode::OK, html)
}

/// The revisions of this page; `write` (an editor's session) adds the rollback buttons.
fn table(html: &mut Html, page: &RevisionPage, current: &Belt, write: Option<&Session>) {
    html.raw("<section aria-labelledby=\"kept\"><h2 id=\"kept\">Kept versions</h2><p>")
        .text(page.total)
        .raw(" versions kept; the belt is at version ")
        .text(current.version)
        .raw(".</p><table><caption class=\"wide\">Versions, newest first</caption><thead><tr>")
        .raw("<th scope=\"col\">Version</th><th scope=\"col\">Stored by</th>")
        .raw("<th scope=\"col\" class=\"wide\">When</th><th scope=\"col\">Note</th>");
    if write.is_some() {
        html.raw("<th scope=\"col\">Action</th>");
    }
    html.raw("</tr></thead><tbody>");
    for revision in &page.items {
        row(html, revision, current, write);
    }
    html.raw("</tbody></table></section>");
}

fn row(html: &mut Html, revision: &RevisionSummary, current: &Belt, write: Option<&Session>) {
    let when = format_timestamp(revision.modified_at);
    html.raw("<tr><td>")
        .text(revision.version)
        .raw("</td><td>")
        .text(&revision.modified_by.name)
        .raw("</td><td class=\"wide\"><time datetime=\"")
        .text(&when)
        .raw("\">")
        .text(age(revision.modified_at))
        .raw(" ago</time></td><td>");
    if revision.version == current.version {
        html.raw("current ");
    }
    if let Some(restored) = revision.rollback_of {
        html.raw("rollback to version ").text(restored);
    }
    html.raw("</td>");
    if let Some(session) = write {
        html.raw("<td>");
        if revision.version != current.version {
            rollback_form(html, session, current, revision.version);
        }
        html.raw("</td>");
    }
    html.raw("</tr>");
}

fn rollback_form(html: &mut Html, session: &Session, current: &Belt, target: i64) {
    html.raw("<form class=\"inline\" method=\"post\" action=\"")
        .text(belt_page(&current.project, current.id))
        .raw("/rollback\">")
        .hidden("csrf", &session.csrf)
        .hidden("version", current.version)
        .hidden("target", target)
        .raw("<button type=\"submit\" id=\"rollback-")
        .text(target)
        .raw("\">Roll back to version ")
        .text(target)
        .raw("</button></form>");
}

/// Rollback from the revisions page: the CSRF token first, then the use case with the version
/// the page showed as `If-Match`; back to the belt page with a notice.
pub async fn rollback(
    State(state): State<AppState>,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    let session = &signed_in.session;
    let edit = Edit {
        asked: scope.asked_for(&session.caller),
        expect: shown_version(&form),
        commit: Ok(Commit::Yes),
    };
    // The use case reads the version as the API's body does, and names `version` when it is bad;
    // the page's field is `target`, so a missing one is sent as a bad value rather than none.
    let target = form.field("target").unwrap_or("none");
    let json = serde_json::json!({ "version": target }).to_string();
    let back = belt_page(&scope.project, scope.id);
    match state.belts.rollback(edit, json.as_bytes()).await {
        Ok(Replaced::Changed(_)) => Redirect::to(&format!("{back}?done=ROLLBACK")).into_response(),
        Ok(Replaced::Unchanged { .. }) => {
            Redirect::to(&format!("{back}?done=UNCHANGED")).into_response()
        }
        Err(err) => write_refusal(err),
    }
}
