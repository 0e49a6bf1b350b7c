//! Fetching and caching the IdP's key set.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::keys::KeySet;
use super::AuthError;

/// Per-request timeout for discovery and JWKS fetches.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default minimum spacing of fetch attempts: an unknown `kid` can be sent by
/// anyone, so it must not translate into a request to the IdP every time.
pub(crate) const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Keys older than this are refreshed on next use (still rate-limited), so a
/// key the IdP withdrew stops being trusted even if no new kid ever shows up.
const MAX_KEY_AGE: Duration = Duration::from_secs(60 * 60);

/// Where the JWKS comes from.
#[derive(Debug, Clone)]
pub(crate) enum JwksLocation {
    /// OIDC discovery document; its `jwks_uri` names the key set.
    Discovery(Url),
    Explicit(Url),
}

impl JwksLocation {
    /// Discovery for `issuer`, which may or may not end in '/'.
    pub(crate) fn discovery(issuer: &str) -> anyhow::Result<JwksLocation> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        Ok(JwksLocation::Discovery(parse_http_url(&url)?))
    }

    pub(crate) fn explicit(url: &str) -> anyhow::Result<JwksLocation> {
        Ok(JwksLocation::Explicit(parse_http_url(url)?))
    }
}

fn parse_http_url(url: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).map_err(|e| anyhow::anyhow!("invalid URL {url}: {e}"))?;
    anyhow::ensure!(
        matches!(parsed.scheme(), "http" | "https"),
        "URL {url} must be http or https"
    );
    Ok(parsed)
}

struct Cached {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    /// `jwks_uri` from discovery, remembered so refreshes skip discovery.
    discovered: Option<Url>,
}

pub(crate) struct RemoteKeys {
    http: reqwest::Client,
    location: JwksLocation,
    pub(crate) min_refetch_interval: Duration,
    /// Read on every request, so kept apart from the fetch lock: verifying
    /// against known keys never waits for a slow IdP.
    cached: RwLock<Option<Cached>>,
    /// Serialises fetches, so concurrent requests with the same new kid
    /// cause one fetch, not many.
    fetch: Mutex<FetchState>,
}

impl RemoteKeys {
    pub(crate) fn new(location: JwksLocation) -> anyhow::Result<RemoteKeys> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .user_agent(concat!("belt-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(RemoteKeys {
            http,
            location,
            min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
            cached: RwLock::new(None),
            fetch: Mutex::new(FetchState::default()),
        })
    }

    /// The cached keys, fetching them when there are none yet or they are
    /// old. Old keys are kept if the refresh fails.
    pub(crate) async fn current(&self) -> Result<Arc<KeySet>, AuthError> {
        match self.cached_with_age() {
            Some((keys, age)) if age < MAX_KEY_AGE => Ok(keys),
            Some((keys, _)) => Ok(self.refresh().await.unwrap_or(keys)),
            None => self.refresh().await,
        }
    }

    /// Fetches the key set again unless an attempt was made within
    /// `min_refetch_interval`; then returns whatever is cached (possibly just
    /// updated by a concurrent caller).
    pub(crate) async fn refresh(&self) -> Result<Arc<KeySet>, AuthError> {
        let mut state = self.fetch.lock().await;
        let now = Instant::now();
        if state
            .last_attempt
            .is_some_and(|at| now.duration_since(at) < self.min_refetch_interval)
        {
            return self.cached_with_age().map(|(keys, _)| keys).ok_or_else(|| {
                let reason = state.last_error.as_deref().unwrap_or("not fetched yet");
                AuthError::Unavailable(format!("{reason} (retrying later)"))
            });
        }
        state.last_attempt = Some(now);
        match self.fetch_keys(&mut state).await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "fetched JWKS");
                let keys = Arc::new(keys);
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                    keys: keys.clone(),
                    fetched_at: Instant::now(),
                });
                state.last_error = None;
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(%reason, "fetching JWKS failed");
                state.last_error = Some(reason.clone());
                Err(AuthError::Unavailable(reason))
            }
        }
    }

    fn cached_with_age(&self) -> Option<(Arc<KeySet>, Duration)> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        cached
            .as_ref()
            .map(|c| (c.keys.clone(), c.fetched_at.elapsed()))
    }

    async fn fetch_keys(&self, state: &mut FetchState) -> Result<KeySet, String> {
        let jwks_url = match (&self.location, &state.discovered) {
            (JwksLocation::Explicit(url), _) => url.clone(),
            (JwksLocation::Discovery(_), Some(url)) => url.clone(),
            (JwksLocation::Discovery(config_url), None) => {
                #[derive(Deserialize)]
                struct Discovery {
                    jwks_uri: String,
                }
                let doc: Discovery = self.get_json(config_url).await?;
                let url = Url::parse(&doc.jwks_uri)
                    .map_err(|e| format!("discovery gave bad jwks_uri {}: {e}", doc.jwks_uri))?;
                state.discovered = Some(url.clone());
                url
            }
        };
        let result = self.get_json(&jwks_url).await.and_then(KeySet::from_jwks);
        if result.is_err() {
            // The IdP may have moved its JWKS; rediscover next time.
            state.discovered = None;
        }
        result
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, String> {
        let fail = |e: reqwest::Error| format!("GET {url}: {}", error_chain(&e.without_url()));
        self.http
            .get(url.clone())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(fail)?
            .json()
            .await
            .map_err(fail)
    }
}

/// reqwest's top-level message ("error sending request") hides the cause
/// (connection refused, timeout, ...), which is what an operator needs.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
