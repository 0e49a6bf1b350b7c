//! The event-type registry (Harvester API). When configured, every event type a belt consumes must
//! exist there, and the caller must hold the consumer/editor role the registry names for it; every
//! output type it writes must exist too, and the caller must hold its editor role (or a producer
//! role the registry names). The registry is asked with the caller's own token, so it applies its
//! own access rules too.
//!
//! What the registry is trusted with, and how little: docs/upstream-trust.md. In short, an answer
//! counts only when it positively names the event type and who may consume (or produce) it;
//! redirects are never followed (the caller's token stays with the configured origin); the calls
//! one request makes, and all requests together, are bounded.

mod answer;
mod asking;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use self::answer::Holders;
use self::asking::{check_status, read_bounded, Trouble};
use crate::auth::Claims;
use crate::domain::input::{event_type_name_problem, MAX_EVENT_TYPES};
use crate::domain::Invalid;
use crate::domain::ProjectName;

/// Why the registry check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The event types are refused: unknown, unreadable for the caller, or not theirs to use.
    #[error(transparent)]
    Refused(#[from] Invalid),
    /// The registry did not answer, or not in a way we understand; the sentence is the client's.
    #[error("{0}")]
    Unavailable(String),
}

/// What a belt does with an event type: which roles the registry's record guards it with, and
/// which field of the document named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// An `eventTypes` entry: the belt reads its input topic.
    Consume,
    /// An `outputTypes` entry: the belt writes its input topic, which other belts read.
    Produce,
}

impl Use {
    pub fn field(self) -> &'static str {
        match self {
            Use::Consume => "eventTypes",
            Use::Produce => "outputTypes",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Use::Consume => "consume",
            Use::Produce => "produce",
        }
    }

    fn holders(self, answer: &Value, name: &str) -> Result<Holders, String> {
        match self {
            Use::Consume => answer::consumers(answer, name),
            Use::Produce => answer::producers(answer, name),
        }
    }

    /// The registry does not know `name`. `eventTypes` keeps the v2 API's own sentence.
    fn unknown(self, name: &str) -> String {
        match self {
            Use::Consume => format!("Invalid event type: {name}"),
            Use::Produce => format!(
                "Parameter 'outputTypes' holds '{name}', which is not an event type of the registry."
            ),
        }
    }
}

fn refused(used: Use, message: String) -> RegistryError {
    RegistryError::Refused(Invalid::field_message(used.field(), message))
}

/// Registry calls one create or replace makes at once.
pub const CALLS_PER_REQUEST: usize = 8;
/// Registry calls all requests together make at once; more wait, up to the dependency timeout.
pub const CALLS_OVERALL: usize = 64;

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

    /// [`Registry::check_belt`] of a belt that writes no output types.
    pub async fn check_event_types(
        &self,
        project: &ProjectName,
        event_types: &[String],
        token: &str,
        caller: &Claims,
    ) -> Result<(), RegistryError> {
        self.check_belt(project, event_types, &[], token, caller)
            .await
    }

    /// Checks every event type a belt consumes and every output type it produces,
    /// [`CALLS_PER_REQUEST`] at a time; the first failure wins. The whole check takes at most the
    /// dependency timeout, then answers 503.
    pub async fn check_belt(
        &self,
        project: &ProjectName,
        event_types: &[String],
        output_types: &[String],
        token: &str,
        caller: &Claims,
    ) -> Result<(), RegistryError> {
        let mut asks = Vec::with_capacity(event_types.len() + output_types.len());
        for (names, used) in [(event_types, Use::Consume), (output_types, Use::Produce)] {
            asks.extend(
                unique_names(names, used)?
                    .into_iter()
                    .map(|name| (name, used)),
            );
        }
        let checks = futures::stream::iter(asks.into_iter().map(Ok))
            .try_for_each_concurrent(CALLS_PER_REQUEST, |(name, used)| {
                self.check_one(project, name, used, token, caller)
            });
        match tokio::time::timeout(self.timeout, checks).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    event_types = event_types.len(),
                    output_types = output_types.len(),
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
        used: Use,
        token: &str,
        caller: &Claims,
    ) -> Result<(), RegistryError> {
        let answer = self.answer_about(project, event_type, used, token).await?;
        let holders = used
            .holders(&answer, event_type)
            .map_err(|reason| Trouble::NotUnderstood(reason).about(event_type, used))?;
        may_use(holders, event_type, used, caller)
    }

    /// The registry's record of one event type, asked with the caller's token.
    async fn answer_about(
        &self,
        project: &ProjectName,
        event_type: &str,
        used: Use,
        token: &str,
    ) -> Result<Value, RegistryError> {
        let url = self.url_of(project, event_type);
        let trouble = |trouble: Trouble| trouble.about(event_type, used);
        let _permit = self
            .calls
            .acquire()
            .await
            .map_err(|_| trouble(Trouble::Unavailable("registry client closed".into())))?;
        let response = self
            .client
            .get(url)
            .headers(crate::trace_context::outgoing())
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| trouble(Trouble::Unavailable(e.without_url().to_string())))?;
        check_status(response.status(), event_type, used)?;
        let body = read_bounded(response).await.map_err(trouble)?;
        serde_json::from_slice(&body)
            .map_err(|e| trouble(Trouble::NotUnderstood(format!("not JSON: {e}"))))
    }
}

/// The names of one field, each once. The belt parser already enforces their number and form;
/// checked again because a URL is built from them.
fn unique_names(names: &[String], used: Use) -> Result<Vec<&str>, RegistryError> {
    let field = used.field();
    if names.len() > MAX_EVENT_TYPES {
        return Err(refused(
            used,
            format!(
                "Parameter '{field}' must list at most {MAX_EVENT_TYPES} event types but lists {}.",
                names.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(names.len());
    for name in names {
        if let Some(problem) = event_type_name_problem(name) {
            return Err(refused(used, format!("Parameter '{field}' {problem}.")));
        }
        if seen.insert(name.as_str()) {
            unique.push(name.as_str());
        }
    }
    Ok(unique)
}

/// Whether the caller may use the event type as `used` says, by the roles the registry names.
fn may_use(
    holders: Holders,
    event_type: &str,
    used: Use,
    caller: &Claims,
) -> Result<(), RegistryError> {
    match holders {
        Holders::EveryProjectMember => Ok(()),
        Holders::RoleHolders(roles) if roles.iter().any(|r| caller.holds_any_role(r)) => Ok(()),
        Holders::RoleHolders(roles) => Err(refused(
            used,
            format!(
                "Parameter '{}' holds '{event_type}', which needs one of the roles {} to {}.",
                used.field(),
                roles
                    .iter()
                    .map(|r| format!("'{r}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                used.verb()
            ),
        )),
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
