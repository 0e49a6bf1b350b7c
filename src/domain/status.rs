//! The runtime status of a belt, as the v2 document names it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BeltStatus {
    Running,
    Failed,
    RunningButOutdated,
    Deploying,
    Stopped,
}

impl BeltStatus {
    pub const ALL: [BeltStatus; 5] = [
        BeltStatus::Running,
        BeltStatus::Failed,
        BeltStatus::RunningButOutdated,
        BeltStatus::Deploying,
        BeltStatus::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BeltStatus::Running => "RUNNING",
            BeltStatus::Failed => "FAILED",
            BeltStatus::RunningButOutdated => "RUNNING_BUT_OUTDATED",
            BeltStatus::Deploying => "DEPLOYING",
            BeltStatus::Stopped => "STOPPED",
        }
    }
}

impl fmt::Display for BeltStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BeltStatus {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BeltStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}
