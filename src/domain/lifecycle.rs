//! A belt's lifecycle in the domain's words: what the runtime reports it runs (`Observed`), the
//! status that follows from the stored wish and that observation, and the actions START and STOP
//! (docs/api.md#the-state-machine). Pure: the runtime fills `Observed`, nobody here calls it.

use super::invalid::Invalid;
use super::{Belt, BeltStatus, DesiredState};

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
    let wish = &belt.wish;
    if wish.desired == DesiredState::Stopped {
        return BeltStatus::Stopped;
    }
    let Some(deployed) = &wish.deployed else {
        return BeltStatus::Deploying;
    };
    match observed {
        // Not (yet) what was wished for: the reconciler is on its way.
        None => BeltStatus::Deploying,
        Some(o) if o.generation != wish.generation || o.version != deployed.version => {
            BeltStatus::Deploying
        }
        Some(o) => match o.phase {
            Phase::Deploying => BeltStatus::Deploying,
            Phase::Failed => BeltStatus::Failed,
            Phase::Running if deployed.version < belt.version => BeltStatus::RunningButOutdated,
            Phase::Running => BeltStatus::Running,
        },
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
