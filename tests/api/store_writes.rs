//! The store persists what a domain transition decided, exactly, on both databases: the next belt
//! as read back, its event, the revision of a new version. What each transition decides is tested
//! on the domain alone (`src/domain/transition/tests.rs`); here only that it is kept.

use std::sync::Arc;
use std::time::Duration;

use belt_api::config::BeltDefaultsConfig;
use belt_api::domain::belt::now_millis;
use belt_api::domain::input::parse_spec;
use belt_api::domain::transition::{self, Request, Transition};
use belt_api::domain::{
    Belt, BeltDefaults, BeltId, Commit, DesiredState, EventAction, Person, Precondition,
    ProjectName,
};
use belt_api::store::{
    connect, BeltStore, ListQuery, LockedOutcome, NewBelt, Settlement, StoreOptions,
};

use crate::backend_tests;
use crate::helpers::{fresh_postgres_database, Backend};

backend_tests!(
    each_transition_is_stored_as_decided_with_its_event_and_revision,
    each_settlement_of_a_deletion_is_stored_as_decided_with_its_event
);

async fn store_on(backend: Backend, dir: &tempfile::TempDir) -> Arc<dyn BeltStore> {
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/belts.db", dir.path().display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    connect(&url, options).await.unwrap()
}

/// The server defaults of a default configuration.
fn server_defaults() -> BeltDefaults {
    #[derive(clap::Parser)]
    struct Defaults {
        #[command(flatten)]
        defaults: BeltDefaultsConfig,
    }
    let parsed = <Defaults as clap::Parser>::parse_from(["belt-api"]);
    BeltDefaults::from_config(&parsed.defaults).unwrap()
}

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

/// A belt named `name` to create in the global project, with the server's defaults.
fn new_belt(name: &str) -> NewBelt {
    let body = serde_json::json!({"name": name, "eventTypes": ["a"]});
    let spec = parse_spec(body.as_object().unwrap(), &server_defaults())
        .unwrap()
        .spec;
    NewBelt {
        id: None,
        project: ProjectName::global(),
        spec,
        author: ask().by,
        at: now_millis(),
    }
}

/// Stores what `decide` answers on belt `id` (with `commit`); the transition as stored.
async fn write(
    store: &dyn BeltStore,
    id: BeltId,
    commit: Commit,
    decide: impl FnOnce(&Belt) -> Option<Transition> + Send + 'static,
) -> Transition {
    let decide = Box::new(move |belt: &Belt| Ok(decide(belt)));
    match store
        .write_locked(&ProjectName::global(), id, decide, commit)
        .await
    {
        Ok(LockedOutcome::Written(transition)) => *transition,
        other => panic!("not written: {other:?}"),
    }
}

/// The stored belt is the transition's next belt, and its newest event the transition's.
async fn assert_kept(store: &dyn BeltStore, t: &Transition) {
    let global = ProjectName::global();
    let stored = store.get_any(t.next.id).await.unwrap().unwrap();
    assert_eq!(stored, t.next);
    let newest = store
        .history(&global, t.next.id, 0, 1)
        .await
        .unwrap()
        .events;
    let newest = &newest[0];
    assert_eq!(
        (newest.action, &newest.actor),
        (t.event.action, &t.event.actor)
    );
    assert_eq!(
        (newest.from, newest.to, &newest.reason),
        (t.event.from, t.event.to, &t.event.reason)
    );
    assert_eq!(
        (newest.at, newest.version),
        (t.event.at, Some(t.next.version))
    );
}

