//! Fetching and caching the IdP's key set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use super::keys::KeySet;
use super::AuthError;

/// Per-request timeout for discovery and JWKS fetches.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default minimum spacing of fetch attempts: an unknown `kid` can be sent by
/// anyone, so it must not translate into a request to the IdP every time.
pub(crate) const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Default longest time a fetched key set is used before it is fetched again,
/// whatever its `Cache-Control` says: how long a key the IdP withdrew can keep
/// working (docs/upstream-trust.md).
pub(crate) const DEFAULT_MAX_KEY_AGE: Duration = Duration::from_secs(300);
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 1 << 20;

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
    /// The IdP's `Cache-Control` for this key set (`max-age`; `no-store`/`no-cache` as zero).
    max_age: Option<Duration>,
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
    /// Milliseconds; atomics because the refresher task shares this struct.
    min_refetch_interval_ms: AtomicU64,
    max_key_age_ms: AtomicU64,
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
            // Keys come only from the configured origin (or the `jwks_uri` its discovery
            // document names); a redirect is a failed fetch, and the old keys stay.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(RemoteKeys {
            http,
            location,
            min_refetch_interval_ms: AtomicU64::new(millis(DEFAULT_MIN_REFETCH_INTERVAL)),
            max_key_age_ms: AtomicU64::new(millis(DEFAULT_MAX_KEY_AGE)),
            cached: RwLock::new(None),
            fetch: Mutex::new(FetchState::default()),
        })
    }

    pub(crate) fn min_refetch_interval(&self) -> Duration {
        Duration::from_millis(self.min_refetch_interval_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_min_refetch_interval(&self, interval: Duration) {
        self.min_refetch_interval_ms
            .store(millis(interval), Ordering::Relaxed);
    }

    pub(crate) fn set_max_key_age(&self, age: Duration) {
        self.max_key_age_ms.store(millis(age), Ordering::Relaxed);
    }

    /// How long a key set fetched with `max_age` is used: the IdP's `max-age`, at most the
    /// configured maximum (also when the IdP says nothing) and at least the refetch interval.
    fn lifetime(&self, max_age: Option<Duration>) -> Duration {
        let cap = Duration::from_millis(self.max_key_age_ms.load(Ordering::Relaxed));
        max_age
            .unwrap_or(cap)
            .min(cap)
            .max(self.min_refetch_interval())
    }

    /// The cached keys, fetching them when there are none yet or they have
    /// outlived their lifetime. Old keys are kept if the refresh fails.
    pub(crate) async fn current(&self) -> Result<Arc<KeySet>, AuthError> {
        match self.cached_with_age() {
            Some((keys, age, lifetime)) if age < lifetime => Ok(keys),
            _ => self.refresh().await,
        }
    }

    /// Time until the cached keys are due for a refresh (zero when due or absent).
    fn due_in(&self) -> Duration {
        self.cached_with_age()
            .map_or(Duration::ZERO, |(_, age, lifetime)| {
                lifetime.saturating_sub(age)
            })
    }

    /// Refreshes the keys whenever they are due, until the verifier is dropped, so that
    /// a withdrawn key is forgotten even while no request needs a new one. Requests
    /// also refresh due keys themselves ([`RemoteKeys::current`]); this keeps the fetch
    /// off their path.
    pub(crate) async fn refresh_on_schedule(keys: Weak<RemoteKeys>) {
        loop {
            // Woken at least every few seconds, so settings changed after start apply soon.
            let wait = match keys.upgrade() {
                Some(keys) => keys
                    .due_in()
                    .clamp(Duration::from_secs(1), Duration::from_secs(5)),
                None => return,
            };
            tokio::time::sleep(wait).await;
            let Some(keys) = keys.upgrade() else { return };
            if keys.due_in().is_zero() {
                let _ = keys.refresh().await;
            }
        }
    }

    /// Fetches the key set again unless an attempt was made within
    /// `min_refetch_interval`; then returns whatever is cached (possibly just
    /// updated by a concurrent caller). A failed fetch keeps the cached keys;
    /// only without any is the key set unavailable.
    pub(crate) async fn refresh(&self) -> Result<Arc<KeySet>, AuthError> {
        let mut state = self.fetch.lock().await;
        let now = Instant::now();
        let cached = || self.cached_with_age().map(|(keys, _, _)| keys);
        if state
            .last_attempt
            .is_some_and(|at| now.duration_since(at) < self.min_refetch_interval())
        {
            return cached().ok_or_else(|| {
                let reason = state.last_error.as_deref().unwrap_or("not fetched yet");
                AuthError::Unavailable(format!("{reason} (retrying later)"))
            });
        }
        state.last_attempt = Some(now);
        match self.fetch_keys(&mut state).await {
            Ok((keys, max_age)) => {
                tracing::info!(keys = keys.len(), ?max_age, "fetched JWKS");
                let keys = Arc::new(keys);
                *self.cached.write().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                    keys: keys.clone(),
                    fetched_at: Instant::now(),
                    max_age,
                });
                state.last_error = None;
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(%reason, "fetching JWKS failed; keeping the keys we have");
                state.last_error = Some(reason.clone());
                cached().ok_or(AuthError::Unavailable(reason))
            }
        }
    }

    /// The cached keys, their age and their lifetime.
    fn cached_with_age(&self) -> Option<(Arc<KeySet>, Duration, Duration)> {
        let cached = self.cached.read().unwrap_or_else(PoisonError::into_inner);
        cached.as_ref().map(|c| {
            (
                c.keys.clone(),
                c.fetched_at.elapsed(),
                self.lifetime(c.max_age),
            )
        })
    }

    async fn fetch_keys(
        &self,
        state: &mut FetchState,
    ) -> Result<(KeySet, Option<Duration>), String> {
        let jwks_url = match (&self.location, &state.discovered) {
            (JwksLocation::Explicit(url), _) => url.clone(),
            (JwksLocation::Discovery(_), Some(url)) => url.clone(),
            (JwksLocation::Discovery(config_url), None) => {
                #[derive(Deserialize)]
                struct Discovery {
                    jwks_uri: String,
                }
                let (doc, _): (Discovery, _) = self.get_json(config_url).await?;
                let url = parse_http_url(&doc.jwks_uri)
                    .map_err(|e| format!("discovery gave bad jwks_uri: {e}"))?;
                state.discovered = Some(url.clone());
                url
            }
        };
        let result = self
            .get_json(&jwks_url)
            .await
            .and_then(|(doc, max_age)| Ok((KeySet::from_jwks(doc)?, max_age)));
        if result.is_err() {
            // The IdP may have moved its JWKS; rediscover next time.
            state.discovered = None;
        }
        result
    }

    /// GETs a JSON document and its `Cache-Control` max-age. Only a 200 counts: a
    /// redirect is not followed, and its target never sees a request from us.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<(T, Option<Duration>), String> {
        let fail = |e: reqwest::Error| format!("GET {url}: {}", error_chain(&e.without_url()));
        let request = self
            .http
            .get(url.clone())
            .headers(crate::trace_context::outgoing());
        let mut response = request.send().await.map_err(fail)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let what = if status.is_redirection() {
                " (redirects are not followed)"
            } else {
                ""
            };
            return Err(format!("GET {url}: answered {status}{what}"));
        }
        let max_age = cache_max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "GET {url}: answer larger than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let doc = serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))?;
        Ok((doc, max_age))
    }
}

