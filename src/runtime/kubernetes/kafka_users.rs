//! The runtime's calls about the belts' KafkaUsers: where a belt's identity stands (from the
//! view), and removing it.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{DeleteParams, ListParams};
use kube::core::DynamicObject;
use kube::{Api, ResourceExt};

use super::errors::{is_not_found, runtime_error, within};
use super::identity::{identity_of, Identity};
use super::render::{LABEL_ID, MANAGED_SELECTOR};
use super::{kafka_user, KubernetesRuntime};
use crate::domain::BeltId;
use crate::runtime::RuntimeError;

impl KubernetesRuntime {
    pub(super) fn kafka_users(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &kafka_user::api_resource(),
        )
    }

    /// Deletes every KafkaUser of the belt by label, so that one the view has not seen yet goes
    /// too; none, or no KafkaUser resource in the cluster, is what was wanted.
    pub(super) async fn remove_kafka_users(&self, id: BeltId) -> Result<(), RuntimeError> {
        if self.identities.strimzi().is_none() {
            return Ok(());
        }
        let selector = format!("{}={id},{MANAGED_SELECTOR}", LABEL_ID);
        let params = ListParams::default().labels(&selector);
        let (api, delete) = (self.kafka_users(), DeleteParams::default());
        let deleted = api.delete_collection(&delete, &params);
        match within(self.call_timeout, deleted).await {
            Ok(_) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(runtime_error(err)),
        }
    }

    /// Where the Kafka identity of the Deployment's pods stands; always ready without identities.
    pub(super) fn identity(&self, deployment: &Deployment) -> Identity {
        if self.identities.strimzi().is_none() {
            return Identity::Ready;
        }
        match deployment
            .annotations()
            .get(kafka_user::ANNOTATION_KAFKA_USER)
        {
            Some(name) => identity_of(self.view.kafka_user(name).as_deref(), name),
            None => Identity::Missing(
                "the Deployment runs without a Kafka identity; it is applied again with one".into(),
            ),
        }
    }
}
