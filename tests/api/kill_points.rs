//! `kill -9` of the real `belt-api serve` at seeded points: while belts are created (and some
//! started), and while ~30 belts are STARTed and STOPped. After each kill the API is restarted on
//! the same data dir and database, and must show every acknowledged write, run exactly the
//! replicas each belt asks for, leave no replica process of its data dir beyond them, and stop
//! every one of them on SIGTERM.
//!
//! The seed is printed; `BELT_KILL_POINT_SEED=<seed>` replays a run, `BELT_KILL_POINT_ROUNDS`
//! sets the rounds per test (default 2).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::binary::{serve_with, token, Server};
use crate::helpers::{fresh_postgres_database, Backend};

crate::backend_tests!(
    kill_9_during_creates_loses_no_acknowledged_write_and_leaves_no_orphan,
    kill_9_during_start_and_stop_leaves_exactly_the_requested_replicas,
);

/// A replica that is ready at once and costs nothing.
const SCRIPT: &str = "#!/bin/sh\necho \"belt-host: ready\"\nwhile true; do sleep 1; done\n";
/// How long a restarted API may take to settle every belt.
const SETTLE: Duration = Duration::from_secs(40);
const CONCURRENCY: usize = 8;

// ------------------------------------------------------------------------------------------------
// Seeds.

/// splitmix64: tiny, and the same numbers for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

fn seeded(test: &str) -> Rng {
    let seed = std::env::var("BELT_KILL_POINT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("{test}: seed {seed} (BELT_KILL_POINT_SEED={seed} replays it)");
    Rng(seed)
}

fn rounds() -> usize {
    std::env::var("BELT_KILL_POINT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2)
}

// ------------------------------------------------------------------------------------------------
// The API under test.

/// One round's data dir, replica script and database, shared by the killed API and its successor.
struct Site {
    dir: tempfile::TempDir,
    script: String,
    database_url: Option<String>,
}

impl Site {
    async fn new(backend: Backend) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("replica.sh");
        std::fs::write(&script, SCRIPT).unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        Site {
            script: script.display().to_string(),
            dir,
            database_url,
        }
    }

    /// `./belt-data`, as the API resolves it.
    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("belt-data").canonicalize().unwrap()
    }

    fn serve(&self) -> Api {
        let mut env = vec![
            ("BELT_LOCAL_COMMAND", format!("/bin/sh {}", self.script)),
            ("BELT_RECONCILE_INTERVAL_MS", "300".to_string()),
            ("BELT_LOCAL_RESTART_BACKOFF_MS", "100".to_string()),
            ("BELT_LOCAL_STOP_GRACE_MS", "2000".to_string()),
        ];
        if let Some(url) = &self.database_url {
            env.push(("BELT_DATABASE_URL", url.clone()));
        }
        let server = serve_with(self.dir.path(), &env);
        Api {
            base: server.address.clone(),
            server,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
            token: token(self.dir.path(), "editor"),
        }
    }
}

struct Api {
    server: Server,
    base: String,
    client: reqwest::Client,
    token: String,
}

/// What a worker needs to call the API while the main task decides when to kill it.
#[derive(Clone)]
struct Caller {
    base: String,
    client: reqwest::Client,
    token: String,
}

impl Caller {
    /// The answer's body when the API acknowledged the call with a 2xx; `None` when it did not
    /// answer (killed) or refused.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Option<Value> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    async fn create(&self, name: &str, replicas: u64) -> Option<String> {
        let body = json!({"name": name, "eventTypes": ["a"], "replicas": replicas});
        let created = self
            .call(Method::POST, "/projects/global/belts", Some(body))
            .await?;
        Some(created["id"].as_str()?.to_string())
    }

    async fn act(&self, id: &str, action: &str) -> bool {
        let path = format!("/projects/global/belts/{id}/state");
        self.call(Method::POST, &path, Some(json!({ "action": action })))
            .await
            .is_some()
    }

    async fn status(&self, id: &str) -> Option<String> {
        let path = format!("/projects/global/belts/{id}/state");
        let state = self.call(Method::GET, &path, None).await?;
        Some(state["status"].as_str()?.to_string())
    }
}

