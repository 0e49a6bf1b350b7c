//! The one way a use case changes a stored belt it has to look at first: the domain's transition
//! (`crate::domain::transition`) is decided on the belt as it stands under its row lock (see
//! `BeltStore::write_locked`), so concurrent writers queue instead of racing and no use case
//! hand-rolls a compare-and-set loop.

use super::BeltError;
use crate::domain::transition::Transition;
use crate::domain::{Belt, BeltId, ProjectName, Refusal};
use crate::store::{BeltStore, Commit, LockedOutcome};

/// What a locked write left behind.
#[derive(Debug)]
pub enum Written {
    /// The transition as stored: the belt after the write, and its event.
    Changed(Box<Transition>),
    /// The decision chose to write nothing; the belt as it stands.
    Unchanged(Box<Belt>),
}

/// Decides the transition on the belt under its lock and stores it. A dry run makes the write and
/// rolls it back: `Written::Changed` is then what would be stored.
pub(super) async fn write_locked<F>(
    store: &dyn BeltStore,
    project: &ProjectName,
    id: BeltId,
    decide: F,
    commit: Commit,
) -> Result<Written, BeltError>
where
    F: FnOnce(&Belt) -> Result<Option<Transition>, Refusal> + Send + 'static,
{
    match store
        .write_locked(project, id, Box::new(decide), commit)
        .await?
    {
        LockedOutcome::Written(transition) => Ok(Written::Changed(transition)),
        LockedOutcome::Unchanged(belt) => Ok(Written::Unchanged(belt)),
        LockedOutcome::Refused(refusal) => Err(refusal.into()),
        LockedOutcome::NotFound => Err(BeltError::NotFound(id)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::domain::belt::now_millis;
    use crate::domain::lifecycle::tests::belt;
    use crate::domain::transition::{self, NewBelt, Request};
    use crate::domain::{DesiredState, EventAction, Person, Precondition, Wish};
    use crate::store::StoreOptions;

    /// A fresh SQLite store, and a belt ready to be created in the global project.
    async fn a_store_and_a_new_belt() -> (tempfile::TempDir, Arc<dyn BeltStore>, NewBelt) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/belts.db", dir.path().display());
        let options = StoreOptions {
            max_connections: 2,
            timeout: Duration::from_secs(5),
            revision_retention: 50,
        };
        let store = crate::store::connect(&url, options).await.unwrap();
        let new = NewBelt {
            id: None,
            project: ProjectName::global(),
            spec: belt(1, Wish::default()).spec,
            author: Person::default(),
            at: now_millis(),
        };
        (dir, store, new)
    }

    fn asked(expect: Precondition) -> Request {
        Request {
            expect,
            by: Person::default(),
            at: now_millis(),
        }
    }

    #[tokio::test]
    async fn a_locked_write_stores_the_transition_and_names_every_refusal() {
        let (_dir, store, new) = a_store_and_a_new_belt().await;
        let project = new.project.clone();
        let id = store.create(new, Commit::Yes).await.unwrap().id;

        let nothing = |_: &Belt| Ok(None);
        let written = write_locked(store.as_ref(), &project, id, nothing, Commit::Yes).await;
        assert!(matches!(written, Ok(Written::Unchanged(b)) if b.version == 1));

        let stale = |b: &Belt| transition::start(b, &asked(Precondition::OneOf(vec![7])), None);
        let stale = move |b: &Belt| stale(b).map(Some);
        let refused = write_locked(store.as_ref(), &project, id, stale, Commit::Yes).await;
        assert!(matches!(
            refused,
            Err(BeltError::VersionMismatch { current: 1, .. })
        ));

        let missing = BeltId::new(id.get() + 1).unwrap();
        let absent = write_locked(store.as_ref(), &project, missing, nothing, Commit::Yes).await;
        assert!(matches!(absent, Err(BeltError::NotFound(at)) if at == missing));

        let start = |b: &Belt| transition::start(b, &asked(Precondition::Any), None).map(Some);
        let Written::Changed(started) =
            write_locked(store.as_ref(), &project, id, start, Commit::Yes)
                .await
                .unwrap()
        else {
            panic!("START wrote nothing");
        };
        let stored = store.get(&project, id).await.unwrap().unwrap();
        assert_eq!(
            stored, started.next,
            "the store keeps the transition's belt"
        );
        let history = store.history(&project, id, 0, 10).await.unwrap();
        let newest = &history.events[0];
        assert_eq!(
            (newest.action, newest.version),
            (EventAction::Started, Some(1))
        );
        assert_eq!(
            (newest.from, newest.to),
            (started.event.from, started.event.to)
        );
    }

    #[tokio::test]
    async fn a_dry_run_answers_the_write_and_leaves_the_store_as_it_was() {
        let (_dir, store, new) = a_store_and_a_new_belt().await;
        let project = new.project.clone();
        let tried = store.create(new.clone(), Commit::DryRun).await.unwrap();
        assert!(store.get(&project, tried.id).await.unwrap().is_none());
        let kept = store.create(new, Commit::Yes).await.unwrap();
        assert_eq!(kept.id, tried.id, "SQLite rolls the id sequence back too");

        let start = |b: &Belt| transition::start(b, &asked(Precondition::Any), None).map(Some);
        let written = write_locked(store.as_ref(), &project, kept.id, start, Commit::DryRun)
            .await
            .unwrap();
        assert!(
            matches!(written, Written::Changed(t) if t.next.wish.desired == DesiredState::Running)
        );
        let stored = store.get(&project, kept.id).await.unwrap().unwrap();
        assert_eq!(stored, kept, "a dry run stores nothing");
        let history = store.history(&project, kept.id, 0, 10).await.unwrap();
        assert_eq!(history.total, 1, "only the create's event");
    }
}
