//! The shape of `src/` (docs/architecture.md): no import cycle between files, no lower layer
//! importing a higher one, no file over 400 lines and no function over 60 lines outside tests.
//! A plain text scan: comments and string literals are blanked, `#[cfg(test)]` items are skipped,
//! and every `crate::…` / `super::…` / `self::…` path is resolved to the file that defines it
//! (following `pub use` re-exports).

mod docs;
mod graph;
mod text;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use graph::{cycles, parse, upward};
use text::{blank_literals, long_functions, strip_tests};

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 60;

/// Layers, lowest first; a file may use its own layer and those below.
/// Configuration reads settings into the types of the layers below it; the use cases and the
/// edge are built from it in `app/`, so it sits under them.
const LAYERS: &[&[&str]] = &[
    &["domain", "trace_context"],
    &[
        "store", "runtime", "registry", "auth", "metrics", "broker", "invoke", "leader",
    ],
    &["config"],
    &["reconcile"],
    &["belts"],
    &["http"],
    &["telemetry"],
    &["app", "main", "lib"],
];

// Owned by the concurrent split, to be emptied at merge.
const ALLOWED_EDGES: &[(&str, &str)] = &[];

// Owned by the concurrent split, to be emptied at merge.
const ALLOWED_LONG_FILES: &[&str] = &[];

// Owned by the concurrent split, to be emptied at merge.
const ALLOWED_LONG_FNS: &[&str] = &[];

/// Every `src/**/*.rs` of this crate, or of the checkout `BELT_ARCH_ROOT` names (to try the
/// scan on another tree).
fn sources() -> Vec<(String, String)> {
    let root =
        std::env::var("BELT_ARCH_ROOT").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let root = Path::new(&root);
    let mut found = Vec::new();
    let mut todo = vec![root.join("src")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(root).unwrap();
                found.push((
                    relative.to_string_lossy().replace('\\', "/"),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    found
}

#[test]
fn no_import_cycle_between_files() {
    let found = cycles(&parse(&sources()).edges());
    assert!(
        found.is_empty(),
        "files that import each other in a circle: {found:#?}"
    );
}

#[test]
fn no_lower_layer_imports_a_higher_one() {
    let found = upward(&parse(&sources()).edges());
    assert!(found.is_empty(), "{found:#?}");
}

/// Handlers reach the store, the runtime, the reconciler and the registry only through the use
/// cases, which the composition root (`app/`) builds; the use cases record no metrics but
/// through the domain's small interfaces; the controllers and the use cases know the runtime
/// only through its trait (what one runtime says is typed in the domain); neither the domain nor
/// the metrics know HTTP.
#[test]
fn http_reaches_no_store_or_runtime_and_the_domain_no_http() {
    let krate = parse(&sources());
    let mut found = Vec::new();
    let forbidden: &[(&str, &[&str])] = &[
        (
            "src/http/",
            &[
                "src/store/",
                "src/runtime/",
                "src/reconcile/",
                "src/registry/",
            ],
        ),
        ("src/belts/", &["src/metrics.rs"]),
    ];
    let one_runtime: &[&str] = &["src/runtime/kubernetes", "src/runtime/local"];
    let forbidden = [
        forbidden,
        &[("src/reconcile/", one_runtime), ("src/belts/", one_runtime)],
    ]
    .concat();
    for (from, targets) in krate.edges() {
        for (layer, below) in &forbidden {
            for to in targets
                .iter()
                .filter(|to| from.starts_with(layer) && below.iter().any(|b| to.starts_with(b)))
            {
                found.push(format!("{from} uses {to}"));
            }
        }
    }
    for file in &krate.files {
        let no_http = file.path.starts_with("src/domain/") || file.path == "src/metrics.rs";
        for http in ["axum::", "http::", "ApiError", "StatusCode"] {
            if no_http && file.code.contains(http) {
                found.push(format!("{} mentions {http}", file.path));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

/// Every query parameter is read through `src/http/query.rs` (docs/api.md#query-parameters): no
/// other file decodes a query string or takes axum's raw or typed query, so a flag, a number, a
/// status list or a search means the same on every route.
#[test]
fn query_parameters_are_read_in_one_module() {
    let mut found = Vec::new();
    for file in parse(&sources()).files {
        if file.path == "src/http/query.rs" {
            continue;
        }
        // axum's extractors exist only at the edge; elsewhere `Query<` is sqlx's statement type.
        let at_the_edge = file.path.starts_with("src/http/");
        for (reader, anywhere) in [
            ("form_urlencoded::parse", true),
            ("serde_urlencoded", true),
            ("RawQuery", false),
            ("Query<", false),
        ] {
            if (anywhere || at_the_edge) && file.code.contains(reader) {
                found.push(format!("{} reads the query with {reader}", file.path));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn files_and_functions_stay_small() {
    let mut found = Vec::new();
    for file in parse(&sources()).files {
        if file.lines > MAX_FILE_LINES && !ALLOWED_LONG_FILES.contains(&file.path.as_str()) {
            found.push(format!("{}: {} lines", file.path, file.lines));
        }
        for (name, lines) in long_functions(&file.code, MAX_FN_LINES) {
            let key = format!("{}::{name}", file.path);
            if !ALLOWED_LONG_FNS.contains(&key.as_str()) {
                found.push(format!("{key}: {lines} lines"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "over {MAX_FILE_LINES} lines a file or {MAX_FN_LINES} a function: {found:#?}"
    );
}

fn synthetic(files: &[(&str, &str)]) -> BTreeMap<String, BTreeSet<String>> {
    let sources: Vec<_> = files
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    parse(&sources).edges()
}

#[test]
fn the_scanner_sees_a_cycle_through_a_reexport_and_ignores_tests_and_strings() {
    let edges = synthetic(&[
        ("src/lib.rs", "pub mod domain; pub mod store;"),
        ("src/domain/mod.rs", "mod belt;\npub use belt::Belt;"),
        ("src/domain/belt.rs", "use crate::store::{Row, self};\npub struct Belt;"),
        ("src/store/mod.rs", "fn f() -> crate::domain::Belt { todo!() }\n// crate::http::x\nconst S: &str = \"super::http\";"),
        ("src/store/tests.rs", ""),
        ("src/http.rs", "#[cfg(test)]\nmod tests { use crate::store::Row; }"),
    ]);
    assert_eq!(
        edges["src/store/mod.rs"],
        BTreeSet::from(["src/domain/belt.rs".to_string()])
    );
    assert!(edges["src/http.rs"].is_empty());
    assert_eq!(
        cycles(&edges),
        vec![vec![
            "src/domain/belt.rs".to_string(),
            "src/store/mod.rs".to_string()
        ]]
    );
    let up = upward(&edges);
    assert_eq!(
        up,
        vec!["src/domain/belt.rs (layer 0) uses src/store/mod.rs (layer 1)".to_string()]
    );
}

#[test]
fn the_scanner_measures_functions_outside_tests() {
    let long_body = "    let x = '{';\n".repeat(MAX_FN_LINES);
    let code = format!("fn short() {{}}\nfn long() {{\n{long_body}}}\n#[cfg(test)]\nmod tests {{ fn also_long() {{\n{long_body}}} }}\n");
    let (code, _) = strip_tests(&blank_literals(&code));
    assert_eq!(
        long_functions(&code, MAX_FN_LINES),
        vec![("long".to_string(), MAX_FN_LINES + 2)]
    );
}
