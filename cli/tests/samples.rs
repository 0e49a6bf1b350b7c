//! `belt samples list|save|delete` and `belt invoke --sample|-f` against the real `belt-api`:
//! sample events saved with a belt (issue 21) and replayed by name.

mod support;

use serde_json::Value;
use support::{serve_on, Backend, User, EXAMPLE_BELT};

on_both_databases!(samples_are_saved_listed_replayed_and_deleted);

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
