//! The committed `openapi.json` is generated from the code; this fails when they drift.
//! Regenerate with `cargo run -- openapi > openapi.json`.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = belt_api::http::openapi::document()
        .to_pretty_json()
        .unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if std::env::var_os("BELT_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, format!("{generated}\n")).unwrap();
        return;
    }
    assert_eq!(
        committed.trim_end(),
        generated.trim_end(),
        "openapi.json is out of date: run `cargo run -- openapi > openapi.json`"
    );
}
