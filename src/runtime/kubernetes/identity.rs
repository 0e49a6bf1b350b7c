//! Whether a belt's KafkaUser is ready, from its status as Strimzi's User Operator writes it:
//! `conditions` (`Ready` True once the user, its ACLs and its Secret exist; `NotReady` True with
//! the error otherwise), `observedGeneration`, `username` and `secret`. Fails closed: a status
//! this reader does not understand is refused, never taken for ready. Pure.

use kube::core::DynamicObject;
use serde_json::Value;

use crate::domain::state_details::{DeploymentEvent, HeldBack};
use crate::runtime::{Observed, Phase};

/// The reasons `deploymentEvents` shows while the identity holds a belt back.
pub const MISSING: &str = "KafkaUserMissing";
pub const PENDING: &str = "KafkaUserPending";
pub const NOT_READY: &str = "KafkaUserNotReady";
pub const NOT_UNDERSTOOD: &str = "KafkaUserStatusNotUnderstood";

/// Where a belt's Kafka identity stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Ready,
    /// Not there (yet): the belt is re-applied.
    Missing(String),
    /// The User Operator has not finished this generation: the belt is deploying.
    Pending(String),
    /// It failed, or its status is not understood: the belt is failed. `reason` is one of
    /// `NOT_READY`, `NOT_UNDERSTOOD`.
    Refused {
        reason: &'static str,
        message: String,
    },
}

impl Identity {
    /// The condition `deploymentEvents` shows first while the identity is not ready.
    pub fn condition(&self) -> Option<DeploymentEvent> {
        let (reason, message) = match self {
            Identity::Ready => return None,
            Identity::Missing(message) => (MISSING, message),
            Identity::Pending(message) => (PENDING, message),
            Identity::Refused { reason, message } => (*reason, message),
        };
        Some(DeploymentEvent::HeldBack(HeldBack {
            type_: "KafkaUserReady".into(),
            status: "False".into(),
            reason: reason.into(),
            message: message.clone(),
            last_update_time: None,
            last_transition_time: None,
        }))
    }
}

/// What the runtime reports for a Deployment observed as `observed` whose pods use `identity`:
/// never RUNNING before the identity is ready. A missing identity reports version 0, which is
/// never current, so the reconciler applies the belt again (and with it the KafkaUser).
pub fn held_back(observed: Observed, identity: &Identity) -> Observed {
    match identity {
        Identity::Ready => observed,
        Identity::Missing(_) => Observed {
            version: 0,
            generation: 0,
            phase: Phase::Deploying,
        },
        Identity::Pending(_) => Observed {
            phase: Phase::Deploying,
            ..observed
        },
        Identity::Refused { .. } => Observed {
            phase: Phase::Failed,
            ..observed
        },
    }
}

/// `user` is the KafkaUser the Deployment's pods take their credentials from, named `expected`.
pub fn identity_of(user: Option<&DynamicObject>, expected: &str) -> Identity {
    let Some(user) = user.filter(|user| user.metadata.deletion_timestamp.is_none()) else {
        return Identity::Missing(format!("KafkaUser '{expected}' does not exist (yet)"));
    };
    let Some(status) = user.data.get("status").filter(|s| !s.is_null()) else {
        return Identity::Pending(format!(
            "KafkaUser '{expected}' has no status yet: is Strimzi's User Operator running for its cluster?"
        ));
    };
    match read(status) {
        Ok(status) => judge(&status, user.metadata.generation, expected),
        Err(what) => Identity::Refused {
            reason: NOT_UNDERSTOOD,
            message: format!(
                "KafkaUser '{expected}' has a status belt-api does not understand ({what}), so it is not taken for ready"
            ),
        },
    }
}

struct Status {
    observed_generation: Option<i64>,
    conditions: Vec<Condition>,
    username: Option<String>,
    secret: Option<String>,
}

struct Condition {
    type_: String,
    status: String,
    message: Option<String>,
}

fn read(status: &Value) -> Result<Status, String> {
    let status = status.as_object().ok_or("status is not an object")?;
    let text = |key: &str| match status.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("status.{key} is not a string")),
    };
    let observed_generation = match status.get("observedGeneration") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            value
                .as_i64()
                .filter(|g| *g >= 0)
                .ok_or("status.observedGeneration is not a generation")?,
        ),
    };
    let conditions = match status.get("conditions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(condition).collect::<Result<_, _>>()?,
        Some(_) => return Err("status.conditions is not a list".into()),
    };
    Ok(Status {
        observed_generation,
        conditions,
        username: text("username")?,
        secret: text("secret")?,
    })
}

