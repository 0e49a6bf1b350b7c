//! The last log lines of every replica (docs/api.md#logs). A stopped belt has none, and the
//! runtime is not asked.

use std::collections::BTreeMap;

use super::{Access, Asked, BeltError, Belts};
use crate::domain::{DesiredState, Invalid};

/// The most lines per replica a caller may ask for, and what it gets without asking.
pub const MAX_LOG_LINES: u32 = 500;

impl Belts {
    /// `lines` is handed in as parsed, refusal included, so the role check answers first.
    /// `None`: the belt is stopped.
    pub async fn logs(
        &self,
        asked: Asked<'_>,
        lines: Result<u32, Invalid>,
    ) -> Result<Option<BTreeMap<String, Vec<String>>>, BeltError> {
        let lines = asked.permit(Access::Write, lines)?;
        let belt = self.load(asked.project, asked.id).await?;
        if belt.wish.desired == DesiredState::Stopped {
            return Ok(None);
        }
        Ok(Some(self.runtime.logs(belt.id, lines).await?))
    }
}
