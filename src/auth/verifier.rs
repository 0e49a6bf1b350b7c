//! Token verification: header checks, key selection, signature and claims.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::dev::{DevKey, DEV_ISSUER};
use super::keys::{KeyFingerprint, KeySet, IDP_ALGORITHMS};
use super::remote::{JwksLocation, RemoteKeys};
use super::verified::{VerifiedTokens, CAPACITY};
use super::{AuthConfig, AuthError, Claims};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// Longer tokens are refused before anything is decoded. Keycloak tokens with many roles are a
/// few KB; this leaves room for large ones while keeping hostile ones cheap.
pub(crate) const MAX_TOKEN_BYTES: usize = 32 * 1024;

/// What the verifier trusts, for the startup log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Only tokens signed by the local dev key.
    Dev { key_path: PathBuf },
    /// Tokens signed by a key in the IdP's JWKS. `jwks_url` is the configured
    /// URL, or `"discovery"` when it comes from OIDC discovery.
    Oidc {
        issuer: Option<String>,
        jwks_url: String,
    },
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMode::Dev { key_path } => write!(f, "dev (key {})", key_path.display()),
            AuthMode::Oidc { issuer, jwks_url } => write!(
                f,
                "oidc (issuer {}, jwks {jwks_url})",
                issuer.as_deref().unwrap_or("unchecked")
            ),
        }
    }
}

enum Keys {
    Dev { key: DevKey, keys: Arc<KeySet> },
    // Shared with the task that refreshes the keys on schedule.
    Remote(Arc<RemoteKeys>),
}

/// Verifies bearer tokens. `Send + Sync`; share it behind an `Arc`.
pub struct Verifier {
    mode: AuthMode,
    keys: Keys,
    algorithms: &'static [Algorithm],
    /// Claim checks; `algorithms` is filled in per token.
    validation: Validation,
    /// Tokens that passed, so a repeated token is not checked again until it expires.
    verified: VerifiedTokens,
}

impl Verifier {
    /// Dev mode loads or creates the dev key here. Remote mode tries to fetch
    /// the key set once but only warns on failure: the IdP need not be up
    /// before us, keys are fetched again when needed.
    pub async fn new(config: &AuthConfig) -> anyhow::Result<Verifier> {
        let audience = config.audience.as_deref();
        let (issuer, jwks_url) = (config.issuer.as_deref(), config.jwks_url.as_deref());
        if issuer.is_none() && jwks_url.is_none() {
            let key = DevKey::load_or_create(&config.data_dir)?;
            let keys = Arc::new(KeySet::from_jwks(key.jwks()).map_err(anyhow::Error::msg)?);
            return Ok(Verifier {
                mode: AuthMode::Dev {
                    key_path: key.path().to_owned(),
                },
                keys: Keys::Dev { key, keys },
                algorithms: &[Algorithm::ES256],
                validation: validation(Some(DEV_ISSUER), audience),
                verified: VerifiedTokens::new(CAPACITY),
            });
        }

        let location = match (jwks_url, issuer) {
            (Some(url), _) => JwksLocation::explicit(url)?,
            (None, Some(issuer)) => JwksLocation::discovery(issuer)?,
            (None, None) => unreachable!("dev mode handled above"),
        };
        let remote = Arc::new(RemoteKeys::new(location)?);
        if let Err(e) = remote.refresh().await {
            tracing::warn!(error = %e, "JWKS not available at startup; will retry on demand");
        }
        tokio::spawn(RemoteKeys::refresh_on_schedule(Arc::downgrade(&remote)));
        Ok(Verifier {
            mode: AuthMode::Oidc {
                issuer: config.issuer.clone(),
                jwks_url: jwks_url.unwrap_or("discovery").to_owned(),
            },
            keys: Keys::Remote(remote),
            algorithms: IDP_ALGORITHMS,
            validation: validation(issuer, audience),
            verified: VerifiedTokens::new(CAPACITY),
        })
    }

    /// Sets the minimum spacing of JWKS fetches (default 10 s); tests
    /// shorten it. No effect in dev mode.
    pub fn with_min_refetch_interval(self, interval: Duration) -> Verifier {
        if let Keys::Remote(remote) = &self.keys {
            remote.set_min_refetch_interval(interval);
        }
        self
    }

    /// Sets the longest time a fetched key set is used (default 300 s): the IdP's
    /// `Cache-Control: max-age` is honoured up to this, and at least the refetch interval.
    /// No effect in dev mode.
    pub fn with_jwks_max_age(self, age: Duration) -> Verifier {
        if let Keys::Remote(remote) = &self.keys {
            remote.set_max_key_age(age);
        }
        self
    }

    pub fn mode(&self) -> AuthMode {
        self.mode.clone()
    }

    /// The dev key, in dev mode (for minting tokens).
    pub fn dev_key(&self) -> Option<&DevKey> {
        match &self.keys {
            Keys::Dev { key, .. } => Some(key),
            Keys::Remote(_) => None,
        }
    }

