//! Delete with confirmation, as GitHub asks for a repository: a page that says what deleting does
//! (what `DELETE …/belts/{id}` really does, docs/api.md#delete) and a form where the user types
//! the belt's name; the form carries the CSRF token and the version the page showed as
//! `If-Match`, and calls the same delete use case as the API.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::form::CsrfForm;
use super::guarded::{belt_page, shown_version, write_refusal};
use super::html::{encode, Html};
use super::page::{problem, render, respond, Frame};
use super::session::{Session, SignedIn};
use super::ui_error;
use crate::belts::{Access, Edit};
use crate::domain::{Belt, Commit};
use crate::http::scope::BeltScope;
use crate::http::state::AppState;

/// The confirmation page; an editor's only, since a viewer could not delete.
pub async fn confirm(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
) -> Response {
    let session = &signed_in.session;
    let asked = scope.asked_for(&session.caller);
    let belt = match state.belts.get(asked).await {
        Ok(shown) => shown.belt,
        Err(err) => return ui_error(err),
    };
    if let Err(err) = session.caller.require(&scope.project, Access::Write) {
        return ui_error(err);
    }
    let title = format!("Delete belt {}?", belt.spec.name);
    let html = render(&title, Some(Frame::new(session, &scope.project)), |html| {
        html.element("h1", &title);
        consequences(html, &belt);
        form(html, session, &belt);
    });
    respond(StatusCode::OK, html)
}

fn consequences(html: &mut Html, belt: &Belt) {
    html.raw("<p>Deleting it stops its replicas and removes what the runtime holds for it; ")
        .raw("then its document and every kept revision are deleted: it cannot be rolled back. ")
        .raw("Its history stays readable (by its id, ")
        .text(belt.id)
        .raw(") while its events are retained. Until the runtime confirms, the belt is gone for ")
        .raw("every request but its name stays taken.</p>");
}

fn form(html: &mut Html, session: &Session, belt: &Belt) {
    let back = belt_page(&belt.project, belt.id);
    html.raw("<form method=\"post\" action=\"")
        .text(&back)
        .raw("/delete\">")
        .hidden("csrf", &session.csrf)
        .hidden("version", belt.version)
        .raw("<p><label for=\"confirm\">To confirm, type the belt's name, <code>")
        .text(&belt.spec.name)
        .raw("</code></label><input id=\"confirm\" name=\"confirm\" type=\"text\" ")
        .raw("autocomplete=\"off\" spellcheck=\"false\" required></p>")
        .raw("<p><button type=\"submit\" class=\"danger\" id=\"delete-confirmed\">")
        .raw("Delete this belt</button> <a href=\"")
        .text(&back)
        .raw("\">Cancel</a></p></form>");
}

/// The confirmed deletion: the CSRF token first, then the typed name, then the use case with the
/// version the page showed as `If-Match`; to the list with a notice.
pub async fn delete(
    State(state): State<AppState>,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    let session = &signed_in.session;
    let asked = scope.asked_for(&session.caller);
    let name = match state.belts.get(asked).await {
        Ok(shown) => shown.belt.spec.name,
        Err(err) => return ui_error(err),
    };
    if form.field("confirm") != Some(name.as_str()) {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("Field 'confirm' must be the belt's name, '{name}'; nothing was deleted."),
        );
    }
    let edit = Edit {
        asked,
        expect: shown_version(&form),
        commit: Ok(Commit::Yes),
    };
    match state.belts.delete(edit).await {
        Ok(()) => Redirect::to(&format!(
            "/ui/projects/{}/belts?deleted={}",
            encode(scope.project.as_str()),
            encode(&name)
        ))
        .into_response(),
        Err(err) => write_refusal(err),
    }
}
