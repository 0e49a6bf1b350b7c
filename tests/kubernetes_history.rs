//! The history of a belt on Kubernetes (docs/api.md#history), end to end: the runtime's reflectors
//! watch the tests' fake API server (`belt_test_support::fake_kube`, scripted), the status-events controller turns what they see into
//! `statusChanged` events in a real SQLite store, and the reason comes from the pods' state and
//! Events as the fake API answers them. Fixtures in `tests/fixtures/kubernetes/history/`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use belt_api::config::BeltDefaultsConfig;
use belt_api::domain::belt::now_millis;
use belt_api::domain::input::{parse_body, parse_spec};
use belt_api::domain::transition;
use belt_api::domain::BeltStatus::{Deploying, Failed, Running, Stopped};
use belt_api::domain::{
    Belt, BeltDefaults, BeltEvent, BeltId, BeltSpec, BeltStatus, Commit, EventAction, Person,
    Precondition, ProjectName,
};
use belt_api::reconcile::StatusEvents;
use belt_api::runtime::kubernetes::KubernetesRuntime;
use belt_api::runtime::Runtime;
use belt_api::store::{BeltStore, LockedOutcome, NewBelt, StoreOptions};
use belt_test_support::fake_kube::{self, list, reply_json, FakeKube};
use clap::Parser;
use http::Method;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::time::timeout;

const NAMESPACE: &str = "belts";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/belts/deployments";
const PODS: &str = "/api/v1/namespaces/belts/pods";
const EVENTS: &str = "/api/v1/namespaces/belts/events";
/// The replica of `history/running.json`, and the one that replaces it in `unschedulable.json`.
const POD: &str = "grnry-belt-161-54f5c68c89-8xf9v";
const PENDING_POD: &str = "grnry-belt-161-54f5c68c89-q2w7z";
/// How long a test waits for something it expects: far more than it takes, so never flaky.
const DEADLINE: Duration = Duration::from_secs(5);

