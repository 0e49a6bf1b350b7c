//! The one way a use case changes a stored belt it has to look at first: the decision runs on the
//! belt as it stands under its row lock (see `BeltStore::write_locked`), so concurrent writers
//! queue instead of racing and no use case hand-rolls a compare-and-set loop.

use std::sync::{Arc, Mutex};

use super::BeltError;
use crate::domain::{Belt, BeltId, ProjectName, Refusal};
use crate::store::{BeltStore, Commit, Decide, Decided, LockedOutcome};

/// What a locked write left behind.
#[derive(Debug)]
pub enum Written {
    /// The decision wrote; the belt after the write.
    Changed(Belt),
    /// The decision chose to write nothing; the belt as it stands.
    Unchanged(Belt),
}

impl Written {
    pub fn belt(&self) -> &Belt {
        match self {
            Written::Changed(belt) | Written::Unchanged(belt) => belt,
        }
    }
}

/// Runs `decide` on the belt under its lock and applies the write it chooses. `decide` also
/// answers a value of its own (e.g. the status a START leads to), handed back with the outcome.
/// A dry run makes the write and rolls it back: `Written::Changed` is then what would be stored.
/// `W` is a bare `LockedWrite`, or a [`Decided`] with the event the write records.
pub(super) async fn write_locked<W, T, F>(
    store: &dyn BeltStore,
    project: &ProjectName,
    id: BeltId,
    decide: F,
    commit: Commit,
) -> Result<(Written, T), BeltError>
where
    W: Into<Decided>,
    T: Send + 'static,
    F: FnOnce(&Belt) -> Result<(W, T), Refusal> + Send + 'static,
{
    let answer = Arc::new(Mutex::new(None));
    let boxed: Decide = {
        let answer = answer.clone();
        Box::new(move |belt: &Belt| {
            let (write, value) = decide(belt)?;
            *answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
            Ok(write.into())
        })
    };
    let written = match store.write_locked(project, id, boxed, commit).await? {
        LockedOutcome::Written(belt) => Written::Changed(*belt),
        LockedOutcome::Unchanged(belt) => Written::Unchanged(*belt),
        LockedOutcome::Refused(refusal) => return Err(refusal.into()),
        LockedOutcome::NotFound => return Err(BeltError::NotFound(id)),
    };
    let value = answer.lock().unwrap_or_else(|e| e.into_inner()).take();
    let value = value.ok_or_else(|| anyhow::anyhow!("the locked write ran no decision"))?;
    Ok((written, value))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::belt::now_millis;
    use crate::domain::lifecycle::tests::belt;
    use crate::domain::{DesiredState, Person, Precondition, Wish};
    use crate::store::{LockedWrite, NewBelt, StoreOptions, WishChange};

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

    #[tokio::test]
    async fn a_locked_write_hands_back_its_decision_and_names_every_refusal() {
        let (_dir, store, new) = a_store_and_a_new_belt().await;
        let project = new.project.clone();
        let id = store.create(new, Commit::Yes).await.unwrap().id;

        let seen = |b: &Belt| Ok((LockedWrite::Nothing, b.version));
        let (written, version) = write_locked(store.as_ref(), &project, id, seen, Commit::Yes)
            .await
            .unwrap();
        assert!(matches!(written, Written::Unchanged(_)));
        assert_eq!(version, 1, "the decision's own answer comes back");

        let stale = |b: &Belt| {
            Precondition::OneOf(vec![7]).check(b.id, b.version)?;
            Ok((LockedWrite::Nothing, ()))
        };
        let refused = write_locked(store.as_ref(), &project, id, stale, Commit::Yes).await;
        assert!(matches!(
            refused,
            Err(BeltError::VersionMismatch { current: 1, .. })
        ));

        let missing = BeltId::new(id.get() + 1).unwrap();
        let nothing = |_: &Belt| Ok((LockedWrite::Nothing, ()));
        let absent = write_locked(store.as_ref(), &project, missing, nothing, Commit::Yes).await;
        assert!(matches!(absent, Err(BeltError::NotFound(at)) if at == missing));

        let stop = |_: &Belt| Ok((LockedWrite::Wish(WishChange::Stop), ()));
        let (written, ()) = write_locked(store.as_ref(), &project, id, stop, Commit::Yes)
            .await
            .unwrap();
        assert!(matches!(written, Written::Changed(_)));
        assert_eq!(written.belt().wish.desired, DesiredState::Stopped);
    }

    #[tokio::test]
    async fn a_dry_run_answers_the_write_and_leaves_the_store_as_it_was() {
        let (_dir, store, new) = a_store_and_a_new_belt().await;
        let project = new.project.clone();
        let tried = store.create(new.clone(), Commit::DryRun).await.unwrap();
        assert!(store.get(&project, tried.id).await.unwrap().is_none());
        let kept = store.create(new, Commit::Yes).await.unwrap();
        assert_eq!(kept.id, tried.id, "SQLite rolls the id sequence back too");

        let start = |b: &Belt| {
            let spec = Box::new(b.spec.clone());
            let change = WishChange::Start {
                version: b.version,
                spec,
            };
            Ok((LockedWrite::Wish(change), ()))
        };
        let (written, ()) = write_locked(store.as_ref(), &project, kept.id, start, Commit::DryRun)
            .await
            .unwrap();
        assert!(matches!(written, Written::Changed(_)));
        assert_eq!(written.belt().wish.desired, DesiredState::Running);
        assert_eq!(written.belt().wish.generation, kept.wish.generation + 1);
        let stored = store.get(&project, kept.id).await.unwrap().unwrap();
        assert_eq!(stored.wish.desired, DesiredState::Stopped);
        assert_eq!(stored.wish.generation, kept.wish.generation);
    }
}
