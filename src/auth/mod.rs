//! Bearer-token authentication.
//!
//! [`token_from_headers`] finds the JWT in a request; [`Verifier`] checks it
//! against the IdP's JWKS (OIDC discovery or an explicit URL) or, when no IdP
//! is configured, against a development key kept in the data directory
//! ([`DevKey`], which can also mint tokens). Tokens and key material are never
//! logged; only kid, alg and the reason for a refusal are.

mod claims;
mod dev;
mod headers;
mod keys;
mod remote;
#[cfg(test)]
mod test_support;
mod verified;
mod verifier;

pub use claims::{Access, Claims};
pub use dev::{DevKey, DEV_ISSUER, DEV_KID};
pub use headers::token_from_headers;
pub use verifier::{AuthMode, Verifier};

/// How tokens are verified. With neither `issuer` nor `jwks_url` set the
/// service runs in dev mode (see [`DevKey`]).
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    /// Expected `iss`; also the base for OIDC discovery when `jwks_url` is unset.
    pub issuer: Option<String>,
    /// Explicit JWKS URL; skips discovery.
    pub jwks_url: Option<String>,
    /// When set, `aud` must contain it.
    pub audience: Option<String>,
    /// Where the dev signing key lives.
    pub data_dir: std::path::PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key set could not be fetched; the request may succeed later
    /// (the API answers 503, not 401).
    #[error("key set unavailable: {0}")]
    Unavailable(String),
}