fn condition(value: &Value) -> Result<Condition, String> {
    let field = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    let type_ = field("type").ok_or("a condition has no type")?;
    let status = field("status")
        .filter(|s| matches!(s.as_str(), "True" | "False" | "Unknown"))
        .ok_or_else(|| format!("condition {type_} has no status True, False or Unknown"))?;
    match value.get("message") {
        None | Some(Value::Null | Value::String(_)) => {}
        Some(_) => return Err(format!("condition {type_} has a message that is no text")),
    }
    Ok(Condition {
        type_,
        status,
        message: field("message"),
    })
}

fn judge(status: &Status, generation: Option<i64>, expected: &str) -> Identity {
    let refused = |message: String| Identity::Refused {
        reason: NOT_UNDERSTOOD,
        message: format!("KafkaUser '{expected}': {message}, so it is not taken for ready"),
    };
    match (status.observed_generation, generation) {
        (Some(observed), Some(generation)) if observed > generation => {
            return refused(format!(
                "its status is of generation {observed}, newer than the object's {generation}"
            ))
        }
        (Some(observed), Some(generation)) if observed == generation => {}
        (None, None) => {}
        _ => {
            return Identity::Pending(format!(
                "the User Operator has not reconciled the latest spec of KafkaUser '{expected}' yet"
            ))
        }
    }
    let state = |type_: &str| -> Result<Option<&Condition>, String> {
        let found: Vec<&Condition> = status
            .conditions
            .iter()
            .filter(|c| c.type_ == type_)
            .collect();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            _ => Err(format!("it has {} {type_} conditions", found.len())),
        }
    };
    let (ready, not_ready) = match (state("Ready"), state("NotReady")) {
        (Ok(ready), Ok(not_ready)) => (ready, not_ready),
        (Err(what), _) | (_, Err(what)) => return refused(what),
    };
    let is_true = |c: Option<&Condition>| c.is_some_and(|c| c.status == "True");
    match (is_true(ready), is_true(not_ready)) {
        (true, true) => refused("it says both Ready and NotReady".into()),
        (false, true) => Identity::Refused {
            reason: NOT_READY,
            message: format!(
                "KafkaUser '{expected}' is not ready: {}",
                not_ready
                    .and_then(|c| c.message.clone())
                    .unwrap_or_else(|| "the User Operator gave no message".into())
            ),
        },
        (true, false) => names_its_credentials(status, expected).map_or(Identity::Ready, refused),
        (false, false) => Identity::Pending(format!(
            "KafkaUser '{expected}' is not ready yet{}",
            ready
                .and_then(|c| c.message.as_deref())
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )),
    }
}

/// A ready user must be the principal and Secret the pods use; anything else is a mismatch that
/// would leave the pods with credentials that do not work, or with someone else's.
fn names_its_credentials(status: &Status, expected: &str) -> Option<String> {
    for (key, value) in [("username", &status.username), ("secret", &status.secret)] {
        if value.as_deref() != Some(expected) {
            return Some(format!(
                "its status.{key} is {}, not '{expected}'",
                value
                    .as_deref()
                    .map_or("missing".to_string(), |v| format!("'{v}'"))
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(generation: i64, status: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
            "metadata": {"name": "u", "generation": generation},
            "status": status
        }))
        .unwrap()
    }

    fn ready() -> Value {
        json!({"observedGeneration": 2, "username": "u", "secret": "u",
               "conditions": [{"type": "Ready", "status": "True"}]})
    }

    #[test]
    fn ready_only_for_the_current_generation_and_its_own_credentials() {
        assert_eq!(identity_of(Some(&user(2, ready())), "u"), Identity::Ready);
        assert!(matches!(
            identity_of(Some(&user(3, ready())), "u"),
            Identity::Pending(_)
        ));
        let mut other = ready();
        other["secret"] = json!("someone-else");
        assert!(matches!(
            identity_of(Some(&user(2, other)), "u"),
            Identity::Refused {
                reason: NOT_UNDERSTOOD,
                ..
            }
        ));
        assert!(matches!(identity_of(None, "u"), Identity::Missing(_)));
    }

    #[test]
    fn an_operator_error_fails_with_its_message() {
        let status = json!({"observedGeneration": 2, "conditions": [{"type": "NotReady",
            "status": "True", "reason": "InvalidResourceException", "message": "bad acl"}]});
        match identity_of(Some(&user(2, status)), "u") {
            Identity::Refused { reason, message } => {
                assert_eq!(reason, NOT_READY);
                assert!(message.contains("bad acl"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
