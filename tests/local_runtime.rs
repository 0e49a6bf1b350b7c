//! The local runtime with real processes: the bundled Python belt host run by `python3`, short
//! back-offs. Each test has its own data dir, so they run in parallel.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use belt_api::domain::replica::{EnvEntry, EnvValue, ReplicaSpec};
use belt_api::runtime::local::{LocalConfig, LocalRuntime};
use belt_api::runtime::{Phase, ReplicaLogs, Runtime};
use serde_json::json;
use tempfile::TempDir;

#[path = "support/local.rs"]
mod support;
use support::{belt, plain, replica_spec};

const PATIENCE: Duration = Duration::from_secs(20);

const IDLE_CALLBACK: &str = "def execute(headers, event, profile=None):\n    return []\n";

/// Prints its environment and cwd at import, so a test sees what the replica received.
const ENV_CALLBACK: &str = "import json, os\n\
print('ENV ' + json.dumps(dict(os.environ)))\n\
print('CWD ' + os.getcwd())\n\
def execute(headers, event, profile=None):\n    return []\n";

struct Harness {
    dir: TempDir,
    runtime: LocalRuntime,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let runtime = LocalRuntime::new(LocalConfig::for_tests(dir.path())).unwrap();
        Harness { dir, runtime }
    }

    /// A second runtime on the same data dir: the API after a restart.
    fn restarted(&self) -> LocalRuntime {
        LocalRuntime::new(LocalConfig::for_tests(self.dir.path())).unwrap()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    fn belt_dir(&self, id: i64) -> PathBuf {
        self.data_dir().join("belts").join(id.to_string())
    }

    async fn wait_for_phase(&self, id: i64, phase: Phase) {
        let runtime = &self.runtime;
        wait_until(&format!("belt {id} {phase:?}"), || async move {
            (runtime.observe(belt(id))?.phase == phase).then_some(())
        })
        .await;
    }
}

fn spec(id: i64, generation: i64, replicas: u32, callback: &str) -> ReplicaSpec {
    let env = vec![
        plain("BELT_ID", &id.to_string()),
        plain("BELT_VERSION", "1"),
        plain("EVENT_TYPES", "clicks,views"),
        plain(
            "KAFKA_INPUT_TOPICS",
            "grnry_data_in_clicks,grnry_data_in_views",
        ),
        plain("FETCH_PROFILE", "FALSE"),
        plain("BELT_HOST_IDLE_SECONDS", "0.2"),
    ];
    replica_spec(id, generation, replicas, callback, env)
}

async fn wait_until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    support::wait_until(what, PATIENCE, check).await
}

/// The running replicas' pids, from `containerID: process://<pid>` in the details.
async fn pids(runtime: &LocalRuntime, id: i64) -> Vec<i32> {
    let details = serde_json::to_value(runtime.details(belt(id)).await.unwrap().unwrap()).unwrap();
    details["podStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pod| {
            let id = pod["containerStatus"][0]["containerID"].as_str().unwrap();
            id.strip_prefix("process://").unwrap().parse().unwrap()
        })
        .collect()
}

fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Running, not merely an unreaped zombie.
fn alive(pid: i32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields[0] != "Z" && fields[0] != "X")
}

/// Process groups (= replicas) whose processes work inside `dir`, counted from `/proc`, so the
/// count does not depend on the runtime's own bookkeeping.
fn replica_groups_in(dir: &Path) -> usize {
    let mut groups = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let in_dir =
            std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        if in_dir && alive(pid) {
            if let Some(fields) = stat_fields(pid) {
                groups.insert(fields[2].clone());
            }
        }
    }
    groups.len()
}

fn stamped(line: &str) -> bool {
    let Some((stamp, _)) = line.split_once(' ') else {
        return false;
    };
    stamp.len() == 30
        && stamp.ends_with('Z')
        && time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .is_ok()
}