/// `max-age` of a `Cache-Control` header; `no-store`, `no-cache` and anything unreadable
/// count as zero (the refetch interval then decides); `None` when the header is absent.
fn cache_max_age(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            return Some(Duration::ZERO);
        };
        for directive in value.split(',') {
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n, Some(a)));
            let name = name.trim();
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age") {
                let seconds = argument
                    .map(|a| a.trim().trim_matches('"'))
                    .and_then(|a| a.parse::<u64>().ok());
                match seconds {
                    Some(seconds) => max_age = Some(Duration::from_secs(seconds)),
                    None => return Some(Duration::ZERO),
                }
            }
        }
    }
    max_age
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, CACHE_CONTROL};

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn cache_control_max_age() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(cache_max_age(&HeaderMap::new()), None);
        assert_eq!(cache_max_age(&with(&["public, max-age=120"])), secs(120));
        assert_eq!(cache_max_age(&with(&["Max-Age=\"7\""])), secs(7));
        assert_eq!(cache_max_age(&with(&["max-age=60, no-cache"])), secs(0));
        assert_eq!(cache_max_age(&with(&["no-store"])), secs(0));
        assert_eq!(cache_max_age(&with(&["max-age=soon"])), secs(0));
        assert_eq!(cache_max_age(&with(&["max-age=-1"])), secs(0));
        assert_eq!(cache_max_age(&with(&["public"])), None);
    }

    #[test]
    fn lifetime_is_bounded_by_the_maximum_and_the_refetch_interval() {
        let keys = RemoteKeys::new(JwksLocation::explicit("http://idp/jwks").unwrap()).unwrap();
        keys.set_max_key_age(Duration::from_secs(300));
        keys.set_min_refetch_interval(Duration::from_secs(10));
        let secs = Duration::from_secs;
        assert_eq!(keys.lifetime(None), secs(300));
        assert_eq!(keys.lifetime(Some(secs(60))), secs(60));
        assert_eq!(keys.lifetime(Some(secs(86_400))), secs(300));
        assert_eq!(keys.lifetime(Some(secs(0))), secs(10));
        // A maximum below the refetch interval: the interval wins.
        keys.set_max_key_age(secs(1));
        assert_eq!(keys.lifetime(None), secs(10));
    }
}