fn id() -> BeltId {
    BeltId::new(161).unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The fake API server: answers the reflectors' first lists, holds their watches open until a
/// test pushes events into one, and answers the Events lists that `details` makes.
struct FakeApi {
    /// Holds the watches too (`watches`), as an API server holds them.
    kube: FakeKube,
    /// The first list of each path; a second list would mean the watch broke.
    lists: Vec<(&'static str, Value)>,
    /// The pod whose Events list is answered with these Events; every other pod has none.
    events: Option<(&'static str, Value)>,
    /// Events lists answered so far: each is one `details` call reaching the API.
    events_calls: usize,
}

impl FakeApi {
    /// Answers the next call: a watch is held, a list or an Events list answered; anything else
    /// is a bug.
    async fn serve_one(&mut self) {
        let (call, reply) = self.kube.next_request().await.expect("client went away");
        let uri = format!("{}?{:?}", call.path, call.query);
        assert_eq!(call.method, Method::GET, "unexpected call: {uri}");
        let param = |key: &str| call.query.get(key).cloned();
        if call.is_watch() {
            return self.kube.watches.push((call.path, reply));
        }
        if let Some(index) = self.lists.iter().position(|(path, _)| *path == call.path) {
            return reply_json(reply, 200, &self.lists.remove(index).1);
        }
        assert_eq!(call.path, EVENTS, "unexpected call: {uri}");
        self.events_calls += 1;
        let selector = param("fieldSelector").unwrap_or_default();
        let answer = match &self.events {
            Some((pod, events)) if selector == pod_selector(pod) => events.clone(),
            _ if selector.starts_with(&pod_selector("")) => list("EventList", &[]),
            _ => panic!("Events listed with an unexpected selector: {selector}"),
        };
        reply_json(reply, 200, &answer);
    }

    async fn serve_forever(&mut self) -> Infallible {
        loop {
            self.serve_one().await;
        }
    }

    /// Sends watch events (`("MODIFIED", object)`) on the held watch of `path`; the watch ends
    /// after them and the reflector watches again, which `serve_one` holds in turn.
    async fn push(&mut self, path: &str, events: &[(&str, &Value)]) {
        let held = async {
            while !self.kube.watches.iter().any(|(p, _)| p == path) {
                self.serve_one().await;
            }
        };
        let watch = timeout(DEADLINE, held).await;
        watch.unwrap_or_else(|_| panic!("no watch of {path} to push to"));
        self.kube.push(path, events);
    }
}

fn pod_selector(pod: &str) -> String {
    format!("involvedObject.kind=Pod,involvedObject.name={pod}")
}

/// A belt on Kubernetes with its store, its runtime (reflectors listed) and its controller.
struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn BeltStore>,
    runtime: Arc<KubernetesRuntime>,
    fake: FakeApi,
    controller: Arc<StatusEvents>,
}

impl Setup {
    /// Belt 161 created and started through the store (`created`, then `started` STOPPED →
    /// DEPLOYING), and its Deployment seen rolled out: the controller records DEPLOYING → RUNNING.
    async fn running() -> Setup {
        let (dir, store) = sqlite_store().await;
        let belt = create_and_start(store.as_ref()).await;
        // The fixtures carry the annotations of the first START of version 1.
        assert_eq!((belt.version, belt.wish.generation), (1, 1));
        let (runtime, fake) = recovered_runtime().await;
        let as_runtime: Arc<dyn Runtime> = runtime.clone();
        let hour = Duration::from_secs(3600);
        let controller = StatusEvents::new(
            store.clone(),
            as_runtime,
            DEADLINE,
            belt_api::domain::EventRetention::new(1000, 100),
            hour,
        );
        let controller = Arc::new(controller);
        // Running needs no reason, so this step makes no API call.
        assert!(controller.step(id()).await.unwrap().is_some());
        let setup = Setup {
            _dir: dir,
            store,
            runtime,
            fake,
            controller,
        };
        let expected = [
            (EventAction::Created, None, Some(Stopped)),
            (EventAction::Started, Some(Stopped), Some(Deploying)),
            (EventAction::StatusChanged, Some(Deploying), Some(Running)),
        ];
        assert_eq!(summary(&setup.history().await), expected);
        setup
    }

    /// The belt's events, oldest first.
    async fn history(&self) -> Vec<BeltEvent> {
        let global = ProjectName::global();
        let mut events = self
            .store
            .history(&global, id(), 0, 250)
            .await
            .unwrap()
            .events;
        events.reverse();
        events
    }

    /// Serves the API until the belt has `count` events (recorded by a controller in another
    /// task, so polled); its events, oldest first.
    async fn until_recorded(&mut self, count: usize, what: &str) -> Vec<BeltEvent> {
        let store = self.store.clone();
        serving(&mut self.fake, history_of(store.as_ref(), count), what).await;
        self.history().await
    }
}

/// A fresh SQLite store (migrated as the service opens it) in a temporary directory.
async fn sqlite_store() -> (tempfile::TempDir, Arc<dyn BeltStore>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/belts.db", dir.path().display());
    let options = StoreOptions {
        max_connections: 2,
        timeout: DEADLINE,
        revision_retention: 50,
    };
    (dir, belt_api::store::connect(&url, options).await.unwrap())
}

/// A runtime whose reflectors have listed `history/running.json` and watch on; its fake API.
async fn recovered_runtime() -> (Arc<KubernetesRuntime>, FakeApi) {
    let (client, kube) = fake_kube::pair(NAMESPACE);
    let runtime = KubernetesRuntime::with_client(client, NAMESPACE)
        .with_call_timeout(Duration::from_secs(1))
        .with_ready_timeout(DEADLINE);
    let running = fixture("kubernetes/history/running.json");
    let deployments = [running["deployment"].clone()];
    let lists = vec![
        (DEPLOYMENTS, list("DeploymentList", &deployments)),
        (PODS, list("PodList", running["pods"].as_array().unwrap())),
    ];
    let mut fake = FakeApi {
        kube,
        lists,
        events: None,
        events_calls: 0,
    };
    let recovered = serving(&mut fake, runtime.recover(), "the first lists").await;
    recovered.unwrap();
    (Arc::new(runtime), fake)
}

/// Runs `work` while the fake API answers every call, for at most the deadline.
async fn serving<T>(fake: &mut FakeApi, work: impl Future<Output = T>, what: &str) -> T {
    let served = async {
        tokio::select! {
            done = work => done,
            never = fake.serve_forever() => match never {},
        }
    };
    let done = timeout(DEADLINE, served).await;
    done.unwrap_or_else(|_| panic!("{what} did not happen in time"))
}

/// Waits until the belt has `count` events; polled, as a controller in another task records them.
async fn history_of(store: &dyn BeltStore, count: usize) {
    let global = ProjectName::global();
    while store.history(&global, id(), 0, 250).await.unwrap().total < count as u64 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the runtime has told `changes` of `count` watch events of the belt: the
/// reflectors have stored what the watches sent.
async fn told(changes: &mut broadcast::Receiver<BeltId>, count: usize) {
    for _ in 0..count {
        assert_eq!(changes.recv().await.unwrap(), id());
    }
}

async fn create_and_start(store: &dyn BeltStore) -> Belt {
    let author = Person::default();
    let new = NewBelt {
        id: Some(id()),
        project: ProjectName::global(),
        spec: v2_example_spec(),
        author: author.clone(),
        at: now_millis(),
    };
    store.create(new, Commit::Yes).await.unwrap();
    // As `POST …/state {"action": "START"}` stores it: the wish and its event, under the lock.
    let ask = transition::Request {
        expect: Precondition::Any,
        by: author,
        at: now_millis(),
    };
    let start = move |belt: &Belt| transition::start(belt, &ask, None).map(Some);
    let global = ProjectName::global();
    match store
        .write_locked(&global, id(), Box::new(start), Commit::Yes)
        .await
    {
        Ok(LockedOutcome::Written(started)) => started.next,
        other => panic!("START not stored: {other:?}"),
    }
}

/// The v2 document's example belt, with the server defaults of a default configuration.
fn v2_example_spec() -> BeltSpec {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        defaults: BeltDefaultsConfig,
    }
    let defaults = BeltDefaults::from_config(&Defaults::parse_from(["belt-api"]).defaults);
    let body = serde_json::to_vec(&fixture("v2/create-response-example.json")).unwrap();
    let spec = parse_spec(&parse_body(&body).unwrap(), &defaults.unwrap());
    spec.unwrap().spec
}

fn summary(events: &[BeltEvent]) -> Vec<(EventAction, Option<BeltStatus>, Option<BeltStatus>)> {
    events.iter().map(|e| (e.action, e.from, e.to)).collect()
}

/// Checks the one event the runtime's view caused, and answers its reason.
fn observed_change(event: &BeltEvent, from: BeltStatus, to: BeltStatus) -> String {
    assert_eq!(
        summary(std::slice::from_ref(event)),
        [(EventAction::StatusChanged, Some(from), Some(to))]
    );
    assert_eq!((event.actor.as_str(), event.version), ("belt-api", Some(1)));
    event
        .told_reason()
        .expect("a status change without a reason")
}

/// A replica's process dies and the kubelet restarts it in a loop: the pod watch tells the
/// runtime, the controller (running as in the service) records RUNNING → FAILED once, naming the
/// replica, its exit code and the last line of its termination message.
#[tokio::test]
async fn a_crash_looping_replica_is_recorded_as_running_to_failed_with_its_exit() {
    let mut setup = Setup::running().await;
    let controller = tokio::spawn(setup.controller.clone().run());
    // The controller subscribes to the runtime's phase events when first polled: before the push.
    tokio::task::yield_now().await;

    let crashed = fixture("kubernetes/history/pod-crash-loop.json");
    setup.fake.push(PODS, &[("MODIFIED", &crashed)]).await;
    let events = setup.until_recorded(4, "RUNNING → FAILED").await;
    controller.abort();

    assert_eq!(events.len(), 4, "{:?}", summary(&events));
    let reason = observed_change(&events[3], Running, Failed);
    assert_eq!(
        reason,
        format!("replica {POD} exited 1: ModuleNotFoundError: No module named 'numpy'")
    );
    assert_eq!(setup.fake.events_calls, 1, "the pod's Events read once");
}

/// The replica's node goes away and its replacement cannot be scheduled: no container, so the
/// reason is the pod's newest Warning Event from the Events API, not the Deployment's generic
/// "does not have minimum availability" nor the pod condition's older message.
#[tokio::test]
async fn an_unschedulable_replica_is_recorded_as_deploying_with_its_pod_event() {
    let mut setup = Setup::running().await;
    let events = fixture("kubernetes/history/events-failed-scheduling.json");
    setup.fake.events = Some((PENDING_POD, events));
    let mut changes = setup.runtime.phase_events().unwrap();
    let controller = tokio::spawn(setup.controller.clone().run());
    tokio::task::yield_now().await;

    let running = fixture("kubernetes/history/running.json");
    let lost = fixture("kubernetes/history/unschedulable.json");
    let pending = &lost["pods"][0];
    // The pods first, so that whenever the controller sees the Deployment fall back it sees the
    // replacement pod too.
    let pods = [("DELETED", &running["pods"][0]), ("ADDED", pending)];
    setup.fake.push(PODS, &pods).await;
    serving(&mut setup.fake, told(&mut changes, 2), "the pod events").await;
    setup
        .fake
        .push(DEPLOYMENTS, &[("MODIFIED", &lost["deployment"])])
        .await;
    let events = setup.until_recorded(4, "RUNNING → DEPLOYING").await;
    controller.abort();

    assert_eq!(events.len(), 4, "{:?}", summary(&events));
    let reason = observed_change(&events[3], Running, Deploying);
    assert_eq!(
        reason,
        format!(
            "replica {PENDING_POD} (FailedScheduling): 0/3 nodes are available: 1 node(s) were \
             unschedulable, 2 Insufficient memory. preemption: 0/3 nodes are available: 3 No \
             preemption victims found for incoming pod."
        )
    );
    assert_eq!(setup.fake.events_calls, 1, "the pod's Events read once");
}

/// After the crash-loop is recorded, the next restart of the same replica changes the pod but not
/// the belt's status: a step records nothing and does not even ask the API why.
#[tokio::test]
async fn a_watch_event_that_leaves_the_status_as_it_was_records_nothing() {
    let mut setup = Setup::running().await;
    let mut changes = setup.runtime.phase_events().unwrap();
    let mut crashed = fixture("kubernetes/history/pod-crash-loop.json");
    setup.fake.push(PODS, &[("MODIFIED", &crashed)]).await;
    serving(&mut setup.fake, told(&mut changes, 1), "the crash").await;
    let recorded = serving(&mut setup.fake, setup.controller.step(id()), "a step").await;
    assert!(recorded.unwrap().is_some(), "RUNNING → FAILED not recorded");
    let before = setup.history().await;
    assert_eq!(
        summary(&before[3..]),
        [(EventAction::StatusChanged, Some(Running), Some(Failed))]
    );
    let calls = setup.fake.events_calls;

    let status = &mut crashed["status"]["containerStatuses"][0];
    status["restartCount"] = json!(4);
    status["lastState"]["terminated"]["finishedAt"] = json!("2019-07-01T11:07:30Z");
    crashed["metadata"]["resourceVersion"] = json!("50011");
    setup.fake.push(PODS, &[("MODIFIED", &crashed)]).await;
    serving(&mut setup.fake, told(&mut changes, 1), "the restart").await;
    let recorded = serving(&mut setup.fake, setup.controller.step(id()), "a step").await;
    assert_eq!(recorded.unwrap(), None);
    assert_eq!(setup.history().await, before, "FAILED recorded again");
    assert_eq!(setup.fake.events_calls, calls, "details read for no change");
}
