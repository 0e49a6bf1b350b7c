//! What every belt write from a page shares: the version the page showed, handed to the use case
//! as `If-Match`, and the page a stale form gets (412) instead of acting on a belt that changed.

use axum::http::StatusCode;
use axum::response::Response;

use super::form::Form;
use super::html::{encode, Html};
use super::page::problem;
use super::ui_error;
use crate::belts::BeltError;
use crate::domain::{BeltId, Invalid, Precondition, ProjectName};
use crate::http::query::Query;

/// The form's `version` field as the precondition of the write.
pub fn shown_version(form: &Form) -> Result<Precondition, Invalid> {
    form.field("version")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| Precondition::OneOf(vec![v]))
        .ok_or_else(|| Invalid::field_message("version", "Field 'version' must be a belt version."))
}

/// A write's refusal as a page; a version mismatch says the page was stale and nothing was done.
pub fn write_refusal(err: BeltError) -> Response {
    match err {
        BeltError::VersionMismatch { current, .. } => {
            problem(StatusCode::PRECONDITION_FAILED, &stale_sentence(current))
        }
        err => ui_error(err),
    }
}

/// Why a write from a page that showed an older version did nothing (START/STOP, rollback,
/// delete, the editor).
pub fn stale_sentence(current: i64) -> String {
    format!("This belt changed since you loaded it (it is now at version {current}); nothing was done. Reload its page and decide again.")
}

/// The console page of a belt.
pub fn belt_page(project: &ProjectName, id: BeltId) -> String {
    format!("/ui/projects/{}/belts/{id}", encode(project.as_str()))
}

/// The belt page's notice after a write from a form (`?done=`): our own sentences for our own
/// values, so a crafted link cannot make the page say anything else.
pub fn done_notice(html: &mut Html, done: &str) {
    let said = match done {
        "START" => "START asked for.",
        "STOP" => "STOP asked for.",
        "ROLLBACK" => "Rolled back: the belt is at a new version with the older version's content.",
        "UNCHANGED" => "Nothing changed: that version's content is the current content.",
        _ => return,
    };
    html.raw("<p class=\"notice\" role=\"status\">")
        .raw(said)
        .raw("</p>");
}

/// The list's notice after a deletion (`?deleted=<name>`).
pub fn deleted_notice(html: &mut Html, query: &Query) {
    if let Ok(Some(name)) = query.single("deleted") {
        html.raw("<p class=\"notice\" role=\"status\">Belt ")
            .text(name)
            .raw(" was deleted.</p>");
    }
}