impl Api {
    fn caller(&self) -> Caller {
        Caller {
            base: self.base.clone(),
            client: self.client.clone(),
            token: self.token.clone(),
        }
    }

    fn kill_9(mut self) {
        self.server.child.kill().unwrap(); // SIGKILL
        self.server.child.wait().unwrap();
    }

    /// SIGTERM; the API must exit 0 within 30 s.
    fn terminate(mut self) {
        let pid = self.server.child.id().to_string();
        assert!(std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.server.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "exit status {status}");
    }
}

// ------------------------------------------------------------------------------------------------
// Counting replicas from /proc, independently of the API's own bookkeeping.

#[derive(Debug, Default)]
struct Census {
    /// Live replica shells (running the round's script), by the `BELT_ID` they were given.
    replicas_by_belt: BTreeMap<String, usize>,
    /// Every live replica shell, with or without `BELT_ID`.
    replicas: usize,
    /// Process groups of the replica shells.
    replica_groups: BTreeSet<i32>,
    /// Live processes that carry the data dir's marker: (pid, process group).
    marked: Vec<(i32, i32)>,
}

/// `(state, pgrp)` from `/proc/<pid>/stat`.
fn stat(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    Some((
        fields.first()?.chars().next()?,
        fields.get(2)?.parse().ok()?,
    ))
}

fn census(site: &Site) -> Census {
    let marker = format!("BELT_REPLICA_OF={}", site.data_dir().display());
    let mut census = Census::default();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Some((state, pgrp)) = stat(pid) else {
            continue;
        };
        if matches!(state, 'Z' | 'X') {
            continue; // exited, only not reaped yet
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        if vars.contains(&marker.as_bytes()) {
            census.marked.push((pid, pgrp));
        }
        if cmdline.starts_with("/bin/sh ") && cmdline.contains(&site.script) {
            census.replicas += 1;
            census.replica_groups.insert(pgrp);
            let belt = vars
                .iter()
                .find_map(|var| var.strip_prefix(b"BELT_ID="))
                .map(|id| String::from_utf8_lossy(id).into_owned())
                .unwrap_or_default();
            *census.replicas_by_belt.entry(belt).or_default() += 1;
        }
    }
    census
}

/// What a settled API must show: each belt's status as a wish (`None`: either, since the
/// request that would decide it was not acknowledged), and its replicas when running.
struct Expected {
    id: String,
    replicas: usize,
    status: Option<&'static str>,
}

/// Waits until every belt is RUNNING or STOPPED as expected, runs exactly its replicas when
/// RUNNING and none when STOPPED, and nothing else of the data dir runs; twice in a row, 500 ms
/// apart, so a replica that is about to appear is seen.
async fn assert_settles(api: &Api, site: &Site, belts: &[Expected]) {
    let caller = api.caller();
    let deadline = Instant::now() + SETTLE;
    let mut stable = 0;
    let mut problem = String::new();
    while stable < 2 {
        assert!(
            Instant::now() < deadline,
            "the restarted API did not settle within {SETTLE:?}: {problem}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        problem = match settled(&caller, site, belts).await {
            Ok(()) => {
                stable += 1;
                continue;
            }
            Err(problem) => problem,
        };
        stable = 0;
    }
}

