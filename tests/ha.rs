//! High availability (issue 20, acceptance 3): three `belt-api serve` processes on one PostgreSQL
//! database and one Kubernetes API. Every replica serves the API and exactly one runs the
//! reconciler: 100 belts created and started through randomly chosen replicas all run, each
//! Deployment created once; after a `kill -9` of the leader another replica leads within 10 s and
//! nothing is lost or deployed twice; lists agree on every replica after each write; a watch held
//! on one replica receives every event, whichever replica or leader wrote it, in order. Once
//! with the PostgreSQL advisory lock (the default), once with a Kubernetes Lease.
//!
//! On the tests' PostgreSQL (`BELT_TEST_DATABASE_URL`, else the one `scripts/postgres.sh` starts).

#[path = "ha/calls.rs"]
mod calls;
#[path = "ha/lease.rs"]
mod lease;
#[path = "ha/replicas.rs"]
mod replicas;
#[path = "ha/traced.rs"]
mod traced;

use std::time::{Duration, Instant};

use belt_test_support::fake_kube::Cluster;
use serde_json::Value;

use calls::Api;
use replicas::Replica;

/// The replicas' Deployments in the fake cluster.
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/belts/deployments";
/// The Lease of `BELT_LEADER_ELECTION=lease`.
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/belts/leases/belt-api-leader";

/// A small deterministic generator: which replica each write goes through (seeded per run, and
/// the seed printed, so a failing order can be replayed).
struct Picker(u64);

impl Picker {
    fn pick(&mut self, count: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % count as u64) as usize
    }
}

/// A fresh database on the tests' PostgreSQL (`crates/test-support`: `BELT_TEST_DATABASE_URL`,
/// else the server `scripts/postgres.sh` starts; never skipped).
pub async fn fresh_database() -> String {
    belt_test_support::postgres::fresh_database("belt_ha")
        .await
        .url
}

