//! A submitted `application/x-www-form-urlencoded` body, and the CSRF check every write makes.
//! A form body is encoded as a query is, so it is read by the one query reader (`query.rs`).

use axum::http::StatusCode;
use axum::response::Response;

use super::page::problem;
use super::session::{same_secret, Session};
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