#[tokio::test]
async fn replicas_run_with_the_spec_files_and_env_and_log_timestamped_lines() {
    // A variable of the API's own environment that no replica may see.
    std::env::set_var("BELT_API_TEST_CANARY_SECRET", "must-not-leak");
    let harness = Harness::new();
    let mut spec = spec(7, 1, 2, ENV_CALLBACK);
    spec.env.extend([
        EnvEntry {
            name: "KEYCLOAK_USER".into(),
            value: EnvValue::FromSecret {
                secret: "profile-store".into(),
                key: "username".into(),
            },
        },
        EnvEntry {
            name: "EXTRA".into(),
            value: EnvValue::Kubernetes(json!({"name": "EXTRA", "value": "from extraEnv"})),
        },
        EnvEntry {
            name: "FROM_REF".into(),
            value: EnvValue::Kubernetes(json!({"name": "FROM_REF", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})),
        },
        plain("PARTITION_OFFSETS", r#"{"grnry_data_in_clicks":[0,5]}"#),
        // A belt cannot hide its replicas from recovery by setting the marker itself.
        plain("BELT_REPLICA_OF", "/elsewhere"),
    ]);

    harness.runtime.apply(&spec).await.unwrap();
    harness.wait_for_phase(7, Phase::Running).await;

    let names = ["grnry-belt-7-1-0", "grnry-belt-7-1-1"];
    let logs = harness.runtime.logs(belt(7), 500).await.unwrap();
    assert_eq!(logs.keys().map(String::as_str).collect::<Vec<_>>(), names);
    for name in names {
        let lines = &logs[name];
        assert!(
            lines.iter().all(|line| stamped(line)),
            "unstamped line in {lines:#?}"
        );
        let text = |prefix: &str| -> String {
            lines
                .iter()
                .find_map(|line| line.split_once(' ').unwrap().1.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix:?} line in {lines:#?}"))
                .to_string()
        };
        assert_eq!(
            text("belt-host: starting from partition offsets "),
            r#"{"grnry_data_in_clicks":[0,5]}"#
        );
        assert!(text("belt-host: input topics: ")
            .starts_with("grnry_data_in_clicks,grnry_data_in_views"));

        let env: BTreeMap<String, String> = serde_json::from_str(&text("ENV ")).unwrap();
        // The callback runs in the replica's worker, which gets no Kafka setting and nothing
        // the trusted host uses for it (docs/local-sandbox.md#two-processes).
        let withheld = |name: &str| {
            name.starts_with("KAFKA_")
                || [
                    "PROFILE_STORE_URL",
                    "KEYCLOAK_USER",
                    "KEYCLOAK_PASS",
                    "PARTITION_OFFSETS",
                ]
                .contains(&name)
        };
        for entry in spec.env.iter().filter(|e| e.name != "BELT_REPLICA_OF") {
            if withheld(&entry.name) {
                assert!(
                    !env.contains_key(&entry.name),
                    "{} reached the callback",
                    entry.name
                );
            } else if let EnvValue::Plain(value) = &entry.value {
                assert_eq!(env.get(&entry.name), Some(value), "{}", entry.name);
            }
        }
        assert!(!env.contains_key("KEYCLOAK_USER"));
        assert_eq!(env["EXTRA"], "from extraEnv");
        assert_eq!(env["FROM_REF"], "", "valueFrom cannot be resolved locally");
        assert_eq!(env["BELT_REPLICA_NAME"], name);
        assert_eq!(
            env["BELT_REPLICA_OF"],
            harness.data_dir().to_str().unwrap(),
            "every replica carries its data dir's marker"
        );
        assert!(!env.contains_key("BELT_API_TEST_CANARY_SECRET"));
        let declared: BTreeSet<&str> = spec.env.iter().map(|e| e.name.as_str()).collect();
        for key in env.keys() {
            // What the interpreter and a pyenv shim add on their own is not ours to control.
            let launcher = key.starts_with("PYENV")
                || key.starts_with("_PYENV")
                || ["PWD", "OLDPWD", "SHLVL", "LC_CTYPE", "_"].contains(&key.as_str());
            let allowed = declared.contains(key.as_str())
                || ["BELT_REPLICA_NAME", "PATH", "HOME", "LANG"].contains(&key.as_str())
                || key.starts_with("PYTHON")
                || launcher;
            assert!(allowed, "the replica saw {key}");
        }

        let work_dir = harness.belt_dir(7).join(name);
        assert_eq!(text("CWD "), work_dir.to_str().unwrap());
        for file in ["callback.py", "requirements.txt"] {
            assert_eq!(
                std::fs::read_to_string(work_dir.join(file)).unwrap(),
                spec.files[file]
            );
        }
    }

    // Logs keep flowing, and `lines` bounds what comes back per replica.
    let runtime = &harness.runtime;
    wait_until("idle lines", || async move {
        let logs = runtime.logs(belt(7), 2).await.unwrap();
        let idle = logs.values().all(|lines| {
            lines.len() == 2
                && lines
                    .iter()
                    .all(|l| l.ends_with("No new messages, waiting for: 0.2s"))
        });
        idle.then_some(())
    })
    .await;

    // Applying what runs changes nothing.
    let before = pids(&harness.runtime, 7).await;
    assert!(before.iter().all(|&pid| alive(pid)));
    harness.runtime.apply(&spec).await.unwrap();
    assert_eq!(pids(&harness.runtime, 7).await, before);
    harness.runtime.shutdown().await;
}

#[tokio::test]
async fn a_new_generation_replaces_the_old_replicas_without_exceeding_the_count() {
    let harness = Harness::new();
    harness
        .runtime
        .apply(&spec(8, 1, 2, IDLE_CALLBACK))
        .await
        .unwrap();
    harness.wait_for_phase(8, Phase::Running).await;
    let old = pids(&harness.runtime, 8).await;

    // Count the belt's replicas from /proc while the generations switch.
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (most, done, dir) = (most.clone(), done.clone(), harness.belt_dir(8));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(replica_groups_in(&dir), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut next = spec(8, 2, 2, IDLE_CALLBACK);
    next.version = 2;
    harness.runtime.apply(&next).await.unwrap();
    let observed = harness.runtime.observe(belt(8)).unwrap();
    assert_eq!((observed.version, observed.generation), (2, 2));
    harness.wait_for_phase(8, Phase::Running).await;
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();

    assert!(old.iter().all(|&pid| !alive(pid)), "old replicas still run");
    let new = pids(&harness.runtime, 8).await;
    assert!(new.iter().all(|&pid| alive(pid) && !old.contains(&pid)));
    assert!(
        most.load(Ordering::SeqCst) <= 2,
        "saw {} replicas at once",
        most.load(Ordering::SeqCst)
    );
    assert_eq!(replica_groups_in(&harness.belt_dir(8)), 2);
    assert!(!harness.belt_dir(8).join("grnry-belt-8-1-0").exists());
    let logs = harness.runtime.logs(belt(8), 10).await.unwrap();
    assert_eq!(
        logs.keys().collect::<Vec<_>>(),
        ["grnry-belt-8-2-0", "grnry-belt-8-2-1"]
    );
    harness.runtime.shutdown().await;
}

#[tokio::test]
async fn a_callback_that_raises_at_import_ends_failed_with_the_exception_in_details() {
    let harness = Harness::new();
    let callback = "raise RuntimeError('the belt cannot start: 42')\n";
    harness
        .runtime
        .apply(&spec(9, 1, 1, callback))
        .await
        .unwrap();
    harness.wait_for_phase(9, Phase::Failed).await;

    let details =
        serde_json::to_value(harness.runtime.details(belt(9)).await.unwrap().unwrap()).unwrap();
    assert_eq!(details["deploymentReplicas"], "1");
    let available = &details["deploymentEvents"][0];
    assert_eq!(
        (
            &available["type"],
            &available["status"],
            &available["reason"]
        ),
        (
            &json!("Available"),
            &json!("False"),
            &json!("MinimumReplicasUnavailable")
        )
    );
    let pod = &details["podStatus"][0];
    assert_eq!(pod["name"], "grnry-belt-9-1-0");
    let container = &pod["containerStatus"][0];
    assert_eq!(container["ready"], false);
    assert!(container["restartCount"].as_u64().unwrap() >= 2);
    let terminated = &container["lastState"]["terminated"];
    assert_eq!(terminated["exitCode"], 1);
    assert_eq!(terminated["reason"], "Error");
    let message = terminated["message"].as_str().unwrap();
    assert!(
        message.contains("RuntimeError: the belt cannot start: 42"),
        "{message}"
    );

    // It keeps being restarted while FAILED, like a crash-looping pod.
    let restarts = container["restartCount"].as_u64().unwrap();
    let runtime = &harness.runtime;
    wait_until("another restart", || async move {
        let details =
            serde_json::to_value(runtime.details(belt(9)).await.unwrap().unwrap()).unwrap();
        let now = details["podStatus"][0]["containerStatus"][0]["restartCount"]
            .as_u64()
            .unwrap();
        (now > restarts).then_some(())
    })
    .await;
    harness.runtime.shutdown().await;
}

#[tokio::test]
async fn an_execute_without_a_profile_parameter_fails_when_profiles_are_fetched() {
    let harness = Harness::new();
    let mut spec = spec(10, 1, 1, "def execute(headers, event):\n    return []\n");
    spec.env.retain(|entry| entry.name != "FETCH_PROFILE");
    spec.env.push(plain("FETCH_PROFILE", "TRUE"));
    harness.runtime.apply(&spec).await.unwrap();
    harness.wait_for_phase(10, Phase::Failed).await;

    let details =
        serde_json::to_value(harness.runtime.details(belt(10)).await.unwrap().unwrap()).unwrap();
    let terminated = &details["podStatus"][0]["containerStatus"][0]["lastState"]["terminated"];
    assert_eq!(terminated["exitCode"], 2);
    let message = terminated["message"].as_str().unwrap();
    assert!(
        message.contains("execute must take 3 parameters"),
        "{message}"
    );
    harness.runtime.shutdown().await;
}

#[tokio::test]
async fn a_killed_replica_is_restarted_and_shows_the_signal() {
    let harness = Harness::new();
    harness
        .runtime
        .apply(&spec(11, 1, 1, IDLE_CALLBACK))
        .await
        .unwrap();
    harness.wait_for_phase(11, Phase::Running).await;
    let first = pids(&harness.runtime, 11).await[0];

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    let runtime = &harness.runtime;
    let container = wait_until("a restarted, ready replica", || async move {
        let details = serde_json::to_value(runtime.details(belt(11)).await.unwrap()?).unwrap();
        let container = details["podStatus"][0]["containerStatus"][0].clone();
        (container["restartCount"] == 1 && container["ready"] == true).then_some(container)
    })
    .await;
    let terminated = &container["lastState"]["terminated"];
    assert_eq!(terminated["signal"], 9);
    assert_eq!(terminated["exitCode"], 137);
    assert!(!alive(first));
    harness.wait_for_phase(11, Phase::Running).await;
    harness.runtime.shutdown().await;
}

#[tokio::test]
async fn remove_stops_the_replicas_and_deletes_their_work_dirs() {
    let harness = Harness::new();
    harness
        .runtime
        .apply(&spec(12, 1, 2, IDLE_CALLBACK))
        .await
        .unwrap();
    harness.wait_for_phase(12, Phase::Running).await;
    let running = pids(&harness.runtime, 12).await;
    assert!(harness.belt_dir(12).exists());

    harness.runtime.remove(belt(12)).await.unwrap();

    assert!(running.iter().all(|&pid| !alive(pid)));
    assert!(!harness.belt_dir(12).exists());
    assert!(harness.runtime.observe(belt(12)).is_none());
    assert!(harness.runtime.deployed().is_empty());
    assert!(harness.runtime.details(belt(12)).await.unwrap().is_none());
    assert!(harness.runtime.logs(belt(12), 10).await.unwrap().is_empty());
    // Idempotent.
    harness.runtime.remove(belt(12)).await.unwrap();
}

#[tokio::test]
async fn recover_kills_what_a_crashed_api_left_behind() {
    let harness = Harness::new();
    // Silent once ready: a replica that writes would die of the closed pipe on its own (as it
    // would when the API really dies), and recover() would have nothing left to prove.
    let silent = |id, replicas| {
        let mut spec = spec(id, 1, replicas, IDLE_CALLBACK);
        spec.env
            .retain(|entry| entry.name != "BELT_HOST_IDLE_SECONDS");
        spec.env.push(plain("BELT_HOST_IDLE_SECONDS", "600"));
        spec
    };
    harness.runtime.apply(&silent(13, 2)).await.unwrap();
    harness.runtime.apply(&silent(14, 1)).await.unwrap();
    harness.wait_for_phase(13, Phase::Running).await;
    harness.wait_for_phase(14, Phase::Running).await;
    let mut orphans = pids(&harness.runtime, 13).await;
    orphans.extend(pids(&harness.runtime, 14).await);

    // Like `kill -9` of the API: no shutdown, the replicas keep running without a supervisor.
    let Harness { dir, runtime } = harness;
    drop(runtime);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        orphans.iter().all(|&pid| alive(pid)),
        "a crash does not stop replicas"
    );

    let restarted = LocalRuntime::new(LocalConfig::for_tests(dir.path())).unwrap();
    restarted.recover().await.unwrap();

    assert!(
        orphans.iter().all(|&pid| !alive(pid)),
        "leftovers survived recover()"
    );
    let belts = dir.path().canonicalize().unwrap().join("belts");
    assert_eq!(replica_groups_in(&belts), 0);
    for id in ["13", "14"] {
        let left = left_in_belt_dir(&belts.join(id));
        assert!(left.is_empty(), "belt {id} kept {left:?}");
    }
    assert!(restarted.deployed().is_empty());
}

#[tokio::test]
async fn shutdown_stops_every_replica() {
    let harness = Harness::new();
    harness
        .runtime
        .apply(&spec(15, 1, 2, IDLE_CALLBACK))
        .await
        .unwrap();
    harness
        .runtime
        .apply(&spec(16, 1, 1, "raise SystemExit(3)\n"))
        .await
        .unwrap();
    harness.wait_for_phase(15, Phase::Running).await;
    let running = pids(&harness.runtime, 15).await;

    harness.runtime.shutdown().await;

    assert!(running.iter().all(|&pid| !alive(pid)));
    assert_eq!(replica_groups_in(&harness.data_dir()), 0);
    assert!(harness.runtime.deployed().is_empty());
    let refused = harness.runtime.apply(&spec(15, 2, 1, IDLE_CALLBACK)).await;
    assert!(
        refused.is_err(),
        "a stopping runtime must not start replicas"
    );
    // The next start finds nothing to clear.
    harness.restarted().recover().await.unwrap();
}

/// Starts a `sleep` at import (it lands in the replica's process group) and prints a token that
/// names it. A pid printed inside the replica's PID namespace means nothing out here, so the
/// sleep is found in /proc by its unique argument.
fn spawning_callback(then: &str) -> String {
    format!(
        "import random, subprocess\n\
         token = '60.%08d1' % random.randrange(10 ** 8)\n\
         subprocess.Popen(['sleep', token])\n\
         print('CHILD', token)\n\
         {then}\n\
         def execute(headers, event, profile=None):\n    return []\n"
    )
}

async fn child_tokens(runtime: &LocalRuntime, id: i64) -> Vec<String> {
    let logs = runtime.logs(belt(id), 500).await.unwrap();
    logs.values()
        .flatten()
        .filter_map(|line| Some(line.split_once(" CHILD ")?.1.to_string()))
        .collect()
}

/// Whether the `sleep` a replica started with `token` still runs.
fn sleeping(token: &str) -> bool {
    sleeping_pid(token).is_some()
}

/// The host pid of the `sleep` a replica started with `token` (pids printed inside the sandbox's
/// PID namespace mean nothing here).
fn sleeping_pid(token: &str) -> Option<i32> {
    let wanted = format!("sleep\0{token}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            (cmdline.ends_with(wanted.as_bytes()) && alive(pid)).then_some(pid)
        })
}

#[tokio::test]
async fn what_a_replica_started_ends_with_it() {
    let harness = Harness::new();
    // Exiting: the leader is gone, what it left in its group is killed.
    harness
        .runtime
        .apply(&spec(17, 1, 1, &spawning_callback("raise SystemExit(1)")))
        .await
        .unwrap();
    harness.wait_for_phase(17, Phase::Failed).await;
    let children = child_tokens(&harness.runtime, 17).await;
    assert!(children.len() >= 3, "{children:?}");
    let runtime = &harness.runtime;
    wait_until("the crashed replicas' children to be gone", || async move {
        let children = child_tokens(runtime, 17).await;
        // The newest child may belong to a run still in progress.
        children[..children.len() - 1]
            .iter()
            .all(|token| !sleeping(token))
            .then_some(())
    })
    .await;

    // Stopping: SIGTERM reaches the whole group.
    harness
        .runtime
        .apply(&spec(18, 1, 1, &spawning_callback("")))
        .await
        .unwrap();
    harness.wait_for_phase(18, Phase::Running).await;
    let children = child_tokens(&harness.runtime, 18).await;
    assert_eq!(children.len(), 1);
    assert!(sleeping(&children[0]));
    harness.runtime.remove(belt(18)).await.unwrap();
    assert!(
        !sleeping(&children[0]),
        "the replica's child survived remove()"
    );
    harness.runtime.shutdown().await;
}

#[tokio::test]
async fn a_command_that_cannot_start_ends_failed_with_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = LocalConfig {
        command: Some(vec!["/nonexistent/belt-host".into()]),
        ..LocalConfig::for_tests(dir.path())
    };
    let runtime = LocalRuntime::new(config).unwrap();
    runtime.apply(&spec(19, 1, 1, IDLE_CALLBACK)).await.unwrap();
    let runtime_ref = &runtime;
    wait_until("FAILED", || async move {
        (runtime_ref.observe(belt(19))?.phase == Phase::Failed).then_some(())
    })
    .await;
    let details = serde_json::to_value(runtime.details(belt(19)).await.unwrap().unwrap()).unwrap();
    let container = &details["podStatus"][0]["containerStatus"][0];
    assert_eq!(container["image"], "/nonexistent/belt-host");
    let terminated = &container["lastState"]["terminated"];
    assert_eq!(terminated["reason"], "StartError");
    assert_eq!(terminated["exitCode"], 128);
    assert!(terminated["message"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/belt-host"));
    runtime.shutdown().await;
}

#[tokio::test]
async fn the_default_hello_world_belt_runs_without_the_belt_library_installed() {
    let harness = Harness::new();
    let callback = belt_api::domain::defaults::HELLO_WORLD_EXTRACTOR_FN;
    harness
        .runtime
        .apply(&spec(20, 1, 1, callback))
        .await
        .unwrap();
    harness.wait_for_phase(20, Phase::Running).await;
    harness.runtime.shutdown().await;
}

/// A belt that stays silent once ready: a replica that writes would die of the closed pipe once
/// its API is gone, and recovery would have nothing left to prove.
fn silent(id: i64, replicas: u32, callback: &str) -> ReplicaSpec {
    let mut spec = spec(id, 1, replicas, callback);
    spec.env
        .retain(|entry| entry.name != "BELT_HOST_IDLE_SECONDS");
    spec.env.push(plain("BELT_HOST_IDLE_SECONDS", "600"));
    spec
}

/// Like `kill -9` of the API at the worst moment: the replicas run, but nothing about them was
/// recorded (the API died between spawning them and writing their state files).
fn crash_before_recording(harness: Harness) -> TempDir {
    let Harness { dir, runtime } = harness;
    drop(runtime);
    let belts = dir.path().canonicalize().unwrap().join("belts");
    for belt_dir in std::fs::read_dir(&belts).unwrap().flatten() {
        for replica in std::fs::read_dir(belt_dir.path()).unwrap().flatten() {
            let _ = std::fs::remove_file(replica.path().join("belt-replica.json"));
        }
    }
    dir
}

#[tokio::test]
async fn recover_finds_replicas_that_were_never_recorded_even_without_their_work_dir() {
    let harness = Harness::new();
    harness
        .runtime
        .apply(&silent(21, 2, IDLE_CALLBACK))
        .await
        .unwrap();
    harness.wait_for_phase(21, Phase::Running).await;
    let orphans = pids(&harness.runtime, 21).await;
    let belt_dir = harness.belt_dir(21);
    let dir = crash_before_recording(harness);
    // One of them even lost its work dir.
    std::fs::remove_dir_all(belt_dir.join("grnry-belt-21-1-0")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(orphans.iter().all(|&pid| alive(pid)));

    let restarted = LocalRuntime::new(LocalConfig::for_tests(dir.path())).unwrap();
    restarted.recover().await.unwrap();

    assert!(
        orphans.iter().all(|&pid| !alive(pid)),
        "replicas without a state file survived recover()"
    );
    assert_eq!(replica_groups_in(&belt_dir), 0);
    let left = left_in_belt_dir(&belt_dir);
    assert!(left.is_empty(), "the belt dir kept {left:?}");
}

/// What a belt dir holds besides its venv (created empty for the sandbox to bind, and kept across
/// restarts).
fn left_in_belt_dir(belt_dir: &Path) -> Vec<std::ffi::OsString> {
    std::fs::read_dir(belt_dir)
        .map(|dir| dir.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|name| name != "venv" && name != "venv.lock")
        .collect()
}

#[tokio::test]
async fn recover_reaches_what_a_replica_started_with_an_empty_environment() {
    let harness = Harness::new();
    let callback = "import random, subprocess\n\
         token = '60.%08d1' % random.randrange(10 ** 8)\n\
         subprocess.Popen(['env', '-i', 'sleep', token])\n\
         print('CHILD', token, flush=True)\n\
         def execute(headers, event, profile=None):\n    return []\n";
    harness
        .runtime
        .apply(&silent(22, 1, callback))
        .await
        .unwrap();
    harness.wait_for_phase(22, Phase::Running).await;
    let runtime = &harness.runtime;
    let token = wait_until("the child's token", || async move {
        child_tokens(runtime, 22).await.into_iter().next()
    })
    .await;
    let leaders = pids(&harness.runtime, 22).await;
    // `env -i` runs first with the replica's environment, then becomes `sleep` without any.
    let child = wait_until("the child to drop its environment", || {
        let token = token.clone();
        async move {
            let pid = sleeping_pid(&token)?;
            std::fs::read(format!("/proc/{pid}/environ"))
                .ok()?
                .is_empty()
                .then_some(pid)
        }
    })
    .await;
    let dir = crash_before_recording(harness);

    let restarted = LocalRuntime::new(LocalConfig::for_tests(dir.path())).unwrap();
    restarted.recover().await.unwrap();

    assert!(leaders.iter().all(|&pid| !alive(pid)));
    assert!(
        !alive(child),
        "a child without the marker escaped recover()"
    );
}

#[tokio::test]
async fn recover_leaves_its_own_replicas_and_other_data_dirs_alone() {
    let ours = Harness::new();
    let theirs = Harness::new();
    ours.runtime
        .apply(&silent(23, 1, IDLE_CALLBACK))
        .await
        .unwrap();
    theirs
        .runtime
        .apply(&silent(24, 1, IDLE_CALLBACK))
        .await
        .unwrap();
    ours.wait_for_phase(23, Phase::Running).await;
    theirs.wait_for_phase(24, Phase::Running).await;
    let running = [
        pids(&ours.runtime, 23).await,
        pids(&theirs.runtime, 24).await,
    ]
    .concat();

    ours.runtime.recover().await.unwrap();
    Harness::new().runtime.recover().await.unwrap();
    assert!(
        alive(running[0]),
        "recover() stopped a replica it supervises"
    );
    assert!(
        alive(running[1]),
        "recover() stopped the replica of another data dir"
    );

    ours.runtime.shutdown().await;
    theirs.runtime.shutdown().await;
}

#[tokio::test]
async fn recover_refuses_to_go_on_when_the_process_list_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    for proc_dir in [dir.path().join("no-such-proc"), dir.path().to_path_buf()] {
        let config = LocalConfig {
            proc_dir,
            ..LocalConfig::for_tests(dir.path().join("data"))
        };
        let runtime = LocalRuntime::new(config).unwrap();
        let err = runtime
            .recover()
            .await
            .expect_err("an unreadable process list was read as 'nothing runs'");
        assert!(
            format!("{err:#}").contains("listing the running processes"),
            "{err:#}"
        );
    }
}