async fn settled(caller: &Caller, site: &Site, belts: &[Expected]) -> Result<(), String> {
    let mut wanted = 0;
    let mut statuses = Vec::new();
    for belt in belts {
        let status = caller
            .status(&belt.id)
            .await
            .ok_or_else(|| format!("no state for belt {}", belt.id))?;
        if let Some(expected) = belt.status {
            if status != expected {
                return Err(format!("belt {} is {status}, not {expected}", belt.id));
            }
        }
        statuses.push(status);
    }
    let census = census(site);
    for (belt, status) in belts.iter().zip(&statuses) {
        let running = census.replicas_by_belt.get(&belt.id).copied().unwrap_or(0);
        let expected = match status.as_str() {
            "RUNNING" => belt.replicas,
            "STOPPED" => 0,
            other => return Err(format!("belt {} is {other}", belt.id)),
        };
        if running != expected {
            return Err(format!(
                "belt {} is {status} with {running} replica processes, not {expected}",
                belt.id
            ));
        }
        wanted += expected;
    }
    if census.replicas != wanted {
        return Err(format!(
            "{} replica processes run, {wanted} asked for: {:?}",
            census.replicas, census.replicas_by_belt
        ));
    }
    let strays: Vec<_> = census
        .marked
        .iter()
        .filter(|(_, group)| !census.replica_groups.contains(group))
        .collect();
    if !strays.is_empty() {
        return Err(format!(
            "processes of the data dir outside any replica: {strays:?}"
        ));
    }
    Ok(())
}

/// SIGTERM stops everything the API owns, including what it found at its start.
fn assert_terminates_every_replica(api: Api, site: &Site) {
    api.terminate();
    let left = census(site);
    assert_eq!(
        left.replicas, 0,
        "replicas survived SIGTERM: {:?}",
        left.replicas_by_belt
    );
    assert!(
        left.marked.is_empty(),
        "processes of the data dir survived SIGTERM: {:?}",
        left.marked
    );
}

/// Waits (bounded) until `count()` reaches `at_least`.
async fn wait_for_count(count: &AtomicUsize, at_least: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while count.load(Ordering::SeqCst) < at_least && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// ------------------------------------------------------------------------------------------------
// The tests.

/// Creates many belts from several clients at once, each client STARTing every third belt it
/// created; `kill -9` after a seeded number of acknowledged creates plus a seeded delay.
async fn kill_9_during_creates_loses_no_acknowledged_write_and_leaves_no_orphan(backend: Backend) {
    let mut rng = seeded("kill -9 during creates");
    for round in 0..rounds() {
        let site = Site::new(backend).await;
        let api = site.serve();
        let kill_after = rng.between(1, 60) as usize;
        let delay = Duration::from_millis(rng.between(0, 150));
        println!("round {round}: kill -9 after {kill_after} acknowledged creates + {delay:?}");

        let created = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
        let started = Arc::new(Mutex::new(BTreeSet::<String>::new()));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|worker| {
                let caller = api.caller();
                let (created, started, acknowledged) =
                    (created.clone(), started.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    for n in 0..40 {
                        let name = format!("belt-{worker}-{n}");
                        let Some(id) = caller.create(&name, 1).await else {
                            return;
                        };
                        created.lock().unwrap().push((id.clone(), name));
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                        if n % 3 == 0 {
                            if !caller.act(&id, "START").await {
                                return;
                            }
                            started.lock().unwrap().insert(id);
                        }
                    }
                })
            })
            .collect();
        wait_for_count(&acknowledged, kill_after, Duration::from_secs(20)).await;
        tokio::time::sleep(delay).await;
        api.kill_9();
        for worker in workers {
            worker.await.unwrap();
        }
        let created = created.lock().unwrap().clone();
        let started = started.lock().unwrap().clone();
        assert!(created.len() >= kill_after.min(CONCURRENCY * 40));

        let api = site.serve();
        let caller = api.caller();
        for (id, name) in &created {
            let belt = caller
                .call(Method::GET, &format!("/projects/global/belts/{id}"), None)
                .await
                .unwrap_or_else(|| panic!("acknowledged belt {id} ({name}) is lost"));
            assert_eq!(belt["name"], name.as_str(), "belt {id}");
        }
        // A START that was sent but not acknowledged may or may not have been taken.
        let belts: Vec<Expected> = created
            .iter()
            .map(|(id, _)| Expected {
                id: id.clone(),
                replicas: 1,
                status: started.contains(id).then_some("RUNNING"),
            })
            .collect();
        assert_settles(&api, &site, &belts).await;
        assert_terminates_every_replica(api, &site);
    }
}