    /// Checks signature, algorithm, `exp`/`nbf`, `iss` and `aud`, and returns
    /// the claims. `Unavailable` means the key set could not be fetched.
    ///
    /// Header fields that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are never
    /// used: keys come only from the configured key set.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = self.header_of(token)?;
        let (kid, alg) = (header.kid.as_deref(), header.alg);
        // The current keys first, also for a remembered token: it counts only while
        // the key that verified it is still published.
        let keys = self.keys_for(kid).await?;
        let now = unix_now();
        if let Some(claims) = self.verified.get(token, now, |key| keys.has_key(key)) {
            return Ok(claims);
        }
        let (claims, key) = self.check(token, kid, alg, &keys, &self.validation)?;
        self.verified.insert(token, &claims, key, now);
        Ok(claims)
    }

    /// An OIDC ID token for the console's client `client_id`: the same size, algorithm, key,
    /// signature, time and issuer checks as [`Verifier::verify`], but its `aud` must name the
    /// client (OIDC Core 3.1.3.7). Never remembered: each is checked once, at sign-in.
    pub async fn verify_id_token(&self, token: &str, client_id: &str) -> Result<Claims, AuthError> {
        let header = self.header_of(token)?;
        let (kid, alg) = (header.kid.as_deref(), header.alg);
        let keys = self.keys_for(kid).await?;
        let mut validation = self.validation.clone();
        validation.set_audience(&[client_id]);
        validation.validate_aud = true;
        validation.required_spec_claims.insert("aud".to_owned());
        let (claims, _) = self.check(token, kid, alg, &keys, &validation)?;
        Ok(claims)
    }

    /// The header of a token not too large, whose algorithm is allowed: checked before any key
    /// lookup, so a refused alg can never trigger a fetch.
    fn header_of(&self, token: &str) -> Result<jsonwebtoken::Header, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(refuse(None, None, "token too large".into()));
        }
        // An unparsable header includes `alg: none` and unknown algorithms.
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refuse(None, None, "malformed token or unsupported alg".into()))?;
        if !self.algorithms.contains(&header.alg) {
            let reason = "algorithm not allowed".into();
            return Err(refuse(header.kid.as_deref(), Some(header.alg), reason));
        }
        Ok(header)
    }

    /// The signature and claims of `token` against `keys`; the claims and the key that
    /// verified them.
    fn check(
        &self,
        token: &str,
        kid: Option<&str>,
        alg: Algorithm,
        keys: &KeySet,
        validation: &Validation,
    ) -> Result<(Claims, KeyFingerprint), AuthError> {
        let mut validation = validation.clone();
        validation.algorithms = vec![alg];
        let mut tried_any = false;
        for key in keys.candidates(kid, alg) {
            tried_any = true;
            match jsonwebtoken::decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => return Ok((data.claims, key.fingerprint)),
                // Not this key; a kid-less token may match another one.
                Err(e) if signature_error(e.kind()) => continue,
                // The signature was good, the claims are not: no other key
                // will change that.
                Err(e) => return Err(refuse(kid, Some(alg), claims_reason(e.kind()))),
            }
        }
        let reason = match (tried_any, kid) {
            (true, _) => "bad signature".to_owned(),
            (false, Some(kid)) if keys.has_kid(kid) => "algorithm does not fit the key".to_owned(),
            (false, Some(_)) => "unknown kid".to_owned(),
            (false, None) => "no key fits the algorithm".to_owned(),
        };
        Err(refuse(kid, Some(alg), reason))
    }

    /// The key set to check a token against; refetched once (rate-limited)
    /// when the token names a kid we do not know, which is how key rotation
    /// is picked up.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        let remote = match &self.keys {
            Keys::Dev { keys, .. } => return Ok(keys.clone()),
            Keys::Remote(remote) => remote,
        };
        let keys = remote.current().await?;
        match kid {
            Some(kid) if !keys.has_kid(kid) => {
                tracing::debug!(kid, "unknown kid; refreshing JWKS");
                remote.refresh().await
            }
            _ => Ok(keys),
        }
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn validation(issuer: Option<&str>, audience: Option<&str>) -> Validation {
    // The algorithm is replaced per token; Validation::new just needs one.
    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = LEEWAY_SECS;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(issuer) = issuer {
        // "https://idp/realms/x" and ".../x/" name the same issuer.
        let bare = issuer.trim_end_matches('/');
        validation.set_issuer(&[bare.to_owned(), format!("{bare}/")]);
        required.push("iss");
    }
    match audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            required.push("aud");
        }
        // Without a configured audience, any `aud` is fine (jsonwebtoken
        // would otherwise refuse every token that has one).
        None => validation.validate_aud = false,
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Errors meaning "this key did not verify the signature".
fn signature_error(kind: &ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidSignature
            | ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat
            | ErrorKind::Crypto(_)
    )
}

/// A short reason with no token content in it (it ends up in logs and in
/// the 401 body).
fn claims_reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token not yet valid (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        _ => "malformed claims".into(),
    }
}

fn refuse(kid: Option<&str>, alg: Option<Algorithm>, reason: String) -> AuthError {
    tracing::debug!(kid, alg = ?alg, %reason, "token refused");
    AuthError::Invalid(reason)
}

#[cfg(test)]
mod tests;
