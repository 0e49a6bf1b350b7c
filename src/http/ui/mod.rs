//! The web console (docs/console.md): server-rendered HTML at `/ui`, progressively enhanced with
//! the vendored htmx. Its handlers call the same use cases as the JSON handlers, with the
//! session's caller and the same role checks; only the rendering differs.

mod assets;
mod belt;
mod belt_logs;
mod belt_state;
mod chart;
mod compare;
mod delete;
mod diff;
mod editor;
mod explain;
mod export;
mod form;
mod guarded;
mod highlight;
mod history;
mod html;
mod list;
mod live;
mod login;
mod oidc;
mod page;
mod revisions;
mod session;
mod spark_words;
mod sparkline;
mod timing;

use std::sync::Arc;

use axum::http::{header, HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};

use super::error::ApiError;
use super::state::AppState;
use crate::belts::BeltError;

/// The console's routes, with the sessions they share (kept in the store), and the sign-in through
/// the OIDC provider (which also renews sessions' tokens).
pub fn routes(state: &AppState) -> Router<AppState> {
    let sign_in = Arc::new(oidc::SignIn::new(state));
    let renewal: Arc<dyn session::Renewal> = sign_in.clone();
    Router::new()
        .route("/ui", get(login::home))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/login", get(login::form).post(login::sign_in))
        .route("/ui/logout", post(login::sign_out))
        .route("/ui/callback", get(oidc::callback))
        .route("/ui/signed-out", get(oidc::signed_out_page))
        .route("/ui/projects/{project}/belts", get(list::page))
        .route(
            "/ui/projects/{project}/belts/sparklines",
            get(list::sparklines),
        )
        .route("/ui/projects/{project}/belts/{id}", get(belt::page))
        .route(
            "/ui/projects/{project}/belts/new",
            get(editor::new_page).post(editor::create),
        )
        .route(
            "/ui/projects/{project}/belts/check",
            post(editor::check_new),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/edit",
            get(editor::edit_page).post(editor::update),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/check",
            post(editor::check_edit),
        )
        .merge(test_panel())
        .route(
            "/ui/projects/{project}/belts/{id}/state",
            post(belt::change_state),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/rollback",
            post(revisions::rollback),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/delete",
            get(delete::confirm).post(delete::delete),
        )
        .merge(live::routes())
        .merge(belt_state::routes())
        .merge(belt_reads())
        .layer(Extension(state.sessions.clone()))
        .layer(axum::middleware::from_fn(timing::server_timing))
        .layer(Extension(sign_in))
        .layer(Extension(renewal))
}

/// The editor's test panel: a run (of a new belt's draft too), and the samples saved with the
/// belt.
fn test_panel() -> Router<AppState> {
    Router::new()
        .route(
            "/ui/projects/{project}/belts/invoke",
            post(editor::invoke_new),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/invoke",
            post(editor::invoke),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/samples/load",
            post(editor::load_sample),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/samples/save",
            post(editor::save_sample),
        )
}

/// The pages that read a belt beside its own: its export, history and revisions.
fn belt_reads() -> Router<AppState> {
    Router::new()
        .route(
            "/ui/projects/{project}/belts/{id}/export",
            get(export::download),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/history",
            get(history::page),
        )
        .route(
            "/ui/projects/{project}/belts/{id}/revisions",
            get(revisions::page),
        )
}

/// What no route answers: a browser's `GET /` goes to the console; everything else is the API's
/// 404, exactly as before the console existed.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if method == Method::GET && uri.path() == "/" && wants_html {
        return Redirect::to("/ui").into_response();
    }
    super::errors::not_found(uri).await
}

/// A use case's refusal as a page, with the status and the sentence the API would answer.
fn ui_error(err: BeltError) -> Response {
    let api = ApiError::from(err);
    let status = api.kind().status();
    if status.is_server_error() {
        tracing::warn!(error = %api, "console page failed");
    }
    let mut page = page::problem(status, &api.to_string());
    // A refused stream (429) says when to try again, as the API's answer does.
    if let ApiError::TooManyRequests {
        retry_after_secs, ..
    } = api
    {
        let retry = axum::http::HeaderValue::from(retry_after_secs);
        page.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    page
}
