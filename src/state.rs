//! A belt's status, from its stored wish and the runtime's in-memory view, and what START and STOP
//! may do in each status (docs/api.md#the-state-machine).

use crate::domain::{Belt, BeltStatus, DesiredState};
use crate::error::ApiError;
use crate::runtime::{Observed, Phase};
use crate::store::{WishChange, WishSummary};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
}

impl Action {
    /// `{"action": "START"|"STOP"}`, any case.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        if text.trim().eq_ignore_ascii_case("START") {
            Ok(Action::Start)
        } else if text.trim().eq_ignore_ascii_case("STOP") {
            Ok(Action::Stop)
        } else {
            Err(ApiError::BadParameter(format!(
                "Parameter 'action' must be 'START' or 'STOP' but is '{text}'."
            )))
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Start => "START",
            Action::Stop => "STOP",
        }
    }
}

/// The change an action makes in a status, and the status it answers with; or the 400 of the
/// START/STOP table (docs/api.md#start-and-stop).
pub fn transition(
    belt: &Belt,
    current: BeltStatus,
    action: Action,
) -> Result<(WishChange, BeltStatus), ApiError> {
    use BeltStatus::*;
    match (current, action) {
        // START deploys the belt's current version; on an outdated or failed belt that is a redeploy.
        (Stopped | RunningButOutdated | Failed, Action::Start) => Ok((
            WishChange::Start {
                version: belt.version,
                spec: Box::new(belt.spec.clone()),
            },
            Deploying,
        )),
        (Deploying | Running | RunningButOutdated | Failed, Action::Stop) => {
            Ok((WishChange::Stop, Stopped))
        }
        (status, action) => Err(ApiError::BadParameter(format!(
            "Parameter 'state' cannot be '{}' while Belt status is '{status}'.",
            action.as_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::belt::now_millis;
    use crate::domain::{BeltId, Deployed, Person, ProjectName, Wish};

    fn belt(version: i64, wish: Wish) -> Belt {
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
    fn the_transition_table() {
        use BeltStatus::*;
        let b = belt(3, Wish::default());
        let allowed = [
            (Stopped, Action::Start, Deploying),
            (RunningButOutdated, Action::Start, Deploying),
            (Failed, Action::Start, Deploying),
            (Deploying, Action::Stop, Stopped),
            (Running, Action::Stop, Stopped),
            (RunningButOutdated, Action::Stop, Stopped),
            (Failed, Action::Stop, Stopped),
        ];
        for (from, action, to) in allowed {
            let (change, answer) = transition(&b, from, action).unwrap();
            assert_eq!(answer, to);
            if let WishChange::Start { version, .. } = change {
                assert_eq!(version, 3, "START deploys the current version");
            }
        }
        for (from, action) in [
            (Stopped, Action::Stop),
            (Deploying, Action::Start),
            (Running, Action::Start),
        ] {
            let message = transition(&b, from, action).unwrap_err().to_string();
            assert_eq!(
                message,
                format!(
                    "Parameter 'state' cannot be '{}' while Belt status is '{from}'.",
                    action.as_str()
                )
            );
        }
    }

    #[test]
    fn actions_parse_in_any_case() {
        assert_eq!(Action::parse("start").unwrap(), Action::Start);
        assert_eq!(Action::parse("Stop").unwrap(), Action::Stop);
        assert!(Action::parse("restart").is_err());
    }
}
