//! The accessibility check of each console page: axe-core (vendored in tests/fixtures/axe/, never
//! served by belt-api) injected into the page the browser shows, run with its default rules
//! (WCAG 2.x A and AA, and best practices); a violation of impact `serious` or `critical` fails the
//! test with what axe says and where.

use serde_json::{json, Value};

use crate::webdriver::Browser;

const AXE: &str = include_str!("../fixtures/axe/axe-core-4.14.1.min.js");

/// The violations of the page shown now; `page` names it in the failure.
pub async fn assert_accessible(browser: &Browser, page: &str) {
    let loaded = browser
        .execute(&format!("{AXE}\n;return typeof window.axe;"), json!([]))
        .await;
    assert_eq!(loaded, "object", "axe-core did not load on the {page} page");
    let script = "const done = arguments[arguments.length - 1];\
        window.axe.run(document).then(\
          r => done({violations: r.violations, passes: r.passes.length}),\
          e => done({error: String(e)}));";
    let result = browser.execute_async(script, json!([])).await;
    assert!(
        result["error"].is_null(),
        "axe failed on the {page} page: {result}"
    );
    // A run that checked nothing would pass anything.
    assert!(
        result["passes"].as_u64().unwrap_or(0) > 10,
        "axe passed almost no rule on the {page} page: {result}"
    );
    let grave: Vec<String> = result["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(describe)
        .collect();
    assert!(
        grave.is_empty(),
        "serious or critical accessibility violations on the {page} page:\n{}",
        grave.join("\n")
    );
}

fn describe(violation: &Value) -> String {
    let targets: Vec<String> = violation["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| node["target"].to_string())
        .collect();
    format!(
        "- {} ({}): {} at {}",
        violation["id"].as_str().unwrap_or("?"),
        violation["impact"].as_str().unwrap_or("?"),
        violation["help"].as_str().unwrap_or("?"),
        targets.join(", ")
    )
}
