//! What START and STOP change in each status (docs/api.md#start-and-stop). The status itself
//! follows from the domain (`domain::lifecycle::status_of`); the change is what the store keeps.

use crate::domain::{Action, Belt, BeltStatus, Invalid};
use crate::store::WishChange;

/// The change an action makes in a status, and the status it answers with; or the 400 of the
/// START/STOP table (docs/api.md#start-and-stop).
pub fn transition(
    belt: &Belt,
    current: BeltStatus,
    action: Action,
) -> Result<(WishChange, BeltStatus), Invalid> {
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
        (status, action) => Err(Invalid::field(
            "state",
            format!(
                "cannot be '{}' while Belt status is '{status}'",
                action.as_str()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::tests::belt;
    use crate::domain::Wish;

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
}
