//! Console sign-in through the OpenID Connect provider (docs/console.md): the authorization-code
//! flow with PKCE (S256), backend-for-frontend. `/ui/login` sends the browser to the provider
//! with a challenge, a `state` and a `nonce` whose secrets stay here; `/ui/callback`
//! (`callback.rs`) exchanges the code and opens a session; `renew.rs` refreshes the access token
//! before it expires; sign-out ends the session here and, when the provider offers it, there.

mod callback;
mod pending;
mod provider;
mod renew;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::page::{problem, render, respond};
use super::session::{Session, SessionBook};
use super::ui_error;
use crate::auth::{AuthMode, Verifier};
use crate::belts::BeltError;
use crate::http::links::BaseUrl;
use crate::http::state::AppState;
pub use callback::callback;
use pending::{PendingLogins, BINDING_COOKIE, BINDING_KEY, LIFETIME};
use provider::{Provider, ProviderError};

/// The console's sign-in through the provider, shared by its routes.
pub struct SignIn {
    /// `None` without an issuer (dev mode, or a bare JWKS URL) or without a client id.
    provider: Option<Arc<Provider>>,
    /// Made at the first sign-in, under the key the replicas share (read from the store then,
    /// so that a dev-mode service never needs it).
    pending: tokio::sync::OnceCell<PendingLogins>,
    sessions: Arc<SessionBook>,
    verifier: Arc<Verifier>,
}

impl SignIn {
    pub fn new(state: &AppState) -> SignIn {
        let console = &state.console;
        let issuer = match state.verifier.mode() {
            AuthMode::Oidc { issuer, .. } => issuer,
            AuthMode::Dev { .. } => None,
        };
        let provider = issuer.zip(console.console_oidc_client_id.clone());
        SignIn {
            provider: provider.map(|(issuer, client_id)| {
                Arc::new(Provider::new(
                    &issuer,
                    client_id,
                    console.console_oidc_client_secret.clone(),
                    console.console_base_url.clone(),
                ))
            }),
            pending: tokio::sync::OnceCell::new(),
            sessions: state.sessions.clone(),
            verifier: state.verifier.clone(),
        }
    }

    /// The sign-ins under way, sealed under the replicas' shared key.
    async fn pending(&self) -> Result<&PendingLogins, BeltError> {
        let made = self.pending.get_or_try_init(|| async {
            let key = self.sessions.shared_key(BINDING_KEY).await?;
            Ok::<_, BeltError>(PendingLogins::new(&key))
        });
        made.await
    }

    /// `/ui/login` with an issuer: off to the provider's authorization endpoint.
    pub async fn start(&self, base: &BaseUrl) -> Response {
        let Some(provider) = &self.provider else {
            return not_configured();
        };
        let endpoints = match provider.endpoints().await {
            Ok(endpoints) => endpoints,
            Err(err) => return provider_failed(err),
        };
        let console = console_base(provider, base);
        let redirect_uri = format!("{console}/ui/callback");
        let begun = match self.pending().await {
            Ok(pending) => pending.begin(redirect_uri.clone()),
            Err(err) => return ui_error(err),
        };
        let mut target = endpoints.authorization;
        target
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", "openid")
            .append_pair("code_challenge", &begun.challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &begun.state)
            .append_pair("nonce", &begun.nonce);
        // `Lax`, not `Strict`: the provider sends the browser back from its own site, and a
        // `Strict` cookie would not come along.
        let secure = if console.starts_with("https:") {
            "; Secure"
        } else {
            ""
        };
        let binding = format!(
            "{BINDING_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/ui/callback; Max-Age={}{secure}",
            begun.binding,
            LIFETIME.as_secs()
        );
        (
            [(header::SET_COOKIE, binding)],
            Redirect::to(target.as_str()),
        )
            .into_response()
    }

    /// After the session of `session` ended here: on to the provider's sign-out when it has one
    /// (so its own session ends too and the next sign-in asks again), else a page that says so.
    pub async fn signed_out(&self, session: &Session, base: &BaseUrl) -> Response {
        // Only a session the provider opened is signed out there.
        let (Some(provider), Some(_)) = (&self.provider, &session.provider) else {
            return Redirect::to("/ui/login").into_response();
        };
        let end_session = match provider.endpoints().await {
            Ok(endpoints) => endpoints.end_session,
            Err(_) => None,
        };
        let Some(mut target) = end_session else {
            return signed_out_page().await;
        };
        let back = format!("{}/ui/signed-out", console_base(provider, base));
        // `client_id`, not `id_token_hint`: OIDC RP-initiated logout accepts either, and a
        // token in a URL lands in the browser's history and the provider's access logs (issue
        // 21: no token in a URL, ever). Keycloak takes `client_id` since version 18.
        target
            .query_pairs_mut()
            .append_pair("client_id", &provider.client_id)
            .append_pair("post_logout_redirect_uri", &back);
        Redirect::to(target.as_str()).into_response()
    }
}

/// `/ui/signed-out`: where the provider's sign-out sends the browser back. Not `/ui/login`,
/// which would go straight back to the provider.
pub async fn signed_out_page() -> Response {
    let html = render("Signed out", None, |html| {
        html.raw("<h1>Signed out</h1><p role=\"status\">You are signed out of the console.</p>")
            .raw("<p><a href=\"/ui/login\">Sign in again</a></p>");
    });
    respond(StatusCode::OK, html)
}

/// The console's external base URL: configured, or the request's (its host, or a trusted
/// proxy's forwarded host).
fn console_base(provider: &Provider, base: &BaseUrl) -> String {
    match &provider.base_url {
        Some(configured) => configured.clone(),
        None => base.href(""),
    }
}

fn not_configured() -> Response {
    let html = render("Sign in", None, |html| {
        html.raw("<h1>Sign in</h1><p class=\"notice\" role=\"note\">This belt-api verifies ")
            .raw("tokens of an OpenID Connect provider, but console sign-in through it is not ")
            .raw("configured: the operator sets the console's client id ")
            .raw("(<code>BELT_CONSOLE_OIDC_CLIENT_ID</code>). Meanwhile, use the API with a ")
            .raw("token from your provider.</p>");
    });
    respond(StatusCode::OK, html)
}

/// The provider could not be asked, or answered what we do not understand: no sign-in.
fn provider_failed(err: ProviderError) -> Response {
    match err {
        ProviderError::Refused(code) => {
            tracing::info!(%code, "the identity provider refused a console sign-in");
            problem(
                StatusCode::BAD_REQUEST,
                &format!(
                    "The identity provider refused to complete the sign-in ({code}). \
                     Sign in again."
                ),
            )
        }
        ProviderError::NotUnderstood(reason) => {
            tracing::warn!(%reason, "console sign-in: the identity provider's answer was not usable");
            problem(
                StatusCode::BAD_GATEWAY,
                "The identity provider could not be reached or gave an answer belt-api does not \
                 understand, so nobody is signed in. Try again later.",
            )
        }
    }
}
