//! `belt` against the real `belt-api`, on the endpoints every belt-api has.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use serde_json::Value;
use support::{changed_example, serve_on, Backend, User, EXAMPLE_BELT};

on_both_databases!(
    login_dev_stores_the_token_in_a_config_file_of_mode_0600,
    apply_get_describe_delete_of_the_v2_example_belt,
    get_pages_through_next_links,
    export_then_apply_on_a_second_server_gives_equal_documents,
    apply_unchanged_makes_no_new_version_and_a_change_shows_its_diff,
    apply_racing_another_writer_ends_in_a_conflict_never_an_overwrite,
    start_wait_reaches_running_and_stop_wait_stopped,
);

fn login_dev_stores_the_token_in_a_config_file_of_mode_0600(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let mode = std::fs::metadata(user.config_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the config file holds a token");
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(
        config.contains("token: ey"),
        "the dev token is stored: {config}"
    );
    let contexts = user.json(&["config", "get-contexts"]);
    assert_eq!(contexts["items"][0]["name"], "local");
    assert_eq!(contexts["items"][0]["current"], true);
    // The token works: the empty project lists.
    assert_eq!(user.json(&["get"])["items"], Value::Array(vec![]));
    // And the server says whom it names: a dev editor of the context's project.
    let me = user.json(&["whoami"]);
    let demo = serde_json::json!([{"project": "demo", "role": "editor"}]);
    assert_eq!(me["projects"], demo, "{me}");
    assert_eq!(me["name"], "Dev User", "{me}");
    let table = user.ok(&["whoami"]).stdout();
    assert!(table.starts_with("Dev User <dev@localhost>"), "{table}");
    assert!(
        table.contains("PROJECT") && table.contains("demo"),
        "{table}"
    );
    // Without a token the server refuses, and the exit code says so.
    let anonymous = User::new();
    anonymous.ok(&["config", "set-context", "x", "--server", &server.address]);
    let refused = anonymous.run(&["get"]);
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(refused.stderr().contains("HTTP 401"), "{refused}");
}

fn apply_get_describe_delete_of_the_v2_example_belt(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let file = user.write("belt.yaml", EXAMPLE_BELT);
    let applied = user.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(
        applied
            .stdout()
            .contains("belt 42 (hello-belt) created (version 1)"),
        "{applied}"
    );

    let belt = user.json(&["get", "42"]);
    assert_eq!(belt["name"], "hello-belt");
    assert_eq!(belt["status"], "STOPPED");
    assert_eq!(
        belt["extractorFn"],
        "def execute(headers, event):\n    return [event]\n"
    );
    let yaml: Value =
        serde_yaml::from_str(&user.ok(&["get", "42", "-o", "yaml"]).stdout()).unwrap();
    assert_eq!(yaml, belt, "YAML and JSON show the same document");
    let table = user.ok(&["get"]).stdout();
    assert!(table.starts_with("ID  NAME"), "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("42  hello-belt  STOPPED  1"),
        "{table}"
    );
    let wide = user.ok(&["get", "-o", "wide"]).stdout();
    assert!(
        wide.contains("EVENT TYPES") && wide.contains("page-view") && wide.contains("Dev User"),
        "{wide}"
    );

    let described = user.ok(&["describe", "42"]).stdout();
    for expected in [
        "Name:           hello-belt",
        "Status:         STOPPED",
        "Event types:    page-view",
        "Replicas:       none deployed",
    ] {
        assert!(
            described.contains(expected),
            "describe lacks `{expected}`:\n{described}"
        );
    }
    let described = user.json(&["describe", "42"]);
    assert_eq!(described["state"]["status"], "STOPPED");

    let deleted = user.ok(&["delete", "42"]);
    assert!(deleted.stdout().contains("belt 42 deleted"), "{deleted}");
    let gone = user.run(&["get", "42"]);
    assert_eq!(gone.code(), 3, "not found: {gone}");
    assert!(
        gone.stderr().contains("not found") && gone.stderr().contains("HTTP 404"),
        "{gone}"
    );
}

fn get_pages_through_next_links(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let documents: Vec<String> = (1..=25)
        .map(|n| format!("name: belt-{n:02}\neventTypes: [t{n}]\n"))
        .collect();
    let file = user.write("many.yaml", &documents.join("---\n"));
    user.ok(&["apply", "-f", file.to_str().unwrap()]);

    for chunk in ["7", "20", "250"] {
        let listed = user.json(&["get", "--chunk-size", chunk]);
        let names: Vec<&str> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap())
            .collect();
        let expected: Vec<String> = (1..=25).map(|n| format!("belt-{n:02}")).collect();
        assert_eq!(
            names, expected,
            "every belt once, in id order, pages of {chunk}"
        );
    }
    let table = user.ok(&["get"]).stdout();
    assert_eq!(table.lines().count(), 26, "a header and 25 rows:\n{table}");
    let searched = user.json(&["get", "--search", "belt-1", "--chunk-size", "3"]);
    assert_eq!(
        searched["items"].as_array().unwrap().len(),
        10,
        "belt-10 … belt-19"
    );
    let stopped = user.json(&["get", "--status", "stopped", "--chunk-size", "4"]);
    assert_eq!(stopped["items"].as_array().unwrap().len(), 25);
    let running = user.json(&["get", "--status", "RUNNING", "--chunk-size", "4"]);
    assert_eq!(running["items"].as_array().unwrap().len(), 0);
}

