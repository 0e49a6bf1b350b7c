//! A DELETE whose waiter lagged behind the reconciler's outcomes (more deletions ended than the
//! channel holds while it waited) still answers how its own belt's deletion ended, from the
//! store, instead of waiting out `delete_wait` and answering 503 for a deletion that succeeded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use belt_api::domain::BeltId;
use belt_api::metrics::Metrics;
use belt_api::reconcile::{Deletion, Reconciler, Settings};
use belt_api::store::StoreOptions;
use reqwest::StatusCode;
use tokio::sync::broadcast;

use super::fakes::FakeRuntime;
use super::{app_on, id_of};
use crate::helpers::*;

crate::backend_tests!(a_waiter_that_lagged_hears_its_belts_outcome_from_the_store);

type Outcomes = broadcast::Sender<(BeltId, Deletion)>;

/// A channel that holds one outcome, fed this belt's and then another's: the waiter lags, and
/// this belt's outcome is gone from it. The sender is kept open by the caller, as the
/// reconciler's is: a closed channel would end the wait by itself.
fn lagged(id: BeltId) -> (Outcomes, broadcast::Receiver<(BeltId, Deletion)>) {
    let (sender, receiver) = broadcast::channel(1);
    sender.send((id, Deletion::Done)).unwrap();
    let other = BeltId::new(id.get() + 1000).unwrap();
    sender.send((other, Deletion::Done)).unwrap();
    (sender, receiver)
}

async fn a_waiter_that_lagged_hears_its_belts_outcome_from_the_store(backend: Backend) {
    let fake = Arc::new(FakeRuntime::default());
    let app = app_on(&fake, backend, &[]).await;
    let token = app.editor();
    let gone = id_of(&app.create_belt("global", &minimal_belt("gone")).await);
    let path = format!("/projects/global/belts/{gone}");
    assert_eq!(app.delete(&path, &token).await.status(), StatusCode::OK);
    let kept = id_of(&app.create_belt("global", &minimal_belt("kept")).await);

    let options = StoreOptions {
        max_connections: 2,
        timeout: Duration::from_secs(10),
        revision_retention: 50,
    };
    let store = belt_api::store::connect(&app.database_url, options)
        .await
        .unwrap();
    let settings = Settings {
        delete_wait: Duration::from_secs(5),
        ..Settings::default()
    };
    let metrics = Arc::new(Metrics::default());
    let announced = store.event_announcements();
    let reconciler = Reconciler::with_settings(store, fake.clone(), metrics, settings);

    // The deleted belt: done, at once rather than after `delete_wait`.
    let started = Instant::now();
    let (_open, outcomes) = lagged(gone);
    let outcome = reconciler
        .await_deletion(outcomes, announced.clone(), gone)
        .await;
    assert_eq!(outcome, Some(Deletion::Done));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // A belt that is there and not DELETING: its deletion was refused and put back.
    let (_open, outcomes) = lagged(kept);
    let outcome = reconciler.await_deletion(outcomes, announced, kept).await;
    assert!(matches!(outcome, Some(Deletion::Refused(_))), "{outcome:?}");
}
