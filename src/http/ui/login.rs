//! Sign-in and sign-out: the local development sign-in here; with an OIDC issuer, the sign-in
//! through the provider (`oidc/`), which this page hands over to (docs/console.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::form::{CsrfForm, Form};
use super::html::{encode, Html};
use super::oidc::SignIn;
use super::page::{problem, render, respond};
use super::session::SessionBook;
use super::session::{cleared_cookie, cookie, session_id, LIFETIME};
use super::ui_error;
use crate::auth::{Access, Claims};
use crate::belts;
use crate::domain::ProjectName;
use crate::http::links::BaseUrl;
use crate::http::state::AppState;

pub async fn form(
    State(state): State<AppState>,
    Extension(sign_in): Extension<Arc<SignIn>>,
    base: BaseUrl,
) -> Response {
    if state.verifier.dev_key().is_none() {
        return sign_in.start(&base).await;
    }
    let html = render("Sign in", None, dev_form);
    respond(StatusCode::OK, html)
}

fn dev_form(html: &mut Html) {
    html.raw("<h1>Local development sign-in</h1><p class=\"dev\" role=\"note\"><strong>")
        .raw("Development mode:</strong> this belt-api has no identity provider; anyone who ")
        .raw("reaches it may sign in as anyone, with any role. Never expose it.</p>")
        .raw("<form method=\"post\" action=\"/ui/login\">")
        .raw("<p><label for=\"name\">Your name</label>")
        .raw("<input id=\"name\" name=\"name\" required maxlength=\"100\" value=\"Dev User\"></p>")
        .raw("<p><label for=\"project\">Project</label>")
        .raw("<input id=\"project\" name=\"project\" required value=\"global\"></p>")
        .raw("<p><label for=\"role\">Role</label><select id=\"role\" name=\"role\">")
        .raw("<option value=\"editor\">editor (may start, stop and read logs)</option>")
        .raw("<option value=\"viewer\">viewer (read only)</option></select></p>")
        .raw("<p><button class=\"primary\" type=\"submit\">Sign in</button></p></form>");
}

/// Mints a dev token for the chosen name, project and role, verifies it as the API would, and
/// keeps the resulting caller in a new session.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<SessionBook>>,
    base: BaseUrl,
    body: Bytes,
) -> Response {
    if state.verifier.dev_key().is_none() {
        return problem(
            StatusCode::FORBIDDEN,
            "Local development sign-in is off: this belt-api verifies tokens of an OpenID \
             Connect provider.",
        );
    }
    let (claims, project, role) = match chosen(&Form::parse(&body)) {
        Ok(chosen) => chosen,
        Err(message) => return problem(StatusCode::BAD_REQUEST, &message),
    };
    let caller = match dev_caller(&state, &claims).await {
        Ok(caller) => caller,
        Err(message) => return problem(StatusCode::INTERNAL_SERVER_ERROR, message),
    };
    let id = match sessions.open(caller, project.clone(), role, None).await {
        Ok(Some(id)) => id,
        Ok(None) => return too_many_sessions(),
        Err(err) => return ui_error(err),
    };
    let https = base.href("").starts_with("https:");
    let target = format!("/ui/projects/{}/belts", encode(&project));
    (
        [(header::SET_COOKIE, cookie(&id, https))],
        Redirect::to(&target),
    )
        .into_response()
}

/// The refusal of a sign-in when as many sessions are open as may be.
pub fn too_many_sessions() -> Response {
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Too many open sessions; try again later.",
    )
}

/// The claims the sign-in form asks for, with the project and role; otherwise what is wrong,
/// naming the field.
fn chosen(form: &Form) -> Result<(Claims, String, String), String> {
    let bad = |message: &str| message.to_string();
    let name = form.field("name").unwrap_or_default().trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.contains('\0') {
        return Err(bad(
            "Field 'name' must hold 1 to 100 characters, none of them NUL.",
        ));
    }
    let project = ProjectName::parse(form.field("project").unwrap_or_default())
        .map_err(|invalid| bad(&format!("Field 'project': {}", invalid.message)))?;
    let role = match form.field("role") {
        Some(role @ ("editor" | "viewer")) => role.to_string(),
        _ => return Err(bad("Field 'role' must be 'editor' or 'viewer'.")),
    };
    let project = project.as_str().to_string();
    let roles = Access {
        roles: vec![role.clone()],
    };
    let claims = Claims {
        name: Some(name),
        email: Some("dev@localhost".into()),
        resource_access: [(project.clone(), roles)].into(),
        ..Default::default()
    };
    Ok((claims, project, role))
}

/// A dev token for `claims`, verified as any API request's token is: the session's caller is
/// exactly what a request with that token would be.
async fn dev_caller(state: &AppState, claims: &Claims) -> Result<belts::Caller, &'static str> {
    let key = state.verifier.dev_key().ok_or("No dev key.")?;
    let token = key.mint(claims, LIFETIME).map_err(|err| {
        tracing::error!(error = ?err, "minting a console dev token");
        "Could not sign you in."
    })?;
    match state.verifier.verify(&token).await {
        Ok(claims) => Ok(belts::Caller { claims, token }),
        Err(err) => {
            tracing::error!(reason = %err, "a console dev token was refused");
            Err("The token just minted was refused.")
        }
    }
}

/// Forgets the session on every replica and in the browser; the form's CSRF token keeps another
/// site from signing the user out.
pub async fn sign_out(
    Extension(sessions): Extension<Arc<SessionBook>>,
    Extension(sign_in): Extension<Arc<SignIn>>,
    CsrfForm(signed_in, base, _): CsrfForm<BaseUrl>,
) -> Response {
    // Not signed out unless the store says so: a session left stored would still open pages.
    if let Err(err) = sessions.close(&signed_in.id).await {
        return ui_error(err);
    }
    let next = sign_in.signed_out(&signed_in.session, &base).await;
    ([(header::SET_COOKIE, cleared_cookie())], next).into_response()
}

/// `/ui`: the signed-in user's project, or the sign-in page.
pub async fn home(
    headers: HeaderMap,
    Extension(sessions): Extension<Arc<SessionBook>>,
) -> Response {
    let found = match session_id(&headers) {
        Some(id) => sessions.find(&id).await,
        None => Ok(None),
    };
    match found {
        Ok(Some(session)) => {
            Redirect::to(&format!("/ui/projects/{}/belts", encode(&session.project)))
                .into_response()
        }
        Ok(None) => Redirect::to("/ui/login").into_response(),
        Err(err) => ui_error(err),
    }
}