/// What the second server decides itself: its links, the creation time and what derives from it.
fn comparable(mut belt: Value) -> Value {
    for key in [
        "_links",
        "createdAt",
        "modifiedAt",
        "kafkaConsumerGroupName",
    ] {
        belt.as_object_mut().unwrap().remove(key);
    }
    belt
}

/// `count` more belts for a YAML stream, each with non-defaults of its own.
fn many_belts(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "---\nname: many-{i}\neventTypes: [t{}]\nreplicas: {}\ndescription: belt {i}\n\
                 labels: [l{}]\nparameter: n={i}\n",
                i % 7,
                1 + i % 3,
                i % 5
            )
        })
        .collect()
}

fn export_then_apply_on_a_second_server_gives_equal_documents(backend: Backend) {
    let (first, second) = (serve_on(backend), serve_on(backend));
    let user = User::new();
    user.log_in("first", &first);
    user.log_in("second", &second);
    user.ok(&["config", "use-context", "first"]);
    let file = user.write(
        "belts.yaml",
        &format!(
            "{EXAMPLE_BELT}---\nname: rich\neventTypes: [a, b]\nreplicas: 3\nmemory: 256\ndescription: with non-defaults\n\
             labels: [x, y]\ndebug: true\nrequirementsPy: \"six==1.16.0\"\nparameter: p=1\n\
             extraEnv: '[{{\"name\": \"MODE\", \"value\": \"fast\"}}]'\n\
             outputTypes: [{{name: sales, version: \"2\"}}]\n---\nname: plain\neventTypes: [c]\n{}",
            many_belts(197)
        ),
    );
    user.ok(&["apply", "-f", file.to_str().unwrap()]);
    let backup = user.home.path().join("backup");
    let exported = user.ok(&["export", "--all", "--dir", backup.to_str().unwrap()]);
    assert!(
        exported.stdout().contains("200 belt(s) exported"),
        "{exported}"
    );
    let single: Value = serde_yaml::from_str(&user.ok(&["export", "42"]).stdout()).unwrap();
    assert_eq!(
        single,
        serde_json::json!({"name": "hello-belt", "extractorFn": "def execute(headers, event):\n    return [event]\n", "eventTypes": ["page-view"], "id": "42"})
    );

    user.ok(&["config", "use-context", "second"]);
    let applied = user.ok(&["apply", "-f", backup.to_str().unwrap()]);
    assert_eq!(
        applied.stdout().matches(" created (version 1)").count(),
        200,
        "{applied}"
    );
    let on_first = user.json(&["--context", "first", "get"]);
    let on_second = user.json(&["get"]);
    let first_items: Vec<Value> = on_first["items"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(comparable)
        .collect();
    let second_items: Vec<Value> = on_second["items"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .map(comparable)
        .collect();
    assert_eq!(first_items.len(), 200);
    assert_eq!(first_items, second_items, "field by field, ids included");
    // Applying the backup again changes nothing.
    let again = user.ok(&["apply", "-f", backup.to_str().unwrap()]);
    assert_eq!(
        again.stdout().matches("unchanged (version 1)").count(),
        200,
        "{again}"
    );
}

fn apply_unchanged_makes_no_new_version_and_a_change_shows_its_diff(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let file = user.write("belt.yaml", EXAMPLE_BELT);
    let path = file.to_str().unwrap();
    user.ok(&["apply", "-f", path]);
    let again = user.ok(&["apply", "-f", path]);
    assert!(
        again
            .stdout()
            .contains("belt 42 (hello-belt) unchanged (version 1)"),
        "{again}"
    );
    assert_eq!(user.json(&["get", "42"])["version"], "1");

    std::fs::write(
        &file,
        changed_example().replace("name: hello-belt", "name: hello-belt\nreplicas: 2"),
    )
    .unwrap();
    let changed = user.ok(&["apply", "-f", path]);
    let out = changed.stdout();
    assert!(
        out.contains("belt 42 (hello-belt) configured (version 2)"),
        "{changed}"
    );
    assert!(out.contains("replicas: 1 → 2"), "{changed}");
    assert!(
        out.contains("-     return [event]\n    +     return []"),
        "{changed}"
    );
    // Without an id the belt is found by its name.
    let by_name = user.write(
        "by-name.yaml",
        "name: hello-belt\neventTypes: [page-view]\nreplicas: 2\n",
    );
    let applied = user.json(&["apply", "-f", by_name.to_str().unwrap()]);
    assert_eq!(applied["items"][0]["id"], "42");
    assert_eq!(applied["items"][0]["outcome"], "configured");
    assert_eq!(applied["items"][0]["version"], "3");
}

fn apply_racing_another_writer_ends_in_a_conflict_never_an_overwrite(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let file = user.write("belt.yaml", EXAMPLE_BELT);
    user.ok(&["apply", "-f", file.to_str().unwrap()]);

    let mine = user.write("mine.yaml", &changed_example());
    let theirs = user.write(
        "theirs.yaml",
        &EXAMPLE_BELT.replace("name: hello-belt", "name: hello-belt\nreplicas: 4"),
    );
    // Mine reads version 1, then waits before writing; theirs writes version 2 meanwhile.
    let racing = user
        .command(&["apply", "-f", mine.to_str().unwrap()])
        .env("BELT_APPLY_PAUSE_MS", "3000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    user.ok(&["apply", "-f", theirs.to_str().unwrap()]);
    let lost = support::Run(racing.wait_with_output().unwrap());
    assert_eq!(lost.code(), 5, "the conflict exit code: {lost}");
    assert!(
        lost.stderr().contains("was changed by someone else"),
        "{lost}"
    );
    let belt = user.json(&["get", "42"]);
    assert_eq!(belt["version"], "2", "only their write counted");
    assert_eq!(belt["replicas"], 4);
    assert_eq!(
        belt["extractorFn"],
        "def execute(headers, event):\n    return [event]\n"
    );
}

fn start_wait_reaches_running_and_stop_wait_stopped(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let file = user.write("belt.yaml", EXAMPLE_BELT);
    user.ok(&["apply", "-f", file.to_str().unwrap()]);
    let started = user.ok(&["start", "42", "--wait", "--timeout", "90s"]);
    assert!(started.stdout().contains("belt 42 is RUNNING"), "{started}");
    assert_eq!(user.json(&["get", "42"])["status"], "RUNNING");
    let logs = user.ok(&["logs", "42", "--tail", "50"]).stdout();
    assert!(
        logs.lines()
            .any(|l| l.starts_with("grnry-belt-42-1-0 ") && l.ends_with("belt-host: ready")),
        "{logs}"
    );
    let described = user.ok(&["describe", "42"]).stdout();
    assert!(
        described.contains("grnry-belt-42-1-0  ready"),
        "{described}"
    );
    // A START that does not apply: refused, with the server's message and field.
    let refused = user.run(&["start", "42"]);
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(
        refused
            .stderr()
            .contains("cannot be 'START' while Belt status is 'RUNNING'")
            && refused.stderr().contains("[field: state]"),
        "{refused}"
    );
    let stopped = user.json(&["stop", "42", "--wait", "--timeout", "60s"]);
    assert_eq!(stopped["items"][0]["status"], "STOPPED");
    assert_eq!(user.json(&["get", "42"])["status"], "STOPPED");
}
