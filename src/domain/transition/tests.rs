//! The transition tables on the domain alone: no store, no runtime (its observation is a value).

use super::*;
use crate::domain::belt::now_millis;
use crate::domain::event::SERVICE_ACTOR;
use crate::domain::lifecycle::status_of;
use crate::domain::lifecycle::tests::belt;
use crate::domain::{
    Action, BeltId, BeltStatus, Deployed, DesiredState, EventAction, EventDraft, Observed, Phase,
    ProjectName, Refusal, Wish,
};

fn ask() -> Request {
    Request {
        expect: Precondition::Any,
        by: Person {
            name: "ada".into(),
            email: "ada@example.com".into(),
        },
        at: now_millis(),
    }
}

/// A belt at version 3 in `status`, with what the runtime would report for it. Deployed belts
/// were started twice (generation 2).
fn in_status(status: BeltStatus) -> (Belt, Option<Observed>) {
    let deployed = |version: i64| Wish {
        desired: DesiredState::Running,
        deployed: Some(Deployed {
            version,
            spec: belt(version, Wish::default()).spec,
        }),
        generation: 2,
    };
    let seen = |version: i64, phase: Phase| {
        Some(Observed {
            version,
            generation: 2,
            phase,
        })
    };
    let (b, observed) = match status {
        BeltStatus::Stopped => (belt(3, Wish::default()), None),
        BeltStatus::Deploying => (belt(3, deployed(3)), None),
        BeltStatus::Running => (belt(3, deployed(3)), seen(3, Phase::Running)),
        BeltStatus::RunningButOutdated => (belt(3, deployed(2)), seen(2, Phase::Running)),
        BeltStatus::Failed => (belt(3, deployed(3)), seen(3, Phase::Failed)),
    };
    assert_eq!(
        status_of(&b, observed),
        status,
        "the fixture is in {status}"
    );
    (b, observed)
}

#[test]
fn the_start_stop_table_over_every_status() {
    use BeltStatus::*;
    let table = [
        (Stopped, Action::Start, Some(Deploying)),
        (Stopped, Action::Stop, None),
        (Deploying, Action::Start, None),
        (Deploying, Action::Stop, Some(Stopped)),
        (Running, Action::Start, None),
        (Running, Action::Stop, Some(Stopped)),
        (RunningButOutdated, Action::Start, Some(Deploying)),
        (RunningButOutdated, Action::Stop, Some(Stopped)),
        (Failed, Action::Start, Some(Deploying)),
        (Failed, Action::Stop, Some(Stopped)),
    ];
    assert_eq!(
        table.len(),
        BeltStatus::ALL.len() * 2,
        "every status × action"
    );
    for (from, action, to) in table {
        let (current, observed) = in_status(from);
        let answer = change_state(&current, &ask(), action, observed);
        match to {
            Some(to) => {
                let t = answer.unwrap_or_else(|e| panic!("{from} × {action:?}: {e}"));
                assert_eq!((t.event.from, t.event.to), (Some(from), Some(to)));
                assert_eq!(status_after(from, action), Ok(to));
            }
            None => {
                let refused = answer.unwrap_err().to_string();
                let message = format!(
                    "Parameter 'state' cannot be '{}' while Belt status is '{from}'.",
                    action.as_str()
                );
                assert_eq!(refused, message, "{from} × {action:?}");
            }
        }
    }
}

#[test]
fn start_deploys_the_current_version_as_a_new_generation() {
    for from in [
        BeltStatus::Stopped,
        BeltStatus::RunningButOutdated,
        BeltStatus::Failed,
    ] {
        let (current, observed) = in_status(from);
        let t = start(&current, &ask(), observed).unwrap();
        assert_eq!(t.next.wish.desired, DesiredState::Running);
        assert_eq!(t.next.wish.generation, current.wish.generation + 1);
        let deployed = t.next.wish.deployed.as_ref().unwrap();
        assert_eq!((deployed.version, &deployed.spec), (3, &current.spec));
        assert_eq!(t.next.version, current.version, "a START is no new version");
        assert_eq!(t.event.action, EventAction::Started);
        assert_eq!(t.event.actor, "ada");
        let unchanged = Belt {
            wish: current.wish.clone(),
            ..t.next.clone()
        };
        assert_eq!(unchanged, current, "only the wish changes");
    }
}

#[test]
fn stop_and_delete_keep_the_version_the_generation_and_what_was_deployed() {
    let (current, observed) = in_status(BeltStatus::Running);
    let stopped = stop(&current, &ask(), observed).unwrap();
    let deleted = delete(&current, &ask(), observed).unwrap();
    for (t, desired) in [
        (&stopped, DesiredState::Stopped),
        (&deleted, DesiredState::Deleting),
    ] {
        assert_eq!(t.next.wish.desired, desired);
        assert_eq!(t.next.version, current.version);
        assert_eq!(t.next.wish.generation, current.wish.generation);
        assert_eq!(t.next.wish.deployed, current.wish.deployed);
        assert_eq!(
            t.next.modified_at, current.modified_at,
            "the content is as it was"
        );
    }
    assert_eq!(stopped.event.action, EventAction::Stopped);
    assert_eq!(
        (deleted.event.action, deleted.event.from, deleted.event.to),
        (
            EventAction::DeleteRequested,
            Some(BeltStatus::Running),
            None
        )
    );
    for status in BeltStatus::ALL {
        let (current, observed) = in_status(status);
        assert!(
            delete(&current, &ask(), observed).is_ok(),
            "{status} may be deleted"
        );
    }
}

