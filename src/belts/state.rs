//! A belt's status and, whenever it is deployed, why (docs/api.md#state); what its replicas
//! printed only for editors.

use super::{Access, Asked, BeltError, Belts};
use crate::domain::BeltStatus;
use crate::runtime::StateDetails;

#[derive(Debug)]
pub struct StateReport {
    pub status: BeltStatus,
    /// `None` when nothing is deployed.
    pub details: Option<StateDetails>,
    /// Records waiting in the input topics; `None` without a data plane or an answer from it.
    pub total_lag: Option<i64>,
}

impl Belts {
    pub async fn state(&self, asked: Asked<'_>) -> Result<StateReport, BeltError> {
        asked.caller.require(asked.project, Access::Read)?;
        let belt = self.load(asked.project, asked.id).await?;
        let status = self.status_of(&belt);
        let (details, total_lag) =
            tokio::join!(self.runtime.details(belt.id), self.total_lag_of(&belt));
        let sight = asked.caller.output_sight(asked.project);
        let details = details?.map(|details| details.seen(sight));
        Ok(StateReport {
            status,
            details,
            total_lag,
        })
    }
}
