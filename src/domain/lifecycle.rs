//! A belt's lifecycle in the domain's words: what the runtime reports it runs (`Observed`), the
//! status that follows from the stored wish and that observation, and the actions START and STOP
//! (docs/api.md#the-state-machine). Pure: the runtime fills `Observed`, nobody here calls it.

use super::invalid::Invalid;
use super::{Belt, BeltId, BeltStatus, DesiredState, ProjectName};

/// How far a deployed belt has come, as the runtime's in-memory view sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Replicas are starting or not all ready yet.
    Deploying,
    /// Every replica is up.
    Running,
    /// Deployed but not running: crash-looping, image missing, progress deadline exceeded…
    Failed,
}

/// What the runtime runs for one belt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub version: i64,
    pub generation: i64,
    pub phase: Phase,
}

/// The status `GET …/state` and every belt document report.
pub fn status_of(belt: &Belt, observed: Option<Observed>) -> BeltStatus {
    summary_status(&WishSummary::of(belt), observed)
}

/// The same rule from a belt's wish summary alone (the reconciler's resync reads no documents).
/// A belt being deleted counts as STOPPED: it no longer wants to run.
pub fn summary_status(wish: &WishSummary, observed: Option<Observed>) -> BeltStatus {
    if wish.desired != DesiredState::Running {
        return BeltStatus::Stopped;
    }
    let Some(deployed_version) = wish.deployed_version else {
        return BeltStatus::Deploying;
    };
    match observed {
        // Not (yet) what was wished for: the reconciler is on its way.
        None => BeltStatus::Deploying,
        Some(o) if o.generation != wish.generation || o.version != deployed_version => {
            BeltStatus::Deploying
        }
        Some(o) => match o.phase {
            Phase::Deploying => BeltStatus::Deploying,
            Phase::Failed => BeltStatus::Failed,
            Phase::Running if deployed_version < wish.version => BeltStatus::RunningButOutdated,
            Phase::Running => BeltStatus::Running,
        },
    }
}

/// A belt's wish without its spec or document: what the reconciler's resync compares with what
/// runs, so that a resync of many unchanged belts reads no documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WishSummary {
    pub id: BeltId,
    pub project: ProjectName,
    pub version: i64,
    pub desired: DesiredState,
    pub generation: i64,
    /// The version the last START deployed.
    pub deployed_version: Option<i64>,
}

impl WishSummary {
    pub fn of(belt: &Belt) -> Self {
        WishSummary {
            id: belt.id,
            project: belt.project.clone(),
            version: belt.version,
            desired: belt.wish.desired,
            generation: belt.wish.generation,
            deployed_version: belt.wish.deployed.as_ref().map(|d| d.version),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
}

impl Action {
    /// `{"action": "START"|"STOP"}`, any case.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text.trim().eq_ignore_ascii_case("START") {
            Ok(Action::Start)
        } else if text.trim().eq_ignore_ascii_case("STOP") {
            Ok(Action::Stop)
        } else {
            Err(Invalid::field(
                "action",
                format!("must be 'START' or 'STOP' but is '{text}'"),
            ))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "START",
            Action::Stop => "STOP",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::belt::now_millis;
    use crate::domain::{BeltId, Deployed, Person, ProjectName, Wish};

    /// A minimal valid belt at `version` with `wish`.
    pub(crate) fn belt(version: i64, wish: Wish) -> Belt {
        let map = serde_json::json!({"name": "b", "eventTypes": ["a"]});
        let spec = crate::domain::input::parse_spec(
            map.as_object().unwrap(),
            &crate::domain::defaults::for_tests(),
        )
        .unwrap()
        .spec;
        Belt {
            id: BeltId::new(1).unwrap(),
            project: ProjectName::global(),
            version,
            spec,
            created_by: Person::default(),
            created_at: now_millis(),
            modified_by: Person::default(),
            modified_at: now_millis(),
            wish,
        }
    }

    fn running_wish(version: i64, generation: i64) -> Wish {
        let spec = belt(1, Wish::default()).spec;
        Wish {
            desired: DesiredState::Running,
            deployed: Some(Deployed { version, spec }),
            generation,
        }
    }

    fn seen(version: i64, generation: i64, phase: Phase) -> Option<Observed> {
        Some(Observed {
            version,
            generation,
            phase,
        })
    }

    #[test]
    fn status_follows_wish_and_observation() {
        assert_eq!(
            status_of(&belt(1, Wish::default()), None),
            BeltStatus::Stopped
        );
        let b = belt(1, running_wish(1, 1));
        assert_eq!(status_of(&b, None), BeltStatus::Deploying);
        assert_eq!(
            status_of(&b, seen(1, 1, Phase::Deploying)),
            BeltStatus::Deploying
        );
        assert_eq!(
            status_of(&b, seen(1, 1, Phase::Running)),
            BeltStatus::Running
        );
        assert_eq!(status_of(&b, seen(1, 1, Phase::Failed)), BeltStatus::Failed);
        // an older generation still running means the new one is on its way
        assert_eq!(
            status_of(&b, seen(1, 0, Phase::Running)),
            BeltStatus::Deploying
        );
        let edited = belt(2, running_wish(1, 1));
        assert_eq!(
            status_of(&edited, seen(1, 1, Phase::Running)),
            BeltStatus::RunningButOutdated
        );
        // a stopped wish is STOPPED even while the runtime still tears down
        let mut stopping = running_wish(1, 1);
        stopping.desired = DesiredState::Stopped;
        assert_eq!(
            status_of(&belt(1, stopping), seen(1, 1, Phase::Running)),
            BeltStatus::Stopped
        );
    }

    #[test]
    fn actions_parse_in_any_case() {
        assert_eq!(Action::parse("start").unwrap(), Action::Start);
        assert_eq!(Action::parse("Stop").unwrap(), Action::Stop);
        assert!(Action::parse("restart").is_err());
    }
}
