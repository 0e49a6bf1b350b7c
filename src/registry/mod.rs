//! The event-type registry (Harvester API). When configured, every event type a belt consumes must
//! exist there, and the caller must hold the consumer/editor role the registry names for it.
//! The registry is asked with the caller's own token, so it applies its own access rules too.
//!
//! What the registry is trusted with, and how little: docs/upstream-trust.md. In short, an answer
//! counts only when it positively names the event type and who may consume it; redirects are
//! never followed (the caller's token stays with the configured origin); the calls one request
//! makes, and all requests together, are bounded.

mod answer;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use self::answer::Consumers;
use crate::auth::Claims;
use crate::domain::input::{event_type_name_problem, MAX_EVENT_TYPES};
use crate::domain::Invalid;
use crate::domain::ProjectName;

/// Why the registry check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The event types are refused: unknown, unreadable for the caller, or not theirs to consume.
    #[error(transparent)]
    Refused(#[from] Invalid),
    /// The registry did not answer, or not in a way we understand; the sentence is the client's.
    #[error("{0}")]
    Unavailable(String),
}

fn refused(message: String) -> RegistryError {
    RegistryError::Refused(Invalid::field_message("eventTypes", message))
}

/// Registry calls one create or replace makes at once.
pub const CALLS_PER_REQUEST: usize = 8;
/// Registry calls all requests together make at once; more wait, up to the dependency timeout.
pub const CALLS_OVERALL: usize = 64;
/// The largest answer read; an event type record is a few KB.
const MAX_ANSWER_BYTES: usize = 1 << 20;

pub struct Registry {
    client: reqwest::Client,
    base: Url,
    timeout: Duration,
    calls: Arc<Semaphore>,
}

impl Registry {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let base = Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("invalid registry URL {base_url}: {e}"))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https") && !base.cannot_be_a_base(),
            "registry URL {base_url} must be an http or https URL"
        );
        anyhow::ensure!(
            base.query().is_none() && base.fragment().is_none(),
            "registry URL {base_url} must not have a query or fragment"
        );
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect could carry the caller's token to another origin, and its answer
            // would decide; a 3xx is an answer we do not understand.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Registry {
            client,
            base,
            timeout,
            calls: Arc::new(Semaphore::new(CALLS_OVERALL)),
        })
    }

    /// Checks every event type, [`CALLS_PER_REQUEST`] at a time; the first failure wins. The
    /// whole check takes at most the dependency timeout, then answers 503.
    pub async fn check_event_types(
        &self,
        project: &ProjectName,
        event_types: &[String],
        token: &str,
        caller: &Claims,
    ) -> Result<(), RegistryError> {
        // The belt parser already enforces these; checked again because a URL is built from them.
        if event_types.len() > MAX_EVENT_TYPES {
            return Err(refused(format!(
                "Parameter 'eventTypes' must list at most {MAX_EVENT_TYPES} event types but lists {}.",
                event_types.len()
            )));
        }
        let mut seen = HashSet::new();
        let mut unique = Vec::with_capacity(event_types.len());
        for event_type in event_types {
            if let Some(problem) = event_type_name_problem(event_type) {
                return Err(refused(format!("Parameter 'eventTypes' {problem}.")));
            }
            if seen.insert(event_type.as_str()) {
                unique.push(event_type.as_str());
            }
        }
        let checks = futures::stream::iter(unique.into_iter().map(Ok))
            .try_for_each_concurrent(CALLS_PER_REQUEST, |event_type| {
                self.check_one(project, event_type, token, caller)
            });
        match tokio::time::timeout(self.timeout, checks).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    event_types = event_types.len(),
                    "event-type registry checks did not finish in time"
                );
                Err(did_not_answer())
            }
        }
    }

    /// The registry URL of one event type, each part a percent-encoded path segment.
    fn url_of(&self, project: &ProjectName, event_type: &str) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new: the base URL can be a base")
            .pop_if_empty()
            .extend(["projects", project.as_str(), "event-types", event_type]);
        url
    }

    async fn check_one(
        &self,
        project: &ProjectName,
        event_type: &str,
        token: &str,
        caller: &Claims,
    ) -> Result<(), RegistryError> {
        let answer = self.answer_about(project, event_type, token).await?;
        let consumers = answer::consumers(&answer, event_type)
            .map_err(|reason| Trouble::NotUnderstood(reason).about(event_type))?;
        may_consume(consumers, event_type, caller)
    }

    /// The registry's record of one event type, asked with the caller's token.
    async fn answer_about(
        &self,
        project: &ProjectName,
        event_type: &str,
        token: &str,
    ) -> Result<Value, RegistryError> {
        let url = self.url_of(project, event_type);
        let trouble = |trouble: Trouble| trouble.about(event_type);
        let _permit = self
            .calls
            .acquire()
            .await
            .map_err(|_| trouble(Trouble::Unavailable("registry client closed".into())))?;
        let response = self
            .client
            .get(url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| trouble(Trouble::Unavailable(e.without_url().to_string())))?;
        check_status(response.status(), event_type)?;
        let body = read_bounded(response).await.map_err(trouble)?;
        serde_json::from_slice(&body)
            .map_err(|e| trouble(Trouble::NotUnderstood(format!("not JSON: {e}"))))
    }
}

