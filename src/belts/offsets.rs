//! A belt's consumer-group offsets and lag (docs/api.md#offsets), after Kafka Connect's offsets
//! API: anyone who may read the belt sees them; an editor may move or delete them, but only while
//! the belt is STOPPED, so that no replica is reading while they change.

use std::sync::Arc;
use std::time::Duration;

use super::{Access, Asked, BeltError, Belts};
use crate::broker::{GroupOffsets, OffsetsError};
use crate::domain::offsets::{
    input_topics, read_topics, total_lag, LagGauge, OffsetsWrite, PartitionPosition,
};
use crate::domain::{Belt, BeltStatus, Invalid};

/// How long `GET …/state` waits for the lag before answering without it.
const LAG_IN_STATE_WITHIN: Duration = Duration::from_secs(1);

/// What the offsets need: the broker, and the gauge every measurement refreshes.
pub struct OffsetsBackend {
    pub offsets: Arc<dyn GroupOffsets>,
    pub metrics: Arc<dyn LagGauge>,
}

/// Where the belt's consumer group stands in every partition of its input topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetsReport {
    pub positions: Vec<PartitionPosition>,
    pub total_lag: i64,
}

impl From<OffsetsError> for BeltError {
    fn from(err: OffsetsError) -> Self {
        match err {
            OffsetsError::Unavailable(reason) => {
                BeltError::Unavailable(super::Dependency::Broker(reason))
            }
            OffsetsError::GroupActive(group) => BeltError::GroupBusy(format!(
                "The belt's consumer group '{group}' still has active members (a replica is \
                 still leaving); try again in a few seconds."
            )),
        }
    }
}

impl Belts {
    /// Gives the use cases a data plane; without one, the offsets answer that there is none.
    pub fn with_offsets(mut self, plane: OffsetsBackend) -> Self {
        self.data_plane = Some(plane);
        self
    }

    pub async fn offsets(&self, asked: Asked<'_>) -> Result<OffsetsReport, BeltError> {
        asked.caller.require(asked.project, Access::Read)?;
        let belt = self.load(asked.project, asked.id).await?;
        self.measure(self.plane()?, &belt).await
    }

    /// `PUT …/offsets`: the body and the refusal of a dry run (the broker's commit cannot be
    /// tried without being made) are handed in as read, so the role check answers first.
    pub async fn write_offsets(
        &self,
        asked: Asked<'_>,
        no_dry_run: Result<(), Invalid>,
        body: &[u8],
    ) -> Result<OffsetsReport, BeltError> {
        let parsed = no_dry_run.and_then(|()| OffsetsWrite::parse(body));
        let write = asked.permit(Access::Write, parsed)?;
        let belt = self.load(asked.project, asked.id).await?;
        let plane = self.plane()?;
        self.require_stopped(&belt)?;
        let topics = input_topics(&belt.spec);
        let group = belt.kafka_consumer_group_name();
        let positions = plane.offsets.positions(&group, &topics).await?;
        let offsets = write.offsets_to_commit(&topics, &positions)?;
        if !offsets.is_empty() {
            plane.offsets.commit(&group, &offsets).await?;
        }
        tracing::info!(belt = %belt.id, partitions = offsets.len(), "offsets committed");
        self.measure(plane, &belt).await
    }

    /// `DELETE …/offsets`: the consumer group goes, so the next START reads every partition from
    /// its oldest record kept. A dry run is refused: the broker cannot try a group's deletion.
    pub async fn delete_offsets(
        &self,
        asked: Asked<'_>,
        no_dry_run: Result<(), Invalid>,
    ) -> Result<OffsetsReport, BeltError> {
        asked.permit(Access::Write, no_dry_run)?;
        let belt = self.load(asked.project, asked.id).await?;
        let plane = self.plane()?;
        self.require_stopped(&belt)?;
        plane
            .offsets
            .forget(&belt.kafka_consumer_group_name())
            .await?;
        tracing::info!(belt = %belt.id, "consumer group deleted");
        self.measure(plane, &belt).await
    }

    /// The total lag for `GET …/state`: `None` without a data plane, or when the broker does not
    /// answer within [`LAG_IN_STATE_WITHIN`] (the state itself does not wait for the broker).
    pub(super) async fn total_lag_of(&self, belt: &Belt) -> Option<i64> {
        let plane = self.data_plane.as_ref()?;
        match tokio::time::timeout(LAG_IN_STATE_WITHIN, self.measure(plane, belt)).await {
            Ok(Ok(report)) => Some(report.total_lag),
            Ok(Err(err)) => {
                tracing::warn!(belt = %belt.id, error = %err, "lag not measured");
                None
            }
            Err(_) => {
                tracing::warn!(belt = %belt.id, "lag not measured in time for the state");
                None
            }
        }
    }

    fn plane(&self) -> Result<&OffsetsBackend, BeltError> {
        self.data_plane.as_ref().ok_or(BeltError::NoDataPlane)
    }

    fn require_stopped(&self, belt: &Belt) -> Result<(), BeltError> {
        match self.status_of(belt) {
            BeltStatus::Stopped => Ok(()),
            status => Err(BeltError::Invalid(Invalid::field(
                "state",
                format!("must be 'STOPPED' to change the offsets but is '{status}'"),
            ))),
        }
    }

    async fn measure(
        &self,
        plane: &OffsetsBackend,
        belt: &Belt,
    ) -> Result<OffsetsReport, BeltError> {
        let topics = read_topics(belt);
        let group = belt.kafka_consumer_group_name();
        let positions = plane.offsets.positions(&group, &topics).await?;
        let total_lag = total_lag(&positions);
        // The gauge covers belts that run; the lag controller removes the others' series.
        if self.status_of(belt) != BeltStatus::Stopped {
            (plane.metrics).set_consumer_lag(belt.id, belt.project.as_str(), total_lag);
        }
        Ok(OffsetsReport {
            positions,
            total_lag,
        })
    }
}
