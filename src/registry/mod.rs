//! The event-type registry (Harvester API). When configured, every event type a belt consumes must
//! exist there, and the caller must hold the consumer/editor role the registry names for it.
//! The registry is asked with the caller's own token, so it applies its own access rules too.

use std::time::Duration;

use futures::future::try_join_all;
use serde_json::Value;

use crate::auth::Claims;
use crate::domain::ProjectName;
use crate::error::ApiError;

pub struct Registry {
    client: reqwest::Client,
    base: String,
}

impl Registry {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Registry {
            client,
            base: base_url.trim_end_matches('/').to_string(),
        })
    }

    /// Checks every event type concurrently; the first failure wins.
    pub async fn check_event_types(
        &self,
        project: &ProjectName,
        event_types: &[String],
        token: &str,
        caller: &Claims,
    ) -> Result<(), ApiError> {
        try_join_all(
            event_types
                .iter()
                .map(|event_type| self.check_one(project, event_type, token, caller)),
        )
        .await?;
        Ok(())
    }

    async fn check_one(
        &self,
        project: &ProjectName,
        event_type: &str,
        token: &str,
        caller: &Claims,
    ) -> Result<(), ApiError> {
        // Event type names are restricted to URL-safe characters by the belt parser.
        let url = format!(
            "{}/projects/{}/event-types/{}",
            self.base, project, event_type
        );
        let unavailable = |reason: String| {
            tracing::warn!(%event_type, %reason, "event-type registry did not answer");
            ApiError::Unavailable(
                "The event-type registry did not answer in time; nothing was changed.".into(),
            )
        };
        let response = self
            .client
            .get(&url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(ApiError::BadParameter(format!(
                "Invalid event type: {event_type}"
            )));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ApiError::BadParameter(format!(
                "Parameter 'eventTypes' holds '{event_type}', which the event-type registry does not let you read."
            )));
        }
        if !status.is_success() {
            return Err(unavailable(format!("status {status}")));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| unavailable(format!("unreadable answer: {}", e.without_url())))?;
        let needed = required_roles(&body);
        if !needed.is_empty() && !needed.iter().any(|role| caller.holds_any_role(role)) {
            return Err(ApiError::BadParameter(format!(
                "Parameter 'eventTypes' holds '{event_type}', which needs one of the roles {} to consume.",
                needed
                    .iter()
                    .map(|r| format!("'{r}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
}

/// The consumer/editor roles an event type names, wherever the registry puts them: top level or
/// under `roles`, each a string or a list of strings.
fn required_roles(event_type: &Value) -> Vec<String> {
    let mut roles = Vec::new();
    for holder in [Some(event_type), event_type.get("roles")]
        .into_iter()
        .flatten()
    {
        for key in ["consumer", "editor"] {
            match holder.get(key) {
                Some(Value::String(role)) if !role.is_empty() => roles.push(role.clone()),
                Some(Value::Array(items)) => roles.extend(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .filter(|r| !r.is_empty())
                        .map(str::to_string),
                ),
                _ => {}
            }
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use super::required_roles;
    use serde_json::json;

    #[test]
    fn roles_are_found_in_either_shape() {
        assert_eq!(
            required_roles(&json!({"name": "a", "consumer": "a_consumer", "editor": "a_editor"})),
            vec!["a_consumer", "a_editor"]
        );
        assert_eq!(
            required_roles(&json!({"roles": {"consumer": ["x", "y"]}})),
            vec!["x", "y"]
        );
        assert!(required_roles(&json!({"name": "open"})).is_empty());
    }
}
