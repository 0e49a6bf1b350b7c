//! `belt samples list|save|delete` and `belt invoke --sample|-f` against the real `belt-api`:
//! sample events saved with a belt (issue 21) and replayed by name; and `belt invoke` of a callback
//! not saved yet, on a saved belt or as a draft of a belt not applied yet.

mod support;

use serde_json::Value;
use support::{serve_on, Backend, User, EXAMPLE_BELT};

on_both_databases!(samples_are_saved_listed_replayed_and_deleted);
on_both_databases!(a_callback_is_tried_before_it_is_saved_or_the_belt_applied);

const EVENTS: &str = "\
events:
  - headers: {grnry-correlation-id: c-1}
    event: {id: 1}
  - event: {id: 2}
";

fn samples_are_saved_listed_replayed_and_deleted(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let belt = user.write("belt.yaml", EXAMPLE_BELT);
    user.ok(&["apply", "-f", belt.to_str().unwrap()]);
    let told = user.ok(&["samples", "list", "42"]).stdout();
    assert!(told.contains("No samples saved with belt 42"), "{told}");

    let file = user.write("events.yaml", EVENTS);
    let file = file.to_str().unwrap();
    let saved = user.ok(&["samples", "save", "42", "two", "-f", file]);
    assert!(
        saved.stdout().contains("sample two of belt 42 saved"),
        "{saved}"
    );
    let again = user.ok(&["samples", "save", "42", "two", "-f", file]);
    assert!(again.stdout().contains("replaced"), "{again}");
    let bare = user.write("bare.json", r#"[{"event": {"id": 3}}]"#);
    user.ok(&["samples", "save", "42", "one", "-f", bare.to_str().unwrap()]);
    let table = user.ok(&["samples", "list", "42"]).stdout();
    assert!(
        table.starts_with("NAME") && table.contains("two   2"),
        "{table}"
    );
    let listed = user.json(&["samples", "list", "42"]);
    assert_eq!(listed["totalCount"], 2);
    assert_eq!(
        listed["items"][1]["events"][0]["headers"]["grnry-correlation-id"],
        "c-1"
    );

    // Replayed by name: the example belt returns each event as its update.
    let report = user.json(&["invoke", "42", "--sample", "two"]);
    assert_eq!(report["outcome"], "completed", "{report}");
    let keys: Vec<&Value> = (report["results"].as_array().unwrap().iter())
        .map(|result| &result["updates"][0]["headers"]["grnry-correlation-id"])
        .collect();
    assert_eq!(keys[0], "c-1", "{report}");
    let table = user.ok(&["invoke", "42", "-f", file]).stdout();
    assert!(
        table.contains("outcome: completed") && table.contains("1 updates"),
        "{table}"
    );

    let unknown = user.run(&["invoke", "42", "--sample", "none-such"]);
    assert_eq!(unknown.code(), 4, "{unknown}");
    assert!(unknown.stderr().contains("'sample'"), "{unknown}");
    let bad = user.run(&["samples", "save", "42", "no spaces", "-f", file]);
    assert_eq!(bad.code(), 4, "{bad}");
    assert!(bad.stderr().contains("'name'"), "{bad}");
    user.ok(&["samples", "delete", "42", "two"]);
    let gone = user.run(&["samples", "delete", "42", "two"]);
    assert_eq!(gone.code(), 3, "{gone}");
    assert_eq!(user.json(&["samples", "list", "42"])["totalCount"], 1);
}

/// Answers one update per event, keyed `draft-<id>`, with the parameter it was given.
const DRAFT_CALLBACK: &str = "import os\n\ndef execute(headers, event):\n    return {'keys': ['draft-%s' % event['id']], 'parameter': os.environ.get('PARAMETER')}\n";

fn first_key(report: &Value) -> &Value {
    &report["results"][0]["updates"][0]["value"]["keys"][0]
}

fn a_callback_is_tried_before_it_is_saved_or_the_belt_applied(backend: Backend) {
    let server = serve_on(backend);
    let user = User::new();
    user.log_in("local", &server);
    let belt = user.write("belt.yaml", EXAMPLE_BELT);
    user.ok(&["apply", "-f", belt.to_str().unwrap()]);
    let events = user.write("events.yaml", EVENTS);
    let events = events.to_str().unwrap();
    let callback = user.write("extractor.py", DRAFT_CALLBACK);
    let callback = callback.to_str().unwrap();

    // A saved belt with another callback, for this call only.
    let tried = user.json(&["invoke", "42", "-f", events, "--callback", callback]);
    assert_eq!(tried["outcome"], "completed", "{tried}");
    assert_eq!(*first_key(&tried), "draft-1", "{tried}");
    let saved = user.json(&["invoke", "42", "-f", events]);
    assert_eq!(
        saved["results"][0]["updates"][0]["value"]["id"], 1,
        "{saved}"
    );

    // No id: a draft, from the Python file, with a parameter.
    let draft = user.json(&[
        "invoke",
        "--callback",
        callback,
        "-f",
        events,
        "--parameter",
        "p-9",
    ]);
    assert_eq!(draft["outcome"], "completed", "{draft}");
    assert_eq!(*first_key(&draft), "draft-1", "{draft}");
    let parameter = &draft["results"][0]["updates"][0]["value"]["parameter"];
    assert_eq!(*parameter, "p-9", "{draft}");

    // No id: a draft from a belt file that was never applied, its own callback.
    let unapplied = EXAMPLE_BELT
        .replace("id: \"42\"\n", "")
        .replace("hello-belt", "not-yet");
    let unapplied = user.write("not-yet.yaml", &unapplied);
    let table = user.ok(&[
        "invoke",
        "--belt",
        unapplied.to_str().unwrap(),
        "-f",
        events,
    ]);
    assert!(table.stdout().contains("outcome: completed"), "{table}");
    assert!(table.stdout().contains("1 updates"), "{table}");
    let listed = user.json(&["get"]);
    assert_eq!(listed["totalCount"], 1, "nothing was stored: {listed}");

    // What cannot run says why before any call, and the server's refusal names the field.
    let no_callback = user.run(&["invoke", "-f", events]);
    assert_eq!(no_callback.code(), 1, "{no_callback}");
    assert!(no_callback.stderr().contains("--callback"), "{no_callback}");
    let no_samples = user.run(&["invoke", "--sample", "two", "--callback", callback]);
    assert_eq!(no_samples.code(), 1, "{no_samples}");
    assert!(
        no_samples.stderr().contains("keeps no samples"),
        "{no_samples}"
    );
    let broken = user.write(
        "broken.py",
        "def execute(headers, event) -> :\n    return []\n",
    );
    let refused = user.run(&[
        "invoke",
        "--callback",
        broken.to_str().unwrap(),
        "-f",
        events,
    ]);
    assert_eq!(refused.code(), 4, "{refused}");
    assert!(refused.stderr().contains("'extractorFn'"), "{refused}");
}
