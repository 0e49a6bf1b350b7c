//! The data plane the configuration asks for: an existing Kafka (`BELT_KAFKA_BOOTSTRAP`), the
//! embedded broker (the default), or none (docs/api.md#the-data-plane).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::broker::auth::ClientAuth;
use crate::broker::embedded::{EmbeddedBroker, EmbeddedConfig, Health};
use crate::broker::topics::KafkaTopics;
use crate::broker::TopicAdmin;
use crate::config::{KafkaBroker, RuntimeKind, ServeConfig};

/// How long the embedded broker may take to answer its first request.
const BROKER_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Between SIGTERM and SIGKILL when belt-api stops the embedded broker.
const BROKER_STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct DataPlane {
    /// What replicas receive as `KAFKA_BOOTSTRAP_SERVERS`.
    pub bootstrap: Option<String>,
    /// Creates a belt's topics on START, when configured.
    pub topics: Option<Arc<dyn TopicAdmin>>,
    /// belt-api's own identity on that Kafka, for every admin call it makes.
    pub auth: ClientAuth,
    embedded: Option<EmbeddedBroker>,
}

impl DataPlane {
    /// Starts the embedded broker when the configuration asks for it. The Kubernetes runtime
    /// needs an existing Kafka: a broker inside belt-api's pod would be a single point of loss.
    pub async fn start(config: &ServeConfig) -> anyhow::Result<DataPlane> {
        let kafka = &config.kafka;
        let auth = kafka
            .client_auth()
            .context("belt-api's own Kafka identity")?;
        tracing::info!(
            principal = auth.username().unwrap_or("none (no SASL)"),
            "belt-api's own Kafka identity, used for its admin calls only"
        );
        let external = kafka
            .kafka_bootstrap
            .as_deref()
            .map(str::trim)
            .filter(|servers| !servers.is_empty());
        if let Some(bootstrap) = external {
            tracing::info!(%bootstrap, "using an existing Kafka; no broker embedded");
            return Ok(DataPlane::external(
                config,
                bootstrap.to_string(),
                None,
                auth,
            ));
        }
        match (kafka.kafka_broker, config.runtime) {
            (KafkaBroker::None, _) => {
                tracing::info!(
                    "no data plane (BELT_KAFKA_BROKER=none): replicas get no Kafka address"
                );
                Ok(DataPlane::default())
            }
            (KafkaBroker::Embedded, RuntimeKind::Kubernetes) => anyhow::bail!(
                "the Kubernetes runtime needs an existing Kafka: set BELT_KAFKA_BOOTSTRAP to its \
                 bootstrap servers (belts in the cluster cannot use a broker embedded in \
                 belt-api), or BELT_KAFKA_BROKER=none to run without a data plane"
            ),
            (KafkaBroker::Embedded, RuntimeKind::Local) => Self::embedded(config, auth).await,
        }
    }

    async fn embedded(config: &ServeConfig, auth: ClientAuth) -> anyhow::Result<DataPlane> {
        let broker = EmbeddedBroker::start(EmbeddedConfig {
            program: config.kafka.kafka_broker_command.clone(),
            listen: config.kafka.kafka_listen,
            dir: config.data_dir.join("broker"),
            ready_timeout: BROKER_READY_TIMEOUT,
            stop_grace: BROKER_STOP_GRACE,
        })
        .await
        .context("starting the embedded Kafka broker")?;
        let bootstrap = broker.bootstrap().to_string();
        Ok(DataPlane::external(config, bootstrap, Some(1), auth).with_embedded(broker))
    }

    fn external(
        config: &ServeConfig,
        bootstrap: String,
        replication: Option<i32>,
        auth: ClientAuth,
    ) -> DataPlane {
        let topics = config.kafka.kafka_create_topics.then(|| {
            let partitions = config.kafka.kafka_topic_partitions;
            let admin =
                KafkaTopics::new(&bootstrap, partitions, replication).with_auth(auth.clone());
            Arc::new(admin) as Arc<dyn TopicAdmin>
        });
        DataPlane {
            bootstrap: Some(bootstrap),
            topics,
            auth,
            embedded: None,
        }
    }

    fn with_embedded(mut self, broker: EmbeddedBroker) -> DataPlane {
        self.embedded = Some(broker);
        self
    }

    /// The embedded broker's health, when there is one.
    pub fn health(&self) -> Option<Health> {
        self.embedded.as_ref().map(EmbeddedBroker::health)
    }

    /// Stops the embedded broker, if any.
    pub async fn stop(self) {
        if let Some(broker) = self.embedded {
            broker.stop().await;
        }
    }
}
