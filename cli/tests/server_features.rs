//! `belt` on the server features of issue 12: logs that follow, history, revisions and rollback,
//! bulk START/STOP, and `wait` through the watch; and the everyday loop that uses them all.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{changed_example, serve_on, Backend, User, EXAMPLE_BELT};

on_both_databases!(
    the_everyday_loop_never_needs_curl,
    logs_follow_shows_the_ready_line_and_ends_when_the_belt_stops,
    logs_since_and_previous_reach_the_server,
    history_lists_each_step_with_its_actor,
    lag_reads_the_series_and_names_a_bad_since,
    revisions_and_rollback_store_the_old_content_as_a_new_version,
    bulk_start_and_stop_by_status_and_search,
    wait_uses_the_watch_and_sees_the_belt_come_up,
);

fn with_example_belt(backend: Backend) -> (support::Server, User) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let file = user.write("belt.yaml", EXAMPLE_BELT);
    user.ok(&["apply", "-f", file.to_str().unwrap()]);
    (server, user)
}

fn logs_follow_shows_the_ready_line_and_ends_when_the_belt_stops(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    user.ok(&["start", "42", "--wait", "--timeout", "90s"]);
    let mut follow = user
        .command(&["logs", "42", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("grnry-belt-42-1-0 ") && l.ends_with("belt-host: ready"))
    {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("no ready line in 10 s: {seen:?}"));
        if let Ok(line) = rx.recv_timeout(left) {
            seen.push(line);
        }
    }
    user.ok(&["stop", "42"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = follow.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "logs -f did not end after STOP");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

fn logs_since_and_previous_reach_the_server(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    user.ok(&["start", "42", "--wait", "--timeout", "90s"]);
    let recent = user.json(&["logs", "42", "--since", "10m"]);
    let lines = recent["logs"]["grnry-belt-42-1-0"]
        .as_array()
        .expect("the replica's lines");
    assert!(
        lines
            .iter()
            .any(|l| l.as_str().unwrap().ends_with("belt-host: ready")),
        "{recent}"
    );
    let future = user.json(&["logs", "42", "--since", "2999-01-01T00:00:00Z"]);
    assert!(
        future["logs"]
            .as_object()
            .unwrap()
            .values()
            .all(|l| l.as_array().unwrap().is_empty()),
        "{future}"
    );
    let previous = user.json(&["logs", "42", "--previous"]);
    assert!(
        previous["logs"]
            .as_object()
            .unwrap()
            .values()
            .all(|l| l.as_array().unwrap().is_empty()),
        "no earlier run: {previous}"
    );
}

fn history_lists_each_step_with_its_actor(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    user.ok(&["start", "42", "--wait", "--timeout", "90s"]);
    user.ok(&["stop", "42"]);
    let history = user.json(&["history", "42"]);
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["created", "started", "statusChanged", "stopped"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert_eq!(actions.last(), Some(&"created"), "newest first");
    let created = history["items"].as_array().unwrap().last().unwrap();
    assert_eq!(created["actor"], "Dev User");
    let table = user.ok(&["history", "42"]).stdout();
    assert!(
        table.contains("DEPLOYING → RUNNING") && table.contains("Dev User"),
        "{table}"
    );
    let described = user.ok(&["describe", "42"]).stdout();
    assert!(
        described.contains("Recent history:") && described.contains("created"),
        "{described}"
    );
}

fn lag_reads_the_series_and_names_a_bad_since(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    // This server has no data plane: nothing is measured, and the CLI says why.
    assert_eq!(
        user.json(&["lag", "42"]),
        serde_json::json!({"samples": []})
    );
    let told = user.ok(&["lag", "42", "--since", "10m"]).stdout();
    assert!(told.contains("No samples"), "{told}");
    let refused = user.run(&["lag", "42", "--since", "soon"]);
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(refused.stderr().contains("'since'"), "{refused}");
    let missing = user.run(&["lag", "4242"]);
    assert_eq!(missing.code(), 3, "{missing}");
}

fn revisions_and_rollback_store_the_old_content_as_a_new_version(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    user.ok(&["start", "42", "--wait", "--timeout", "90s"]);
    let changed = user.write("changed.yaml", &changed_example());
    user.ok(&["apply", "-f", changed.to_str().unwrap()]);
    assert_eq!(user.json(&["get", "42"])["status"], "RUNNING_BUT_OUTDATED");
    let revisions = user.json(&["revisions", "42"]);
    let versions: Vec<u64> = revisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    let first = user.json(&["revisions", "42", "1"]);
    assert_eq!(
        first["extractorFn"],
        "def execute(headers, event):\n    return [event]\n"
    );

    let rolled = user.ok(&["rollback", "42"]);
    assert!(
        rolled
            .stdout()
            .contains("belt 42 rolled back: version 2 → 3"),
        "{rolled}"
    );
    assert!(rolled.stdout().contains("+     return [event]"), "{rolled}");
    let belt = user.json(&["get", "42"]);
    assert_eq!(belt["version"], "3");
    assert_eq!(belt["extractorFn"], first["extractorFn"]);
    assert_eq!(belt["status"], "RUNNING_BUT_OUTDATED");
    let revisions = user.json(&["revisions", "42"]);
    assert_eq!(revisions["items"][0]["rollbackOf"], 1);
    let missing = user.run(&["rollback", "42", "--to", "77"]);
    assert_eq!(missing.code(), 3, "{missing}");
    let unchanged = user.ok(&["rollback", "42", "--to", "3"]);
    assert!(unchanged.stdout().contains("unchanged"), "{unchanged}");
    user.ok(&["stop", "42"]);
}

fn bulk_start_and_stop_by_status_and_search(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let documents: Vec<String> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| format!("name: {n}\neventTypes: [t]\n"))
        .collect();
    let file = user.write("three.yaml", &documents.join("---\n"));
    user.ok(&["apply", "-f", file.to_str().unwrap()]);

    let started = user.json(&["start", "--status", "STOPPED", "--search", "a"]);
    assert_eq!(started["totalCount"], 3);
    assert!(
        started["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "changed"),
        "{started}"
    );
    // Stopping what is stopped is refused belt by belt: the exit code says so.
    user.ok(&["stop", "--search", "beta"]);
    let refused = user.run(&["stop", "--status", "STOPPED"]);
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(
        refused.stdout().contains("refused") && refused.stdout().contains("cannot be 'STOP'"),
        "{refused}"
    );
    let table = user.ok(&["stop", "--status", "DEPLOYING,RUNNING"]).stdout();
    assert_eq!(table.matches("changed").count(), 2, "{table}");
    let nothing = user.run(&["stop", "--status", "NOPE"]);
    assert_eq!(nothing.code(), 4, "{nothing}");
}

fn wait_uses_the_watch_and_sees_the_belt_come_up(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    let waiting = user
        .command(&["wait", "42", "--for=RUNNING", "--timeout", "90s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    user.ok(&["start", "42"]);
    let done = support::Run(waiting.wait_with_output().unwrap());
    assert_eq!(done.code(), 0, "{done}");
    assert!(done.stdout().contains("belt 42 is RUNNING"), "{done}");
    assert!(
        !done.stderr().contains("polling"),
        "the watch was used: {done}"
    );
    let started = user.ok(&["stop", "42", "--wait", "--timeout", "30s"]);
    assert!(!started.stderr().contains("polling"), "{started}");
    let value: Value = user.json(&["get", "42"]);
    assert_eq!(value["status"], "STOPPED");
}

/// Issue 12's first acceptance test: the everyday loop, start to end, with the real binaries.
fn the_everyday_loop_never_needs_curl(backend: Backend) {
    let (_server, user) = with_example_belt(backend);
    user.ok(&["start", "42", "--wait", "--timeout", "90s"]);
    let mut follow = user
        .command(&["logs", "42", "-f"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("the ready line within 10 s");
        if rx
            .recv_timeout(left)
            .is_ok_and(|l| l.ends_with("belt-host: ready"))
        {
            break;
        }
    }
    let changed = user.write("changed.yaml", &changed_example());
    user.ok(&["apply", "-f", changed.to_str().unwrap()]);
    let table = user.ok(&["get"]).stdout();
    assert!(table.contains("RUNNING_BUT_OUTDATED"), "{table}");
    user.ok(&["rollback", "42"]);
    let belt = user.json(&["get", "42"]);
    assert_eq!(belt["version"], "3");
    assert_eq!(
        belt["extractorFn"],
        "def execute(headers, event):\n    return [event]\n"
    );
    user.ok(&["stop", "42", "--wait", "--timeout", "60s"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while follow.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "logs -f did not end after STOP");
        std::thread::sleep(Duration::from_millis(100));
    }
    let history = user.json(&["history", "42", "--limit", "100"]);
    let steps: Vec<(&str, &str)> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    for (action, actor) in [
        ("created", "Dev User"),
        ("started", "Dev User"),
        ("replaced", "Dev User"),
        ("stopped", "Dev User"),
        ("statusChanged", "belt-api"),
    ] {
        assert!(
            steps.contains(&(action, actor)),
            "{action} by {actor} in {steps:?}"
        );
    }
    assert_eq!(
        steps.iter().filter(|(a, _)| *a == "replaced").count(),
        2,
        "the apply and the rollback: {steps:?}"
    );
    user.ok(&["delete", "42"]);
    assert_eq!(user.run(&["get", "42"]).code(), 3);
}
