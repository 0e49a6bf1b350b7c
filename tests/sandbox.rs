//! Replicas on the local runtime run sandboxed (docs/local-sandbox.md): a callback written by an
//! editor tries to read belt-api's signing key, its database, its environment and another belt's
//! files, and to write outside its work dir, and fails at each. Real bundled Python belt host,
//! real bubblewrap; `none` still runs, and a sandbox that cannot be set up stops belt-api from
//! starting.

use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use belt_api::domain::replica::ReplicaSpec;
use belt_api::runtime::local::{LocalConfig, LocalRuntime, SandboxConfig};
use belt_api::runtime::{Phase, ReplicaLogs, Runtime};
use belt_test_support::binary::Spawn;

#[path = "support/local.rs"]
mod support;
use support::{belt, plain, replica_spec};

const PATIENCE: Duration = Duration::from_secs(30);

/// What belt 2's callback keeps in its work dir: belt 1 must not read it.
const NEIGHBOUR_SECRET: &str = "neighbour-secret-5f2d";
const DATABASE_SECRET: &str = "database-secret-91ac";
const ENV_SECRET: &str = "environment-secret-7c3e";
/// What a user keeps in a home directory (a CLI config with a token, a kubeconfig), readable by
/// everyone on the host.
const HOME_SECRET: &str = "home-secret-d41b";

/// Tries each attack at import and prints one `ATTEMPT <name> <outcome>` line per attack:
/// `OK <what it got>` when it worked, else the exception's class and errno.
const ATTACKER: &str = r#"
import os, sys

def attempt(name, action):
    try:
        value = action()
        shown = value.hex() if isinstance(value, bytes) else repr(value)
        print(f"ATTEMPT {name} OK {shown}", flush=True)
    except OSError as error:
        print(f"ATTEMPT {name} {type(error).__name__} errno={error.errno}", flush=True)

def read(path):
    with open(path, "rb") as file:
        return file.read()

def write(path):
    with open(path, "w") as file:
        file.write("pwned")
    return "written"

data = os.environ["TARGET_DATA_DIR"]
attempt("signing-key", lambda: read(os.path.join(data, "dev-signing-key.pk8")))
attempt("database", lambda: read(os.path.join(data, "belts.db")))
attempt("neighbour", lambda: read(os.environ["TARGET_NEIGHBOUR"]))
attempt("environ", lambda: read(f"/proc/{os.environ['TARGET_PID']}/environ"))
attempt("neighbour-dir", lambda: os.listdir(os.path.join(data, "belts", "2")))
attempt("write-data-dir", lambda: write(os.path.join(data, "pwned")))
attempt("write-belt-dir", lambda: write(os.path.join(os.getcwd(), os.pardir, "pwned")))
attempt("write-neighbour", lambda: write(os.environ["TARGET_NEIGHBOUR"]))
attempt("write-host-script", lambda: write(os.path.join(data, "host", "belt_host.py")))
attempt("write-etc", lambda: write("/etc/belt-pwned"))
attempt("terminal", lambda: open("/dev/tty", "rb"))
attempt("home", lambda: read(os.environ["TARGET_HOME_FILE"]))
attempt("own-work-dir", lambda: write("mine.txt"))

def execute(headers, event, profile=None):
    return []
"#;

fn spec(id: i64, callback: &str, env: &[(&str, &str)]) -> ReplicaSpec {
    let mut entries = vec![
        plain("BELT_ID", &id.to_string()),
        plain("FETCH_PROFILE", "FALSE"),
        plain("BELT_HOST_IDLE_SECONDS", "0.2"),
    ];
    entries.extend(env.iter().map(|(name, value)| plain(name, value)));
    replica_spec(id, 1, 1, callback, entries)
}

async fn wait_until<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    support::wait_until(what, PATIENCE, check).await
}

async fn wait_for_phase(runtime: &LocalRuntime, id: i64, phase: Phase) {
    wait_until(&format!("belt {id} {phase:?}"), || async move {
        (runtime.observe(belt(id))?.phase == phase).then_some(())
    })
    .await;
}