async fn each_transition_is_stored_as_decided_with_its_event_and_revision(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_on(backend, &dir).await;
    let new = new_belt("kept");
    let spec = new.spec.clone();
    let created = store.create(new.clone(), Commit::Yes).await.unwrap();
    let id = created.id;
    assert_kept(store.as_ref(), &transition::create(id, &new)).await;

    let started = write(store.as_ref(), id, Commit::Yes, |b| {
        transition::start(b, &ask(), None).ok()
    })
    .await;
    assert_kept(store.as_ref(), &started).await;
    assert_eq!(started.next.wish.generation, 1);

    let mut changed = spec.clone();
    changed.description = "second".into();
    let replaced = write(store.as_ref(), id, Commit::Yes, move |b| {
        transition::replace(b, &ask(), changed, None).unwrap()
    })
    .await;
    assert_kept(store.as_ref(), &replaced).await;
    let rolled = write(store.as_ref(), id, Commit::Yes, move |b| {
        transition::rollback(b, &ask(), spec, 1, None).unwrap()
    })
    .await;
    assert_kept(store.as_ref(), &rolled).await;
    let revisions = store
        .revisions(&ProjectName::global(), id, 0, 10)
        .await
        .unwrap();
    let kept: Vec<_> = revisions
        .items
        .iter()
        .map(|r| (r.version, r.rollback_of))
        .collect();
    assert_eq!(
        kept,
        [(3, Some(1)), (2, None), (1, None)],
        "a revision per version"
    );

    let tried = write(store.as_ref(), id, Commit::DryRun, |b| {
        transition::stop(b, &ask(), None).ok()
    })
    .await;
    assert_eq!(tried.next.wish.desired, DesiredState::Stopped);
    assert_kept(store.as_ref(), &rolled).await;

    let stopped = write(store.as_ref(), id, Commit::Yes, |b| {
        transition::stop(b, &ask(), None).ok()
    })
    .await;
    assert_kept(store.as_ref(), &stopped).await;
    let deleting = write(store.as_ref(), id, Commit::Yes, |b| {
        transition::delete(b, &ask(), None).ok()
    })
    .await;
    assert_kept(store.as_ref(), &deleting).await;
    let global = ProjectName::global();
    assert_eq!(
        store.get(&global, id).await.unwrap(),
        None,
        "gone for every reader"
    );
}

/// What the reconciler settles, on belt `id`; the settlement as stored, `None` when nothing was.
async fn settle(
    store: &dyn BeltStore,
    id: BeltId,
    settle: fn(&Belt, time::OffsetDateTime) -> Option<Settlement>,
) -> Option<Settlement> {
    let settle = Box::new(move |belt: &Belt| settle(belt, now_millis()));
    store.settle_deletion(id, settle).await.unwrap()
}

async fn listed(store: &dyn BeltStore) -> Vec<BeltId> {
    let query = ListQuery {
        limit: 10,
        ..Default::default()
    };
    let page = store.list(&ProjectName::global(), &query).await.unwrap();
    page.belts.iter().map(|b| b.id).collect()
}

async fn each_settlement_of_a_deletion_is_stored_as_decided_with_its_event(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_on(backend, &dir).await;
    let id = store
        .create(new_belt("settled"), Commit::Yes)
        .await
        .unwrap()
        .id;
    let store = store.as_ref();
    let delete = |b: &Belt| transition::delete(b, &ask(), None).ok();
    assert_eq!(
        settle(store, id, transition::deleted).await,
        None,
        "a belt not being deleted is not removed"
    );
    assert_eq!(listed(store).await, [id], "a cached search of the list");

    write(store, id, Commit::Yes, delete).await;
    assert_eq!(listed(store).await, [], "DELETING leaves the list");
    let Some(Settlement::Restore(restored)) = settle(store, id, transition::deletion_refused).await
    else {
        panic!("a refused deletion restores the belt");
    };
    assert_kept(store, &restored).await;
    assert_eq!(restored.next.wish.desired, DesiredState::Stopped);
    assert_eq!(listed(store).await, [id], "a restored belt is listed again");
    assert_eq!(
        settle(store, id, transition::deletion_refused).await,
        None,
        "a restored belt is restored once"
    );

    let deleting = write(store, id, Commit::Yes, delete).await;
    let Some(Settlement::Remove(event)) = settle(store, id, transition::deleted).await else {
        panic!("a deletion done removes the document");
    };
    assert_eq!(store.get_any(id).await.unwrap(), None);
    let global = ProjectName::global();
    let newest = &store.history(&global, id, 0, 1).await.unwrap().events[0];
    assert_eq!(
        (newest.action, newest.at, newest.version),
        (EventAction::Deleted, event.at, Some(deleting.next.version))
    );
    assert_eq!(settle(store, id, transition::deleted).await, None, "gone");
}
