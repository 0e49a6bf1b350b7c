//! What a script can rely on: exit codes, machine-readable errors, `--help` and completions.

mod support;

use serde_json::Value;
use support::{serve_on, Backend, User, EXAMPLE_BELT};

on_both_databases!(exit_codes_for_not_found_timed_out_and_unreachable);

fn exit_codes_for_not_found_timed_out_and_unreachable(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let missing = user.run(&["describe", "999", "-o", "json"]);
    assert_eq!(missing.code(), 3, "{missing}");
    let error: Value =
        serde_json::from_str(missing.stderr().trim()).expect("-o json errors are JSON");
    assert_eq!(error["error"]["status"], 404);
    assert_eq!(error["error"]["type"], "entity_not_found");
    assert_eq!(missing.stdout(), "", "nothing but JSON on stdout");

    let file = user.write("belt.yaml", EXAMPLE_BELT);
    user.ok(&["apply", "-f", file.to_str().unwrap()]);
    let waited = user.run(&["wait", "42", "--for=RUNNING", "--timeout", "2s"]);
    assert_eq!(waited.code(), 6, "timed out: {waited}");
    assert!(
        waited
            .stderr()
            .contains("did not become RUNNING in time; it is STOPPED"),
        "{waited}"
    );
    // The server has a watch: the wait uses it and never falls back to polling.
    assert!(!waited.stderr().contains("polling"), "{waited}");

    let bad = user.write("bad.yaml", "name: bad\neventTypes: [x]\nreplicas: 99\n");
    let refused = user.run(&["apply", "-f", bad.to_str().unwrap(), "-o", "json"]);
    assert_eq!(refused.code(), 4, "{refused}");
    let answer: Value = serde_json::from_str(&refused.stdout()).unwrap();
    assert_eq!(
        answer["items"][0]["error"]["field"], "replicas",
        "{refused}"
    );

    let unreachable = user.run(&["--server", "http://127.0.0.1:9", "get"]);
    assert_eq!(unreachable.code(), 7, "{unreachable}");
    assert!(
        unreachable.stderr().contains("cannot reach the server"),
        "{unreachable}"
    );
}

#[test]
fn help_lists_exit_codes_and_completions_are_generated() {
    let user = User::new();
    let help = user.ok(&["--help"]).stdout();
    for expected in [
        "Exit codes:",
        "3  not found",
        "5  conflict",
        "6  timed out",
        "Examples:",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks `{expected}`:\n{help}"
        );
    }
    assert!(user
        .ok(&["wait", "--help"])
        .stdout()
        .contains("belt wait 42 --for=RUNNING --timeout 2m"));
    for shell in ["bash", "zsh", "fish"] {
        let script = user.ok(&["completion", shell]).stdout();
        assert!(
            script.contains("rollback") && script.contains("set-context"),
            "{shell}: {script}"
        );
    }
    let usage = user.run(&["get", "--chunk-size", "0"]);
    assert_eq!(usage.code(), 2, "{usage}");
}
