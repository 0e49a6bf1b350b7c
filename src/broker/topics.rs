//! Creating the topics a belt names, through the Kafka admin API (CreateTopics).

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;

use super::auth::ClientAuth;
use super::{BrokerError, TopicAdmin};

/// How long one CreateTopics round trip may take; the reconciler retries a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The admin client of one Kafka: `partitions` per created topic, and the replication factor
/// `replication` (1 on the embedded broker; `None` leaves it to the cluster's default).
#[derive(Debug, Clone)]
pub struct KafkaTopics {
    bootstrap: String,
    partitions: i32,
    replication: Option<i32>,
    auth: ClientAuth,
}

impl KafkaTopics {
    pub fn new(bootstrap: &str, partitions: u32, replication: Option<i32>) -> KafkaTopics {
        KafkaTopics {
            bootstrap: bootstrap.to_string(),
            partitions: i32::try_from(partitions.max(1)).unwrap_or(i32::MAX),
            replication,
            auth: ClientAuth::default(),
        }
    }

    /// Connects as belt-api's own Kafka identity.
    pub fn with_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    fn client(&self) -> Result<AdminClient<DefaultClientContext>, BrokerError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("client.id", "belt-api-admin");
        self.auth.apply(&mut config);
        config
            .create()
            .map_err(|err| BrokerError::Admin(format!("creating the admin client: {err}")))
    }
}

#[async_trait]
impl TopicAdmin for KafkaTopics {
    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BrokerError> {
        if topics.is_empty() {
            return Ok(());
        }
        let admin = self.client()?;
        // -1: the broker's default replication factor (KIP-464).
        let replication = self.replication.unwrap_or(-1);
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|name| NewTopic::new(name, self.partitions, TopicReplication::Fixed(replication)))
            .collect();
        let options = AdminOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .operation_timeout(Some(REQUEST_TIMEOUT));
        let answers = admin
            .create_topics(&new, &options)
            .await
            .map_err(|err| BrokerError::Admin(format!("CreateTopics: {err}")))?;
        check_answers(topics, &answers)?;
        tracing::debug!(?topics, "topics exist");
        Ok(())
    }
}

/// Fails closed: every asked topic must be answered, as created or as existing already.
fn check_answers(
    asked: &[String],
    answers: &[Result<String, (String, RDKafkaErrorCode)>],
) -> Result<(), BrokerError> {
    let mut confirmed = Vec::with_capacity(asked.len());
    for answer in answers {
        match answer {
            Ok(name) => confirmed.push(name.as_str()),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => confirmed.push(name.as_str()),
            Err((name, code)) => {
                return Err(BrokerError::Admin(format!("creating topic {name}: {code}")))
            }
        }
    }
    match asked
        .iter()
        .find(|name| !confirmed.contains(&name.as_str()))
    {
        Some(missing) => Err(BrokerError::Admin(format!(
            "CreateTopics answered without topic {missing}"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked() -> Vec<String> {
        vec!["a".to_string(), "b".to_string()]
    }

    #[test]
    fn created_and_existing_topics_are_both_fine() {
        let answers = [
            Ok("a".to_string()),
            Err(("b".to_string(), RDKafkaErrorCode::TopicAlreadyExists)),
        ];
        check_answers(&asked(), &answers).unwrap();
    }

    #[test]
    fn another_error_or_a_missing_answer_fails() {
        let refused = [
            Ok("a".to_string()),
            Err(("b".to_string(), RDKafkaErrorCode::InvalidTopic)),
        ];
        let err = check_answers(&asked(), &refused).unwrap_err().to_string();
        assert!(err.contains("creating topic b"), "{err}");
        let partial = [Ok("a".to_string())];
        let err = check_answers(&asked(), &partial).unwrap_err().to_string();
        assert!(err.contains("without topic b"), "{err}");
    }
}