/// 30 belts of 1 or 2 replicas, half of them running; then every belt is switched (START the
/// stopped ones, STOP the running ones) from several clients at once, and `kill -9` lands after a
/// seeded number of acknowledged switches plus a seeded delay.
async fn kill_9_during_start_and_stop_leaves_exactly_the_requested_replicas(backend: Backend) {
    let mut rng = seeded("kill -9 during START/STOP");
    for round in 0..rounds() {
        let site = Site::new(backend).await;
        let api = site.serve();
        let caller = api.caller();
        let mut belts = Vec::new();
        for n in 0..30 {
            let replicas = rng.between(1, 2) as usize;
            let id = caller
                .create(&format!("belt-{n}"), replicas as u64)
                .await
                .expect("create");
            let running = rng.between(0, 1) == 1;
            if running {
                assert!(caller.act(&id, "START").await);
            }
            belts.push((id, replicas, running));
        }
        let first = belts
            .iter()
            .map(|(id, replicas, running)| Expected {
                id: id.clone(),
                replicas: *replicas,
                status: Some(if *running { "RUNNING" } else { "STOPPED" }),
            })
            .collect::<Vec<_>>();
        assert_settles(&api, &site, &first).await;

        let kill_after = rng.between(0, 30) as usize;
        let delay = Duration::from_millis(rng.between(0, 300));
        println!("round {round}: kill -9 after {kill_after} acknowledged START/STOPs + {delay:?}");
        let mut order: Vec<usize> = (0..belts.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.between(0, i as u64) as usize);
        }
        let queue = Arc::new(Mutex::new(order));
        let switched = Arc::new(Mutex::new(BTreeSet::<usize>::new()));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let caller = api.caller();
                let belts = belts.clone();
                let (queue, switched, acknowledged) =
                    (queue.clone(), switched.clone(), acknowledged.clone());
                tokio::spawn(async move {
                    loop {
                        let Some(i) = queue.lock().unwrap().pop() else {
                            return;
                        };
                        let (id, _, running) = &belts[i];
                        let action = if *running { "STOP" } else { "START" };
                        if !caller.act(id, action).await {
                            return;
                        }
                        switched.lock().unwrap().insert(i);
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        wait_for_count(&acknowledged, kill_after, Duration::from_secs(20)).await;
        tokio::time::sleep(delay).await;
        api.kill_9();
        for worker in workers {
            worker.await.unwrap();
        }
        let switched = switched.lock().unwrap().clone();
        let unsent = queue.lock().unwrap().clone();

        let api = site.serve();
        let expected: Vec<Expected> = belts
            .iter()
            .enumerate()
            .map(|(i, (id, replicas, running))| {
                let now_running = if switched.contains(&i) {
                    Some(!running)
                } else if unsent.contains(&i) {
                    Some(*running)
                } else {
                    None // in flight when the API died
                };
                Expected {
                    id: id.clone(),
                    replicas: *replicas,
                    status: now_running.map(|r| if r { "RUNNING" } else { "STOPPED" }),
                }
            })
            .collect();
        assert_settles(&api, &site, &expected).await;
        assert_terminates_every_replica(api, &site);
    }
}

#[test]
fn the_seeded_numbers_repeat() {
    let draw = |seed| {
        let mut rng = Rng(seed);
        (0..5).map(|_| rng.between(0, 30)).collect::<Vec<_>>()
    };
    assert_eq!(draw(7), draw(7));
    assert_ne!(draw(7), draw(8));
    assert!(draw(9).iter().all(|n| *n <= 30));
}