#[test]
fn a_replace_is_the_next_version_and_leaves_the_wish() {
    let (current, observed) = in_status(BeltStatus::Running);
    let mut spec = current.spec.clone();
    spec.description = "changed".into();
    let t = replace(&current, &ask(), spec.clone(), observed)
        .unwrap()
        .unwrap();
    assert_eq!(t.next.version, 4);
    assert_eq!(t.next.spec, spec);
    assert_eq!(t.next.wish, current.wish, "what runs is untouched");
    assert_eq!(
        (t.next.modified_by.name.as_str(), t.next.modified_at),
        ("ada", t.event.at)
    );
    assert_eq!(t.next.created_at, current.created_at);
    assert_eq!(
        (t.event.action, t.event.from, t.event.to),
        (
            EventAction::Replaced,
            Some(BeltStatus::Running),
            Some(BeltStatus::RunningButOutdated)
        )
    );
    assert_eq!((t.restores, t.event.reason), (None, None));
    let same = replace(&current, &ask(), current.spec.clone(), observed).unwrap();
    assert_eq!(same, None, "the same content writes nothing");
}

#[test]
fn a_rollback_is_a_replace_that_names_the_version_it_restores() {
    let (current, observed) = in_status(BeltStatus::Stopped);
    let mut spec = current.spec.clone();
    spec.replicas = 2;
    let t = rollback(&current, &ask(), spec, 1, observed)
        .unwrap()
        .unwrap();
    assert_eq!((t.next.version, t.restores), (4, Some(1)));
    assert_eq!(t.event.action, EventAction::Replaced);
    assert_eq!(t.event.reason.as_deref(), Some("rollback to version 1"));
    let same = rollback(&current, &ask(), current.spec.clone(), 1, observed).unwrap();
    assert_eq!(same, None);
}

#[test]
fn every_write_to_a_belt_checks_the_versions_it_may_apply_to() {
    let (current, observed) = in_status(BeltStatus::Stopped);
    let stale = Request {
        expect: Precondition::OneOf(vec![2]),
        ..ask()
    };
    let mismatch = Refusal::VersionMismatch {
        id: current.id,
        current: 3,
    };
    let spec = current.spec.clone();
    let refusals = [
        replace(&current, &stale, spec.clone(), observed).unwrap_err(),
        rollback(&current, &stale, spec, 1, observed).unwrap_err(),
        start(&current, &stale, observed).unwrap_err(),
        delete(&current, &stale, observed).unwrap_err(),
        // The precondition answers before the table: a STOP of a stopped belt at another
        // version is a 412, not a 400.
        stop(&current, &stale, observed).unwrap_err(),
    ];
    for refusal in refusals {
        assert_eq!(refusal, mismatch);
    }
    let current_version = Request {
        expect: Precondition::OneOf(vec![3]),
        ..ask()
    };
    assert!(start(&current, &current_version, observed).is_ok());
}

#[test]
fn a_created_belt_is_version_1_never_started_and_stopped() {
    let template = belt(1, Wish::default());
    let new = NewBelt {
        id: None,
        project: ProjectName::global(),
        spec: template.spec.clone(),
        author: ask().by,
        at: now_millis(),
    };
    let id = BeltId::new(42).unwrap();
    let t = create(id, &new);
    assert_eq!((t.next.id, t.next.version), (id, 1));
    assert_eq!(t.next.wish, Wish::default());
    assert_eq!(t.next.wish.generation, 0, "the first START is generation 1");
    assert_eq!(
        (&t.next.created_by, t.next.created_at),
        (&new.author, new.at)
    );
    assert_eq!(
        (&t.next.modified_by, t.next.modified_at),
        (&new.author, new.at)
    );
    assert_eq!(
        (t.event.action, t.event.from, t.event.to),
        (EventAction::Created, None, Some(BeltStatus::Stopped))
    );
}

#[test]
fn the_reconciler_settles_only_a_belt_being_deleted() {
    let at = now_millis();
    for status in BeltStatus::ALL {
        let (current, observed) = in_status(status);
        assert_eq!(deleted(&current, at), None, "{status}: not being deleted");
        assert_eq!(deletion_refused(&current, at), None, "{status}");
        let deleting = delete(&current, &ask(), observed).unwrap().next;
        let removed = deleted(&deleting, at);
        let event = EventDraft::observed(EventAction::Deleted, at);
        assert_eq!(removed, Some(Settlement::Remove(event)), "{status}");
        assert!(
            matches!(
                deletion_refused(&deleting, at),
                Some(Settlement::Restore(_))
            ),
            "{status}: a refusal restores it"
        );
    }
}

#[test]
fn a_refused_deletion_restores_the_belt_stopped_as_it_was() {
    let (current, observed) = in_status(BeltStatus::Running);
    let deleting = delete(&current, &ask(), observed).unwrap().next;
    let at = now_millis();
    let Some(Settlement::Restore(t)) = deletion_refused(&deleting, at) else {
        panic!("a deleting belt is restored");
    };
    let stopped = Belt {
        wish: Wish {
            desired: DesiredState::Stopped,
            ..current.wish.clone()
        },
        ..current.clone()
    };
    assert_eq!(
        t.next, stopped,
        "version, generation, what was deployed and the content stay"
    );
    assert_eq!(t.restores, None);
    let e = &t.event;
    assert_eq!(
        (e.action, e.actor.as_str(), e.at),
        (EventAction::StatusChanged, SERVICE_ACTOR, at)
    );
    let stopped_status = Some(BeltStatus::Stopped);
    assert_eq!((e.from, e.to), (stopped_status, stopped_status));
    assert!(e
        .reason
        .as_deref()
        .unwrap()
        .contains("refused the deletion"));
    let restarted = start(&t.next, &ask(), None).unwrap();
    assert_eq!(
        restarted.next.wish.generation,
        current.wish.generation + 1,
        "a START after it redeploys as a new generation"
    );
}
