//! `/ui/callback`: the provider sends the browser back with a code (or an error). The `state`
//! must name a sign-in this browser began; the code is exchanged with its PKCE verifier; the ID
//! token and the access token are verified by the API's own verifier, the nonce compared; only
//! then is a session opened. Every refusal is a page, and nobody is signed in.

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::Extension;

use super::pending::{Pending, BINDING_COOKIE};
use super::provider::{plain_code, TokenAnswer};
use super::{provider_failed, SignIn};
use crate::auth::{AuthError, Claims};
use crate::belts;
use crate::http::caller::nul_in_names;
use crate::http::query::Query;
use crate::http::ui::html::encode;
use crate::http::ui::login::too_many_sessions;
use crate::http::ui::page::{problem, render, respond};
use crate::http::ui::session::{cookie, same_secret, ProviderTokens, SessionBook};
use crate::http::ui::ui_error;

/// A token with less than this left is renewed before a page is served.
pub const RENEW_BEFORE_EXPIRY_SECS: i64 = 60;

pub async fn callback(
    Extension(sessions): Extension<Arc<SessionBook>>,
    Extension(sign_in): Extension<Arc<SignIn>>,
    headers: HeaderMap,
    query: Query,
) -> Response {
    let Some(provider) = &sign_in.provider else {
        return super::not_configured();
    };
    let field = |name| query.single(name).ok().flatten();
    let binding = cookie_value(&headers, BINDING_COOKIE);
    let logins = match sign_in.pending().await {
        Ok(logins) => logins,
        Err(err) => return ui_error(err),
    };
    // Taken first, so that even a refused answer uses the `state` up.
    let pending = field("state").and_then(|state| logins.take(state, binding));
    if let Some(error) = field("error") {
        let error = plain_code(error).unwrap_or("unknown");
        return refused(
            StatusCode::FORBIDDEN,
            &format!("The identity provider did not sign you in ({error})."),
        );
    }
    let Some(pending) = pending else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This sign-in is unknown, expired, already used, or was begun in another browser.",
        );
    };
    let Some(code) = field("code") else {
        return refused(StatusCode::BAD_REQUEST, "Field 'code' is missing.");
    };
    let answer = match (provider.exchange(code, &pending.verifier, &pending.redirect_uri)).await {
        Ok(answer) => answer,
        Err(err) => return provider_failed(err),
    };
    match signed_in_caller(&sign_in, &pending, answer).await {
        Ok((caller, tokens)) => open_session(&sessions, caller, tokens, &pending).await,
        Err(refusal) => refusal,
    }
}

/// The caller the answer's tokens stand for, verified as the API verifies tokens, with the ID
/// token's nonce the one this sign-in sent.
async fn signed_in_caller(
    sign_in: &SignIn,
    pending: &Pending,
    answer: TokenAnswer,
) -> Result<(belts::Caller, ProviderTokens), Response> {
    let client_id = sign_in
        .provider
        .as_ref()
        .map_or("", |p| p.client_id.as_str());
    let id_token = answer.id_token.ok_or_else(|| {
        refused(
            StatusCode::BAD_GATEWAY,
            "The identity provider sent no ID token.",
        )
    })?;
    let identity = (sign_in.verifier.verify_id_token(&id_token, client_id).await)
        .map_err(|err| not_verified("ID token", err))?;
    let nonce_ok = (identity.nonce.as_deref()).is_some_and(|n| same_secret(n, &pending.nonce));
    if !nonce_ok {
        tracing::info!("console sign-in refused: the ID token's nonce is not this sign-in's");
        return Err(refused(StatusCode::BAD_REQUEST, UNVERIFIED));
    }
    let claims = (sign_in.verifier.verify(&answer.access_token).await)
        .map_err(|err| not_verified("access token", err))?;
    if claims.sub != identity.sub {
        tracing::info!("console sign-in refused: the tokens name different subjects");
        return Err(refused(StatusCode::BAD_REQUEST, UNVERIFIED));
    }
    if let Some(refusal) = nul_in_names(&claims) {
        return Err(refused(StatusCode::BAD_REQUEST, &refusal));
    }
    let tokens = ProviderTokens {
        refresh: answer.refresh_token,
        id_token,
        renew_at: renew_at(&claims),
    };
    let token = answer.access_token;
    Ok((belts::Caller { claims, token }, tokens))
}

const UNVERIFIED: &str = "The identity provider's answer did not verify, so nobody is signed in.";

fn not_verified(what: &str, err: AuthError) -> Response {
    match err {
        AuthError::Unavailable(reason) => {
            tracing::warn!(%reason, "console sign-in: the provider's keys are unavailable");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "The identity provider's keys could not be fetched; try again later.",
            )
        }
        err => {
            tracing::info!(reason = %err, what, "console sign-in refused: a token did not verify");
            refused(StatusCode::BAD_REQUEST, UNVERIFIED)
        }
    }
}

/// When the access token of `claims` is renewed: shortly before it expires.
pub fn renew_at(claims: &Claims) -> i64 {
    claims.exp.unwrap_or_default() - RENEW_BEFORE_EXPIRY_SECS
}

/// The session, its cookie, and on to the console. Not a redirect: the browser arrived here from
/// the provider's site, and on such a chain it withholds `SameSite=Strict` cookies, so the next
/// page would not see the session. A page of ours that moves on (`Refresh`) starts a same-site
/// navigation, which carries it.
async fn open_session(
    sessions: &SessionBook,
    caller: belts::Caller,
    tokens: ProviderTokens,
    pending: &Pending,
) -> Response {
    // The console opens on `global` when the token grants a role there, else on the first
    // project by name; the header's list leads to the others.
    let Some(home) = caller.projects().into_iter().next() else {
        return refused(
            StatusCode::FORBIDDEN,
            "You are signed in at the identity provider, but hold no console role (editor or \
             viewer) in any project. Ask an administrator for one.",
        );
    };
    let (project, role) = (home.project.to_string(), home.role.to_string());
    let id = match sessions
        .open(caller, project.clone(), role, Some(tokens))
        .await
    {
        Ok(Some(id)) => id,
        Ok(None) => return refused_with(too_many_sessions()),
        Err(err) => return refused_with(ui_error(err)),
    };
    let https = pending.redirect_uri.starts_with("https:");
    let target = format!("/ui/projects/{}/belts", encode(&project));
    let html = render("Signed in", None, |html| {
        html.raw("<h1>Signed in</h1><p role=\"status\"><a href=\"")
            .text(&target)
            .raw("\">Continue to the console</a></p>");
    });
    let mut response = respond(StatusCode::OK, html);
    let moving_on = format!("0; url={target}");
    if let Ok(value) = header::HeaderValue::from_str(&moving_on) {
        response.headers_mut().insert(header::REFRESH, value);
    }
    (
        AppendHeaders([
            (header::SET_COOKIE, cookie(&id, https)),
            (header::SET_COOKIE, cleared_binding()),
        ]),
        response,
    )
        .into_response()
}

/// A refusal, which also clears the browser's binding to the sign-in it used up.
fn refused(status: StatusCode, message: &str) -> Response {
    refused_with(problem(status, message))
}

fn refused_with(page: Response) -> Response {
    ([(header::SET_COOKIE, cleared_binding())], page).into_response()
}

fn cleared_binding() -> String {
    format!("{BINDING_COOKIE}=; HttpOnly; SameSite=Lax; Path=/ui/callback; Max-Age=0")
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value)
}
