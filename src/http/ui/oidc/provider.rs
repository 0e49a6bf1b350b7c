//! The OIDC provider as the console's sign-in talks to it: its discovery document (where to send
//! the browser, where to exchange a code, where to sign out) and its token endpoint. Nothing it
//! answers is trusted until understood: an answer we cannot read fails the sign-in, closed.
//! Tokens and the client secret are never logged, and neither are the provider's answers.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

/// Per-request timeout for discovery and the token endpoint.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the discovery document is used before it is read again.
const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(300);
/// The largest answer read from the provider.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Where the provider wants the browser and our requests.
#[derive(Clone)]
pub struct Endpoints {
    pub authorization: Url,
    pub token: Url,
    /// RP-initiated logout, when the provider offers it.
    pub end_session: Option<Url>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    end_session_endpoint: Option<String>,
}

/// The token endpoint's answer (RFC 6749 5.1). No `Debug`: it holds tokens.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub token_type: String,
    #[serde(default)]
    pub id_token: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Why the provider gave us nothing usable.
#[derive(Debug)]
pub enum ProviderError {
    /// It answered, and refused (`invalid_grant` for a replayed code or a wrong verifier).
    Refused(String),
    /// It could not be reached, or its answer was not understood.
    NotUnderstood(String),
}

/// The console's client at the provider.
pub struct Provider {
    http: reqwest::Client,
    issuer: String,
    pub client_id: String,
    client_secret: Option<String>,
    /// The console's external base URL, when configured (else the request's).
    pub base_url: Option<String>,
    discovered: Mutex<Option<(Instant, Endpoints)>>,
}

impl Provider {
    pub fn new(
        issuer: &str,
        client_id: String,
        client_secret: Option<String>,
        base_url: Option<String>,
    ) -> Provider {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            // A redirect from the provider is an answer we do not follow anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Provider {
            http,
            issuer: issuer.trim_end_matches('/').to_string(),
            client_id,
            client_secret,
            base_url: base_url.map(|url| url.trim_end_matches('/').to_string()),
            discovered: Mutex::new(None),
        }
    }

    /// The endpoints of the discovery document, read at most every few minutes.
    pub async fn endpoints(&self) -> Result<Endpoints, ProviderError> {
        let mut cached = self.discovered.lock().await;
        if let Some((read_at, endpoints)) = cached.as_ref() {
            if read_at.elapsed() < DISCOVERY_MAX_AGE {
                return Ok(endpoints.clone());
            }
        }
        let endpoints = self.discover().await?;
        *cached = Some((Instant::now(), endpoints.clone()));
        Ok(endpoints)
    }

    async fn discover(&self) -> Result<Endpoints, ProviderError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response = self.http.get(&url).send().await.map_err(not_reached)?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(not_understood(format!("discovery answered {status}")));
        }
        let body = bounded_body(response).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|_| not_understood("discovery document not understood".into()))?;
        // A document naming another issuer is not our provider's (OIDC Discovery 4.3).
        if doc.issuer.trim_end_matches('/') != self.issuer {
            return Err(not_understood("discovery names another issuer".into()));
        }
        let end_session = match doc.end_session_endpoint.as_deref() {
            Some(url) => Some(http_url(url)?),
            None => None,
        };
        Ok(Endpoints {
            authorization: http_url(&doc.authorization_endpoint)?,
            token: http_url(&doc.token_endpoint)?,
            end_session,
        })
    }

    /// Exchanges an authorization code, proving with `verifier` that we asked for it (PKCE).
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenAnswer, ProviderError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        self.token_request(&form).await
    }

    /// A new access token for a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenAnswer, ProviderError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token_request(&form).await
    }

    /// A POST to the token endpoint with the client's credentials in the form
    /// (`client_secret_post`, when the client is confidential).
    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenAnswer, ProviderError> {
        let endpoints = self.endpoints().await?;
        let body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            body.extend_pairs(form);
            body.append_pair("client_id", &self.client_id);
            if let Some(secret) = &self.client_secret {
                body.append_pair("client_secret", secret);
            }
            body.finish()
        };
        let response = (self.http.post(endpoints.token))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(not_reached)?;
        let status = response.status();
        let answer = bounded_body(response).await?;
        if status.is_client_error() {
            return Err(ProviderError::Refused(error_code(&answer)));
        }
        if !status.is_success() {
            return Err(not_understood(format!("token endpoint answered {status}")));
        }
        let tokens: TokenAnswer = serde_json::from_slice(&answer)
            .map_err(|_| not_understood("token answer not understood".into()))?;
        if !tokens.token_type.eq_ignore_ascii_case("bearer") {
            return Err(not_understood("token type is not Bearer".into()));
        }
        Ok(tokens)
    }
}

/// The `error` code of a refusal (RFC 6749 5.2), when it is one; never its description, which
/// the provider writes and we would otherwise repeat.
fn error_code(answer: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Refusal {
        error: String,
    }
    serde_json::from_slice::<Refusal>(answer)
        .ok()
        .and_then(|refusal| plain_code(&refusal.error).map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// An OAuth error code as the specification spells them (`invalid_grant`, `access_denied`), to
/// be repeated on a page; anything else (which anyone can put in a callback link) is not.
pub fn plain_code(code: &str) -> Option<&str> {
    let plain = !code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    plain.then_some(code)
}

fn http_url(url: &str) -> Result<Url, ProviderError> {
    match Url::parse(url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(url),
        _ => Err(not_understood("an endpoint is not an http(s) URL".into())),
    }
}

async fn bounded_body(mut response: reqwest::Response) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(not_reached)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(not_understood("answer too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn not_reached(error: reqwest::Error) -> ProviderError {
    // Without the URL: it is ours, but a token endpoint's query could carry anything.
    not_understood(format!("unreachable: {}", error.without_url()))
}

fn not_understood(reason: String) -> ProviderError {
    ProviderError::NotUnderstood(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_error_code_is_repeated() {
        assert_eq!(error_code(br#"{"error":"invalid_grant"}"#), "invalid_grant");
        assert_eq!(error_code(br#"{"error":"<script>"}"#), "unknown");
        assert_eq!(error_code(b"not json"), "unknown");
    }
}
