//! A submitted `application/x-www-form-urlencoded` body, and the CSRF check every write makes.
//! A form body is encoded as a query is, so it is read by the one query reader (`query.rs`).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::page::problem;
use super::session::{same_secret, Session, SignedIn};
use crate::http::query::Query;

pub struct Form(Query);

/// Why a form without the session's CSRF token did nothing.
pub const CSRF_REFUSED: &str = "The form's CSRF token is missing or does not belong to your \
                                session; reload the page and try again.";

impl Form {
    /// A body that is not UTF-8 holds no fields (and so no CSRF token).
    pub fn parse(body: &[u8]) -> Form {
        Form(Query::of(std::str::from_utf8(body).ok()))
    }

    /// The first value of `name`, if given.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0.all(name).next()
    }

    /// The refusal (403) unless the form's `csrf` field is the session's token: a page of
    /// another site can make the browser post a form, but cannot read ours to learn the token.
    pub fn csrf_refusal(&self, session: &Session) -> Option<Response> {
        match self.field("csrf") {
            Some(token) if same_secret(token, &session.csrf) => None,
            _ => Some(problem(StatusCode::FORBIDDEN, CSRF_REFUSED)),
        }
    }
}

/// A write from a signed-in browser: its session, `P` (the path's scope, say) and the form it
/// posted, taken in that order: no session, to sign in; then `P`'s refusal; then the body's (its
/// size limit); then, without the session's CSRF token, the 403 of `csrf_refusal`. The caller's
/// role is the use case's to check, after all this.
pub struct CsrfForm<P = ()>(pub SignedIn, pub P, pub Form);

impl<S, P> FromRequest<S> for CsrfForm<P>
where
    S: Send + Sync,
    P: FromRequestParts<S> + Send,
    P::Rejection: IntoResponse,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let scope = P::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let request = Request::from_parts(parts, body);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&body);
        match form.csrf_refusal(&signed_in.session) {
            Some(refused) => Err(refused),
            None => Ok(CsrfForm(signed_in, scope, form)),
        }
    }
}
