//! A belt's status and, whenever it is deployed, why (docs/api.md#state).

use super::{Access, Asked, BeltError, Belts};
use crate::domain::BeltStatus;
use crate::runtime::StateDetails;

#[derive(Debug)]
pub struct StateReport {
    pub status: BeltStatus,
    /// `None` when nothing is deployed.
    pub details: Option<StateDetails>,
}

impl Belts {
    pub async fn state(&self, asked: Asked<'_>) -> Result<StateReport, BeltError> {
        asked.caller.require(asked.project, Access::Read)?;
        let belt = self.load(asked.project, asked.id).await?;
        let status = self.status_of(&belt);
        let details = self.runtime.details(belt.id).await?;
        Ok(StateReport { status, details })
    }
}
