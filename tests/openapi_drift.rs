//! The committed `openapi.json` is generated from the code; this fails when they drift.
//! Regenerate with `cargo run -q -- openapi > openapi.json` (or `BELT_UPDATE_OPENAPI=1 cargo test`).

#[test]
fn committed_openapi_matches_the_code() {
    let generated = belt_api::http::openapi::document()
        .to_pretty_json()
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var_os("BELT_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, format!("{generated}\n")).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let first_difference = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(n, (a, b))| format!("line {}: committed `{a}`, generated `{b}`", n + 1));
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi.json is out of date ({}): run `cargo run -q -- openapi > openapi.json`",
        first_difference.unwrap_or_else(|| "lengths differ".into())
    );
}