/// Why a registry call gave no usable answer; either way the request is answered 503.
enum Trouble {
    Unavailable(String),
    NotUnderstood(String),
}

impl Trouble {
    /// Logs the reason and words the 503 for the caller, who learns which event type but not why.
    fn about(self, event_type: &str) -> RegistryError {
        match self {
            Trouble::Unavailable(reason) => {
                tracing::warn!(%event_type, %reason, "event-type registry did not answer");
                RegistryError::Unavailable(format!(
                    "The event-type registry did not answer about '{event_type}' (parameter \
                     'eventTypes'); nothing was changed."
                ))
            }
            Trouble::NotUnderstood(reason) => {
                tracing::warn!(%event_type, %reason, "event-type registry answer not understood");
                RegistryError::Unavailable(format!(
                    "The event-type registry's answer about '{event_type}' (parameter 'eventTypes') \
                     was not understood; nothing was changed."
                ))
            }
        }
    }
}

/// Only a 200 carries an answer: 404 and 401/403 are the caller's problem, anything else the
/// registry's.
fn check_status(status: reqwest::StatusCode, event_type: &str) -> Result<(), RegistryError> {
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(refused(format!("Invalid event type: {event_type}")));
    }
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(refused(format!(
            "Parameter 'eventTypes' holds '{event_type}', which the event-type registry does not let you read."
        )));
    }
    let trouble = if status.is_redirection() {
        Trouble::NotUnderstood(format!("status {status}, a redirect, not followed"))
    } else if status.is_success() && status != reqwest::StatusCode::OK {
        Trouble::NotUnderstood(format!("status {status}"))
    } else if status != reqwest::StatusCode::OK {
        Trouble::Unavailable(format!("status {status}"))
    } else {
        return Ok(());
    };
    Err(trouble.about(event_type))
}

/// The answer's body, refused past [`MAX_ANSWER_BYTES`] without reading the rest.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, Trouble> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Trouble::Unavailable(format!("unreadable answer: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Trouble::NotUnderstood(format!(
                "answer larger than {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the caller may consume the event type, by the roles the registry names for it.
fn may_consume(
    consumers: Consumers,
    event_type: &str,
    caller: &Claims,
) -> Result<(), RegistryError> {
    match consumers {
        Consumers::EveryProjectMember => Ok(()),
        Consumers::RoleHolders(roles) if roles.iter().any(|r| caller.holds_any_role(r)) => Ok(()),
        Consumers::RoleHolders(roles) => Err(refused(format!(
            "Parameter 'eventTypes' holds '{event_type}', which needs one of the roles {} to consume.",
            roles
                .iter()
                .map(|r| format!("'{r}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn did_not_answer() -> RegistryError {
    RegistryError::Unavailable(
        "The event-type registry did not answer in time; nothing was changed.".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_built_from_encoded_segments() {
        let project = ProjectName::parse("p.x~1").unwrap();
        for (base, expected) in [
            ("http://r:1", "http://r:1/projects/p.x~1/event-types/a.b"),
            ("http://r:1/", "http://r:1/projects/p.x~1/event-types/a.b"),
            (
                "http://r:1/api/",
                "http://r:1/api/projects/p.x~1/event-types/a.b",
            ),
            (
                "http://r:1/api",
                "http://r:1/api/projects/p.x~1/event-types/a.b",
            ),
        ] {
            let registry = Registry::new(base, Duration::from_secs(1)).unwrap();
            assert_eq!(registry.url_of(&project, "a.b").as_str(), expected);
        }
        let registry = Registry::new("http://r:1", Duration::from_secs(1)).unwrap();
        assert_eq!(
            registry.url_of(&project, "a/../b?c#d").as_str(),
            "http://r:1/projects/p.x~1/event-types/a%2F..%2Fb%3Fc%23d"
        );
    }

    #[tokio::test]
    async fn when_every_call_slot_is_taken_a_check_waits_then_answers_503() {
        // Nothing listens there: the check must not get as far as calling.
        let registry = Registry::new("http://127.0.0.1:9", Duration::from_millis(300)).unwrap();
        let _all = registry
            .calls
            .clone()
            .acquire_many_owned(CALLS_OVERALL as u32)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let result = registry
            .check_event_types(
                &ProjectName::global(),
                &["a".to_string()],
                "token",
                &Claims::default(),
            )
            .await;
        assert!(
            matches!(result, Err(RegistryError::Unavailable(_))),
            "{result:?}"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[test]
    fn only_plain_http_base_urls() {
        for bad in [
            "ftp://r/",
            "mailto:x@y",
            "http://r/?q=1",
            "http://r/#f",
            "not a url",
        ] {
            assert!(Registry::new(bad, Duration::from_secs(1)).is_err(), "{bad}");
        }
    }
}