/// The `ATTEMPT` outcomes of belt `id`, once all of them are logged, and every log line.
async fn attempts(runtime: &LocalRuntime, id: i64) -> (BTreeMap<String, String>, Vec<String>) {
    wait_until("the attacker's report", || async move {
        let logs = runtime.logs(belt(id), 500).await.unwrap();
        let lines: Vec<String> = logs.into_values().flatten().collect();
        let outcomes: BTreeMap<String, String> = lines
            .iter()
            .filter_map(|line| line.split_once(" ATTEMPT "))
            .filter_map(|(_, rest)| rest.split_once(' '))
            .map(|(name, outcome)| (name.to_string(), outcome.to_string()))
            .collect();
        outcomes
            .contains_key("own-work-dir")
            .then_some((outcomes, lines))
    })
    .await
}

/// A data dir as belt-api leaves it: its dev signing key and its database.
fn data_dir_with_secrets() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    belt_api::auth::DevKey::load_or_create(&data).unwrap();
    let key = std::fs::read(data.join("dev-signing-key.pk8")).unwrap();
    std::fs::write(data.join("belts.db"), format!("{DATABASE_SECRET}\n")).unwrap();
    (dir, data, key)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Log lines that show any secret, as text or as the hex the attacker prints bytes in.
fn leaks(lines: &[String], key: &[u8]) -> Vec<String> {
    let mut needles = vec![hex(&key[key.len() - 16..])];
    for secret in [DATABASE_SECRET, NEIGHBOUR_SECRET, ENV_SECRET, HOME_SECRET] {
        needles.extend([secret.to_string(), hex(secret.as_bytes())]);
    }
    lines
        .iter()
        .filter(|line| needles.iter().any(|needle| line.contains(needle.as_str())))
        .cloned()
        .collect()
}

async fn attack(runtime: &LocalRuntime, data: &Path) -> (BTreeMap<String, String>, Vec<String>) {
    // Belt 2 runs first and keeps a secret in its callback.
    let neighbour_callback = format!(
        "SECRET = {NEIGHBOUR_SECRET:?}\ndef execute(headers, event, profile=None):\n    return []\n"
    );
    runtime
        .apply(&spec(2, &neighbour_callback, &[]))
        .await
        .unwrap();
    wait_for_phase(runtime, 2, Phase::Running).await;
    let neighbour = data.join("belts/2/grnry-belt-2-1-0/callback.py");
    assert!(neighbour.exists());

    let pid = std::process::id().to_string();
    let home = home_with_secret();
    let home_file = home.path().join(".config/belt/config.yaml");
    let attacker = spec(
        1,
        ATTACKER,
        &[
            ("TARGET_DATA_DIR", data.to_str().unwrap()),
            ("TARGET_NEIGHBOUR", neighbour.to_str().unwrap()),
            ("TARGET_PID", &pid),
            ("TARGET_HOME_FILE", home_file.to_str().unwrap()),
        ],
    );
    runtime.apply(&attacker).await.unwrap();
    wait_for_phase(runtime, 1, Phase::Running).await;
    attempts(runtime, 1).await
}

/// A home directory under `/home` whose files everyone may read, as a user's usually are (finding
/// 9 of issue 18): without the sandbox hiding homes, a replica under any uid reads it.
fn home_with_secret() -> tempfile::TempDir {
    std::fs::create_dir_all("/home").unwrap();
    let home = tempfile::Builder::new()
        .prefix("belt-sandbox-test-")
        .tempdir_in("/home")
        .unwrap();
    let config = home.path().join(".config/belt");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config.yaml"),
        format!("token: {HOME_SECRET}\n"),
    )
    .unwrap();
    for dir in [home.path(), &home.path().join(".config"), &config] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    home
}

fn denied(outcome: &str) -> bool {
    outcome.starts_with("PermissionError ") || outcome.starts_with("FileNotFoundError ")
}

