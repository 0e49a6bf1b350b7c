//! The runtime status of a belt, as the v2 document names it.

use std::fmt;
use std::str::FromStr;

use belt_query::status;
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
            BeltStatus::Running => status::RUNNING,
            BeltStatus::Failed => status::FAILED,
            BeltStatus::RunningButOutdated => status::RUNNING_BUT_OUTDATED,
            BeltStatus::Deploying => status::DEPLOYING,
            BeltStatus::Stopped => status::STOPPED,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// serde (and so the OpenAPI schema) spells a status from its variant's name; the API's
    /// name is `belt_query::status`'s. They must be the same word.
    #[test]
    fn serde_spells_each_status_as_its_declared_name() {
        for status in BeltStatus::ALL {
            let spelled = serde_json::to_value(status).unwrap();
            assert_eq!(spelled, status.as_str());
            assert_eq!(status.as_str().parse::<BeltStatus>(), Ok(status));
        }
        let names: Vec<&str> = BeltStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, status::ALL);
    }
}
