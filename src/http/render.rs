//! Single-belt answers: the document with its `ETag`, and the belt's own path.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::document::BeltDocument;
use super::if_match::etag;
use super::links::BaseUrl;
use crate::belts::{Replaced, Shown};
use crate::domain::{BeltId, ProjectName};

pub fn belt_path(project: &ProjectName, id: BeltId) -> String {
    format!("/projects/{project}/belts/{id}")
}

pub fn document<'a>(shown: &'a Shown, base: &BaseUrl) -> BeltDocument<'a> {
    let belt = &shown.belt;
    let href = base.href(&belt_path(&belt.project, belt.id));
    BeltDocument::new(belt, Some(shown.status), href)
}

/// The document with its `ETag`.
pub fn belt_response(status: StatusCode, shown: &Shown, base: &BaseUrl) -> Response {
    let mut response = (status, Json(document(shown, base))).into_response();
    response
        .headers_mut()
        .insert(header::ETAG, etag(shown.belt.version));
    response
}

/// The answer to a write that replaces a belt's spec (PUT, rollback): 200 with the new document,
/// or 304 with the current `ETag` when nothing changed.
pub fn replaced_response(replaced: Replaced, base: &BaseUrl) -> Response {
    match replaced {
        Replaced::Changed(shown) => belt_response(StatusCode::OK, &shown, base),
        Replaced::Unchanged { version } => {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(header::ETAG, etag(version));
            response
        }
    }
}
