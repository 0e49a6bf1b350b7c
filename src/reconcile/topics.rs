//! The topics a belt reads and writes, created right before it is deployed when the reconciler
//! has a topic admin (`BELT_KAFKA_CREATE_TOPICS` with a data plane): its input topics, its
//! destination or output-type topics and its dead-letter topic. A failure is the belt's
//! reconcile failure, retried by the error policy.

use std::sync::Arc;

use super::{ReconcileError, Reconciler};
use crate::broker::TopicAdmin;
use crate::domain::kafka_access::KafkaAccess;
use crate::domain::{Belt, BeltSpec};

/// Every topic the replicas of `belt` running `spec` name, without repeats.
pub fn belt_topics(belt: &Belt, spec: &BeltSpec) -> Vec<String> {
    KafkaAccess::of(belt, spec).topics()
}

impl Reconciler {
    /// Creates missing topics of the belts deployed from now on (`None`: never).
    pub fn with_topic_admin(mut self, admin: Option<Arc<dyn TopicAdmin>>) -> Self {
        self.topics = admin;
        self
    }

    /// Creates the missing topics of `belt` under the controller's call deadline.
    pub(super) async fn ensure_topics(
        &self,
        belt: &Belt,
        spec: &BeltSpec,
    ) -> Result<(), ReconcileError> {
        let Some(admin) = &self.topics else {
            return Ok(());
        };
        let topics = belt_topics(belt, spec);
        let limit = self.settings.call_timeout;
        match tokio::time::timeout(limit, admin.ensure_topics(&topics)).await {
            Ok(created) => Ok(created?),
            Err(_) => Err(ReconcileError::Timeout(limit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::tests::belt;
    use crate::domain::{OutputType, Wish};

    #[test]
    fn inputs_destination_and_dead_letter_topics_once_each() {
        let belt = belt(1, Wish::default());
        let mut spec = belt.spec.clone();
        spec.event_types = vec!["orders".into(), "clicks".into(), "orders".into()];
        spec.kafka_destination_topic = Some("profile-update".into());
        assert_eq!(
            belt_topics(&belt, &spec),
            [
                "grnry_data_in_orders",
                "grnry_data_in_clicks",
                "profile-update",
                "grnry_belt_dlq_1"
            ]
        );
    }

    #[test]
    fn output_types_replace_the_destination_topic() {
        let belt = belt(1, Wish::default());
        let mut spec = belt.spec.clone();
        spec.output_types = Some(vec![OutputType {
            name: "scores".into(),
            version: "1".into(),
        }]);
        spec.kafka_destination_topic = None;
        assert_eq!(
            belt_topics(&belt, &spec),
            [
                "grnry_data_in_a",
                "grnry_data_in_scores",
                "grnry_belt_dlq_1"
            ]
        );
    }
}
