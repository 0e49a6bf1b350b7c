//! `?dryRun=true` on the write endpoints (docs/api.md#dry-run): read from the query, handed to the
//! use case as parsed, refusal included, so that the role check answers first. Every write route
//! takes this one extractor: it either tries the write for real ([`DryRun::0`]) or refuses the
//! parameter ([`DryRun::refused`]); none ignores it.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::query::Query;
use crate::domain::{Commit, Invalid};

/// Whether the write is kept (`dryRun` absent or `false`) or only tried (`dryRun=true`).
pub struct DryRun(pub Result<Commit, Invalid>);

impl<S: Send + Sync> FromRequestParts<S> for DryRun {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(DryRun(commit_of(&Query::of(parts.uri.query()))))
    }
}

impl DryRun {
    /// For a write that cannot be tried without being made (it acts on the broker or runs code):
    /// `dryRun=true` is a 400 naming the parameter, so that a caller who asked for a dry run
    /// never gets the real write. `false` or absent is the call itself.
    pub fn refused(self) -> Result<(), Invalid> {
        match self.0? {
            Commit::Yes => Ok(()),
            Commit::DryRun => Err(Invalid::field_message(
                "dryRun",
                "Parameter 'dryRun' cannot be 'true' here: this call has no dry run, and nothing \
                 was done.",
            )),
        }
    }
}

/// The parameter as the OpenAPI document shows it on each write operation that tries writes.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `commit_of`, declared here only for the document.
pub struct DryRunParam {
    /// `true` (any case): every check of the call, and its answer, with nothing written. `false` or absent: the call itself.
    #[param(rename = "dryRun")]
    dry_run: Option<bool>,
}

/// The parameter as the OpenAPI document shows it on a write that has no dry run.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by `commit_of`, declared here only for the document.
pub struct RefusedDryRunParam {
    /// Refused: `true` answers 400 naming `dryRun` and does nothing, since this call cannot be tried without being made. `false` or absent: the call itself.
    #[param(rename = "dryRun")]
    dry_run: Option<bool>,
}

/// A flag as every flag is read (`http/query.rs`): a dry run taken for a real call (or the
/// reverse) writes what was not meant, so `true` or `false` in any case, given at most once, and
/// the name in any case too (`dryrun=true` is a dry run, not an unknown parameter that lets the
/// write through).
fn commit_of(query: &Query) -> Result<Commit, Invalid> {
    Ok(match query.flag("dryRun")? {
        true => Commit::DryRun,
        false => Commit::Yes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit_of(raw: Option<&str>) -> Result<Commit, Invalid> {
        super::commit_of(&Query::of(raw))
    }

    #[test]
    fn only_true_or_false_once() {
        assert_eq!(commit_of(None).unwrap(), Commit::Yes);
        assert_eq!(commit_of(Some("lines=3")).unwrap(), Commit::Yes);
        assert_eq!(commit_of(Some("dryRun=TRUE")).unwrap(), Commit::DryRun);
        assert_eq!(commit_of(Some("dryRun=true")).unwrap(), Commit::DryRun);
        assert_eq!(commit_of(Some("dryRun=False")).unwrap(), Commit::Yes);
        assert_eq!(
            commit_of(Some("dryRun=maybe")).unwrap_err().to_string(),
            "Parameter 'dryRun' must be 'true' or 'false' but is 'maybe'."
        );
        for refused in [
            "dryRun=",
            "dryRun",
            "dryRun=All",
            "dryRun=%20true",
            "dryRun=1",
        ] {
            assert!(commit_of(Some(refused)).is_err(), "{refused}");
        }
        assert_eq!(
            commit_of(Some("dryRun=true&dryRun=false"))
                .unwrap_err()
                .to_string(),
            "Parameter 'dryRun' must be given at most once."
        );
        assert_eq!(commit_of(Some("dryrun=true")).unwrap(), Commit::DryRun);
        assert!(commit_of(Some("DRYRUN=yes")).is_err());
    }

    #[test]
    fn a_write_without_a_dry_run_refuses_true_and_passes_false() {
        let refused = |query| DryRun(commit_of(Some(query))).refused();
        let message = refused("dryRun=true").unwrap_err().to_string();
        assert!(
            message.starts_with("Parameter 'dryRun' cannot be 'true'"),
            "{message}"
        );
        assert!(refused("dryRun=false").is_ok());
        assert!(refused("lines=3").is_ok());
        assert!(refused("dryRun=maybe").is_err());
    }
}