#[tokio::test]
async fn a_callback_can_reach_neither_secrets_nor_other_belts_nor_anything_outside_its_work_dir() {
    // A secret in belt-api's own environment, as a database password would be.
    std::env::set_var("BELT_API_SANDBOX_TEST_SECRET", ENV_SECRET);
    // Homes are hidden when the sandbox is set up: `/home` must exist by then.
    std::fs::create_dir_all("/home").unwrap();
    let (_dir, data, key) = data_dir_with_secrets();
    let runtime = LocalRuntime::new(LocalConfig::for_tests(&data)).unwrap();

    let (outcomes, lines) = attack(&runtime, &data).await;

    eprintln!("attempts: {outcomes:#?}");
    // The only thing it may do: write its own work dir.
    assert!(outcomes["own-work-dir"].starts_with("OK"), "{outcomes:#?}");
    let own = data.join("belts/1/grnry-belt-1-1-0/mine.txt");
    assert_eq!(std::fs::read_to_string(own).unwrap(), "pwned");
    for name in [
        "signing-key",
        "database",
        "neighbour",
        "environ",
        "neighbour-dir",
        "write-data-dir",
        "write-belt-dir",
        "write-neighbour",
        "write-host-script",
        "write-etc",
        "home",
    ] {
        let outcome = &outcomes[name];
        // Outside its work dir everything is mounted read-only: a write may also say so.
        let read_only = name.starts_with("write-") && outcome.starts_with("OSError errno=30");
        assert!(
            denied(outcome) || read_only,
            "{name}: {outcome} (all: {outcomes:#?})"
        );
    }
    // Not merely "no terminal here" (ENXIO): the controlling terminal cannot be opened at all.
    assert!(
        outcomes["terminal"].starts_with("PermissionError "),
        "{outcomes:#?}"
    );
    assert_eq!(leaks(&lines, &key), Vec::<String>::new());
    // Nothing changed outside its work dir.
    assert!(!data.join("pwned").exists());
    assert!(!data.join("belts/1/pwned").exists());
    assert!(!Path::new("/etc/belt-pwned").exists());
    let neighbour = data.join("belts/2/grnry-belt-2-1-0/callback.py");
    assert!(std::fs::read_to_string(neighbour)
        .unwrap()
        .contains(NEIGHBOUR_SECRET));
    let host = std::fs::read_to_string(data.join("host/belt_host.py")).unwrap();
    assert!(
        host.starts_with("\"\"\"belt-host"),
        "the host script changed"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn each_belt_runs_as_a_uid_of_its_own_when_belt_api_is_root() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = LocalRuntime::new(LocalConfig::for_tests(dir.path())).unwrap();
    let callback =
        "import os\nprint('IDS', os.getuid(), os.getgid(), os.getgroups(), flush=True)\n\
        def execute(headers, event, profile=None):\n    return []\n";
    for id in [3, 4] {
        runtime.apply(&spec(id, callback, &[])).await.unwrap();
    }
    let root = std::fs::metadata(dir.path().canonicalize().unwrap())
        .map(|meta| std::os::unix::fs::MetadataExt::uid(&meta) == 0)
        .unwrap();
    for id in [3, 4] {
        wait_for_phase(&runtime, id, Phase::Running).await;
        let runtime = &runtime;
        let ids = wait_until("the ids line", || async move {
            let logs = runtime.logs(belt(id), 500).await.unwrap();
            logs.into_values()
                .flatten()
                .find_map(|line| Some(line.split_once(" IDS ")?.1.to_string()))
        })
        .await;
        if root {
            let uid = 1_000_000_000 + id;
            assert_eq!(ids, format!("{uid} {uid} []"));
        } else {
            assert!(!ids.starts_with("0 "), "{ids}");
        }
    }
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_stopped_replica_gets_sigterm_and_shuts_down_cleanly_inside_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    let runtime = LocalRuntime::new(LocalConfig::for_tests(&data)).unwrap();
    // The callback's code runs in the replica's worker, which can write nothing that outlives
    // its work dir: it prints a mark on a clean exit, into the log kept by a hard link.
    let callback = "import atexit, sys\n\
        atexit.register(lambda: print('clean-exit', file=sys.stderr, flush=True))\n\
        def execute(headers, event, profile=None):\n    return []\n";
    runtime.apply(&spec(5, callback, &[])).await.unwrap();
    wait_for_phase(&runtime, 5, Phase::Running).await;
    let work_dir = std::fs::read_dir(data.join("belts/5"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.join("belt.log").is_file())
        .expect("the replica's work dir");
    let kept = data.join("kept.log");
    std::fs::hard_link(work_dir.join("belt.log"), &kept).unwrap();
    let mut next = spec(5, IDLE, &[]);
    next.generation = 2;
    runtime.apply(&next).await.unwrap();
    let log = std::fs::read_to_string(&kept).unwrap();
    assert!(
        log.contains("clean-exit"),
        "the replica was killed instead of stopped:\n{log}"
    );
    runtime.shutdown().await;
}

const IDLE: &str = "def execute(headers, event, profile=None):\n    return []\n";

/// Swaps the files belt-api keeps in the work dir for symlinks to belt-api's files, then exits
/// once, so that belt-api restarts it and writes its state file again.
const PLANTER: &str = r#"
import os, sys
data = os.environ["TARGET_DATA_DIR"]
for name, target in [("belt.log", "belts.db"), ("belt.log.1", "belts.db"),
                     ("belt-replica.json.tmp", "victim")]:
    try:
        os.remove(name)
    except FileNotFoundError:
        pass
    os.symlink(os.path.join(data, target), name)
print("PLANTED", flush=True)
if not os.path.exists("second-run"):
    open("second-run", "w").close()
    sys.exit(1)

def execute(headers, event, profile=None):
    return []
"#;

/// Writes a frame header of 4 GiB into every fd it has: one of them is the worker's channel to the
/// trusted host (docs/local-sandbox.md#two-processes).
const CHANNEL_FORGER: &str = r#"
import os
for fd in range(3, 64):
    try:
        os.write(fd, b"\xff\xff\xff\xffgarbage")
    except OSError:
        pass

def execute(headers, event, profile=None):
    return []
"#;

#[tokio::test]
async fn a_worker_that_writes_garbage_into_its_channel_fails_its_replica_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().canonicalize().unwrap();
    let runtime = LocalRuntime::new(LocalConfig::for_tests(&data)).unwrap();
    runtime.apply(&spec(6, CHANNEL_FORGER, &[])).await.unwrap();
    let runtime = &runtime;
    let terminated = wait_until("the replica's failure", || async move {
        let details = serde_json::to_value(runtime.details(belt(6)).await.unwrap()?).unwrap();
        let terminated =
            details["podStatus"][0]["containerStatus"][0]["lastState"]["terminated"].clone();
        terminated.is_object().then_some(terminated)
    })
    .await;
    assert_eq!(terminated["exitCode"], 1, "{terminated:#}");
    let message = terminated["message"].as_str().unwrap();
    assert!(
        message.contains("the worker sent a frame of 4294967295 bytes")
            && message.contains("stopping the replica"),
        "{message}"
    );
    assert_ne!(runtime.observe(belt(6)).unwrap().phase, Phase::Running);
    runtime.shutdown().await;
}

#[tokio::test]
async fn belt_api_never_follows_a_symlink_a_replica_planted_in_its_work_dir() {
    let (_dir, data, _key) = data_dir_with_secrets();
    let victim = data.join("victim");
    std::fs::write(&victim, "victim-intact").unwrap();
    let runtime = LocalRuntime::new(LocalConfig::for_tests(&data)).unwrap();
    let target = data.to_str().unwrap();
    runtime
        .apply(&spec(7, PLANTER, &[("TARGET_DATA_DIR", target)]))
        .await
        .unwrap();

    // The restarted replica finds its state file unwritable and is stopped, again and again.
    let runtime = &runtime;
    let victim = &victim;
    let message = wait_until("the refused state file", || async move {
        let written = std::fs::read_to_string(victim).unwrap() != "victim-intact";
        let details = serde_json::to_value(runtime.details(belt(7)).await.unwrap()?).unwrap();
        let terminated = &details["podStatus"][0]["containerStatus"][0]["lastState"]["terminated"];
        let message = terminated["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (written || message.contains("state file")).then_some(message)
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(victim).unwrap(),
        "victim-intact",
        "belt-api wrote through the planted symlink"
    );
    assert!(
        message.contains("could not write the replica's state file"),
        "{message}"
    );
    let logs = runtime.logs(belt(7), 500).await.unwrap();
    let lines: Vec<&String> = logs.values().flatten().collect();
    assert!(
        lines.iter().all(|line| !line.contains(DATABASE_SECRET)),
        "the logs showed belts.db: {lines:#?}"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn none_runs_replicas_without_isolation() {
    let (_dir, data, _key) = data_dir_with_secrets();
    let config = LocalConfig {
        sandbox: SandboxConfig::None,
        ..LocalConfig::for_tests(&data)
    };
    let runtime = LocalRuntime::new(config).unwrap();
    let callback = format!(
        "import os\nprint('READ', open({:?}).read(), flush=True)\n{IDLE}",
        data.join("belts.db").display().to_string()
    );
    runtime.apply(&spec(6, &callback, &[])).await.unwrap();
    wait_for_phase(&runtime, 6, Phase::Running).await;
    let logs = runtime.logs(belt(6), 500).await.unwrap();
    assert!(
        logs.values()
            .flatten()
            .any(|line| line.ends_with(&format!("READ {DATABASE_SECRET}"))),
        "{logs:#?}"
    );
    runtime.shutdown().await;
}

fn error_of(config: SandboxConfig) -> String {
    let dir = tempfile::tempdir().unwrap();
    let config = LocalConfig {
        sandbox: config,
        ..LocalConfig::for_tests(dir.path())
    };
    match LocalRuntime::new(config) {
        Ok(_) => panic!("the runtime started without a working sandbox"),
        Err(err) => format!("{err:#}"),
    }
}

fn fake_bwrap(dir: &Path, script: &str) -> PathBuf {
    let path = dir.join("bwrap");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn a_sandbox_that_cannot_be_set_up_is_refused_naming_the_setting() {
    let missing = error_of(SandboxConfig::Bwrap {
        program: "/nonexistent/bwrap".into(),
        uid_base: 1_000_000_000,
    });
    assert!(missing.contains("BELT_LOCAL_SANDBOX=bwrap"), "{missing}");
    assert!(
        missing.contains("apt-get install -y bubblewrap"),
        "{missing}"
    );
    assert!(missing.contains("BELT_LOCAL_SANDBOX=none"), "{missing}");

    let tools = tempfile::tempdir().unwrap();
    let failing = error_of(SandboxConfig::Bwrap {
        program: fake_bwrap(tools.path(), "echo 'bwrap: No permissions' >&2; exit 1"),
        uid_base: 1_000_000_000,
    });
    assert!(failing.contains("does not work"), "{failing}");
    assert!(failing.contains("bwrap: No permissions"), "{failing}");

    // A "bwrap" that runs the program without isolating it: the probe sees the data dir.
    let leaky = error_of(SandboxConfig::Bwrap {
        program: fake_bwrap(
            tools.path(),
            "while [ \"$1\" != --default-signal=TERM ]; do shift; done; shift 2; exec \"$@\"",
        ),
        uid_base: 1_000_000_000,
    });
    assert!(leaky.contains("could see belt-api's data dir"), "{leaky}");
}

/// `belt-api serve` itself: the error an operator sees, and the exit code scripts see.
#[test]
fn serve_refuses_to_start_without_a_working_sandbox_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = |env: &[(&str, &str)]| {
        Spawn::serve(env!("CARGO_BIN_EXE_belt-api"))
            .current_dir(dir.path())
            // The broker starts before the runtime; this test is about the runtime's refusal.
            .env("BELT_KAFKA_BROKER", "none")
            .envs(env.iter().copied())
            .run_to_exit()
    };
    let (status, stderr) = run(&[("BELT_LOCAL_SANDBOX_BWRAP", "/nonexistent/bwrap")]);
    assert!(!status.success());
    assert!(stderr.contains("BELT_LOCAL_SANDBOX=bwrap"), "{stderr}");
    assert!(stderr.contains("apt-get install -y bubblewrap"), "{stderr}");

    let (status, stderr) = run(&[("BELT_LOCAL_SANDBOX", "chroot")]);
    assert!(!status.success());
    assert!(stderr.contains("--local-sandbox"), "{stderr}");
    assert!(
        stderr.contains("bwrap") && stderr.contains("none"),
        "{stderr}"
    );
}