/// The index of the one replica that says it leads, once exactly one does.
async fn one_leader(api: &Api, replicas: &[Replica], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let mut leaders = Vec::new();
        for (index, replica) in replicas.iter().enumerate() {
            if replica.is_leader(&api.http).await == Some(true) {
                leaders.push(index);
            }
        }
        if let [leader] = leaders.as_slice() {
            return *leader;
        }
        assert!(
            Instant::now() < deadline,
            "no single leader within {within:?}: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Each of `ids` has its Deployment, created once and applied once, by `leader`: one reconciler
/// deployed it (several would each apply it), no successor deployed it again, and the leader did
/// not apply it a second time when a resync or a wake came before its watch brought the
/// Deployment back (`src/reconcile/expectations.rs`). A failure names the replicas that logged
/// deploying it, and when.
fn assert_deployed_by(kube: &Cluster, leader: &str, replicas: &[Replica], ids: &[i64]) {
    let recorder = kube.recorder();
    let (creates, appliers) = (
        recorder.creates("deployments"),
        recorder.appliers("deployments"),
    );
    for id in ids {
        let name = format!("grnry-belt-{id}");
        let created = creates.get(&name);
        let applied_by: Vec<(&str, u32)> = (appliers.get(&name).into_iter())
            .flat_map(|users| users.iter().map(|(user, n)| (user.as_str(), *n)))
            .collect();
        let who = || deployed_by(replicas, *id);
        assert_eq!(
            created,
            Some(&1),
            "{name} created {created:?} times: {:#?}",
            who()
        );
        assert_eq!(applied_by, [(leader, 1)], "{name} applied by: {:#?}", who());
        let deployment = kube.get(&format!("{DEPLOYMENTS}/{name}"));
        let generation = deployment.map(|d| d["metadata"]["generation"].clone());
        assert_eq!(
            generation,
            Some(1.into()),
            "{name} (None: gone): {:#?}",
            who()
        );
    }
}

/// Each live replica's log lines saying it deployed belt `id`.
fn deployed_by(replicas: &[Replica], id: i64) -> Vec<String> {
    let said = format!("deployed belt={id} ");
    (replicas.iter())
        .flat_map(|replica| {
            let lines = replica.logged().into_iter();
            let lines = lines.filter(|line| line.contains(&said));
            lines.map(|line| format!("{}: {line}", replica.name))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_elect_one_leader_and_lose_nothing_when_it_is_killed() {
    scenario(Election::Lock, 100).await;
}

/// The same with a Kubernetes Lease instead of the advisory lock (`BELT_LEADER_ELECTION=lease`,
/// a 3 s lease), on fewer belts: what differs is only who leads and how a successor takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_kubernetes_lease_a_successor_leads_once_the_lease_expires() {
    scenario(Election::Lease, 20).await;
}

/// How the replicas elect their leader.
#[derive(Clone, Copy, Debug)]
pub enum Election {
    Lock,
    Lease,
}

async fn scenario(election: Election, belts: usize) {
    let started = Instant::now();
    let (kube, _dir, setup) = replicas::set_up(election, Vec::new()).await;
    // One first, which migrates the fresh database (starting together is acceptance 5's test).
    let first = Replica::start("a", &setup).await;
    let (second, third) = tokio::join!(Replica::start("b", &setup), Replica::start("c", &setup));
    let mut replicas = vec![first, second, third];
    let api = Api {
        http: reqwest::Client::new(),
        token: replicas::token(&setup.data_dir),
    };
    let leader = one_leader(&api, &replicas, Duration::from_secs(15)).await;
    // The watch is held on a follower, which outlives the leader's kill.
    let watched = (leader + 1) % replicas.len();
    let (bookmark, watch) = api.watch(&replicas[watched]).await;

    let seed = started.elapsed().as_nanos() as u64 | 1;
    eprintln!("{election:?}: replica order seed {seed}");
    let mut picker = Picker(seed);
    let mut ids = Vec::new();
    for n in 0..belts {
        let through = &replicas[picker.pick(replicas.len())];
        let id = api.create(through, &format!("ha-{n}")).await;
        api.assert_lists_agree(&replicas, &format!("creating {id}"))
            .await;
        let through = &replicas[picker.pick(replicas.len())];
        api.change_state(through, id, "START").await;
        api.assert_lists_agree(&replicas, &format!("starting {id}"))
            .await;
        ids.push(id);
    }
    api.await_statuses(&replicas, &ids, "RUNNING", Duration::from_secs(30))
        .await;
    let leader_name = replicas[leader].name.clone();
    assert_deployed_by(&kube, &leader_name, &replicas, &ids);
    assert_eq!(
        kube.names(DEPLOYMENTS).len(),
        belts,
        "no Deployment but the belts'"
    );
    // The follower's watch has the leader's status changes too, though its own process wrote
    // nothing since: it heard them through the database.
    assert_watch_saw_every_event(&setup.database_url, bookmark, &watch).await;

    // kill -9 the leader: a follower takes over within 10 s.
    let killed = replicas.remove(leader);
    eprintln!(
        "killing the leader {} after {:?}",
        killed.name,
        started.elapsed()
    );
    let killed_at = Instant::now();
    killed.kill();
    let successor = one_leader(&api, &replicas, Duration::from_secs(10)).await;
    eprintln!(
        "{} leads {:?} after the kill",
        replicas[successor].name,
        killed_at.elapsed()
    );
    assert!(killed_at.elapsed() < Duration::from_secs(10));
    if let Election::Lease = election {
        let lease = kube.get(LEASE).expect("the Lease");
        assert_eq!(
            lease["spec"]["leaseTransitions"], 2,
            "taken over once: {lease}"
        );
    }

    after_the_kill(&api, &replicas, &kube, &leader_name, &mut picker, &ids).await;
    assert_watch_saw_every_event(&setup.database_url, bookmark, &watch).await;
    eprintln!("done in {:?}", started.elapsed());
}

/// Writes through the survivors, followers included: the new leader carries them out, and
/// nothing the old one (`killed`) deployed is deployed again.
async fn after_the_kill(
    api: &Api,
    replicas: &[Replica],
    kube: &Cluster,
    killed: &str,
    picker: &mut Picker,
    ids: &[i64],
) {
    let (stopped, rest) = ids.split_at(5);
    let (deleted, running) = rest.split_at(5);
    for id in stopped {
        let through = &replicas[picker.pick(replicas.len())];
        api.change_state(through, *id, "STOP").await;
        api.assert_lists_agree(replicas, &format!("stopping {id}"))
            .await;
    }
    // Every replica in turn: a follower's DELETE answers from the leader's settlement too.
    for (n, id) in deleted.iter().enumerate() {
        api.delete(&replicas[n % replicas.len()], *id).await;
        api.assert_lists_agree(replicas, &format!("deleting {id}"))
            .await;
    }
    let listed: Vec<i64> = stopped.iter().chain(running).copied().collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while (stopped.iter().chain(deleted)).any(|id| {
        kube.names(DEPLOYMENTS)
            .contains(&format!("grnry-belt-{id}"))
    }) {
        assert!(
            Instant::now() < deadline,
            "stopped or deleted belts still deployed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for replica in replicas.iter() {
        let statuses = api.list(replica).await;
        let ids: Vec<i64> = statuses.iter().map(|(id, _, _)| *id).collect();
        assert_eq!(ids, listed, "{} lists what is left", replica.name);
        for (id, _, status) in statuses {
            let wanted = if stopped.contains(&id) {
                "STOPPED"
            } else {
                "RUNNING"
            };
            assert_eq!(
                status.as_deref(),
                Some(wanted),
                "belt {id} on {}",
                replica.name
            );
        }
    }
    assert_deployed_by(kube, killed, replicas, running);
    for replica in replicas.iter() {
        let logged = replica.logged();
        assert!(
            !logged.iter().any(|line| line.contains("panicked")),
            "{logged:?}"
        );
    }
}

/// The watch, opened before the first write on a replica that wrote only some of them and led
/// none of the time, received the project's whole event log after its bookmark, in order.
async fn assert_watch_saw_every_event(
    database_url: &str,
    bookmark: i64,
    watch: &std::sync::Mutex<Vec<Value>>,
) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(database_url).await.unwrap();
    let logged: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, belt_id, action FROM belt_events WHERE project = 'global' AND id > $1 \
         ORDER BY id",
    )
    .bind(bookmark)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen: Vec<(i64, i64, String)> = (watch.lock().unwrap().iter())
            .map(|event| {
                let belt = event["beltId"].as_str().unwrap().parse().unwrap();
                let action = event["action"].as_str().unwrap().to_string();
                (event["id"].as_i64().unwrap(), belt, action)
            })
            .collect();
        if seen.len() >= logged.len() {
            assert_eq!(
                seen[..logged.len()],
                logged[..],
                "the watch saw the log in order"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the watch saw {} of {} events",
            seen.len(),
            logged.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
