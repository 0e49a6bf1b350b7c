//! `kubectl kustomize` of a directory of deploy/, split into its objects.

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The overlays an operator applies, relative to the repository.
pub const OVERLAYS: &[&str] = &[
    "deploy/overlays/sqlite-single",
    "deploy/overlays/postgres-ha",
];
pub const SERVICE_MONITOR: &str = "deploy/components/servicemonitor";
pub const LEASE_ELECTION: &str = "deploy/components/lease-election";

pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// kubectl, which CI installs (`.ci/run`); its absence fails the test rather than skipping it, so
/// that a machine without it cannot pass off unrendered manifests as checked.
fn kubectl() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates = std::env::var_os("BELT_KUBECTL")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::split_paths(&path).map(|dir| dir.join("kubectl")))
        .chain([PathBuf::from("/usr/bin/kubectl")]);
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "kubectl was not found (BELT_KUBECTL, PATH, /usr/bin/kubectl): tests/deploy_manifests.rs \
         renders deploy/ with `kubectl kustomize` and needs a kubectl of 1.21 or later (kustomize \
         components); install it as .ci/run says"
    );
}

/// The objects `kubectl kustomize <dir>` renders, `dir` relative to the repository.
pub fn render(dir: &str) -> Vec<Value> {
    render_at(&repository().join(dir))
}

/// `overlay` with `component` added, as an operator adds it: kustomize takes only relative paths,
/// so a kustomization in a temporary directory names both by their way up from there.
pub fn render_with_component(overlay: &str, component: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let up = relative_to_root(&dir.path().canonicalize().unwrap());
    let repository = repository().canonicalize().unwrap();
    let reach = |path: &str| format!("{up}{}/{path}", strip_root(&repository));
    let kustomization = format!(
        "resources:\n  - {}\ncomponents:\n  - {}\n",
        reach(overlay),
        reach(component)
    );
    std::fs::write(dir.path().join("kustomization.yaml"), kustomization).unwrap();
    render_at(dir.path())
}

fn relative_to_root(dir: &Path) -> String {
    let depth = dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count();
    "../".repeat(depth)
}

fn strip_root(path: &Path) -> String {
    path.strip_prefix("/")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn render_at(dir: &Path) -> Vec<Value> {
    let output = Command::new(kubectl())
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("running kubectl kustomize");
    assert!(
        output.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    documents(&text)
}

/// Every object of a multi-document YAML stream (an empty document is none).
pub fn documents(text: &str) -> Vec<Value> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).expect("YAML");
    documents.into_iter().filter(|d| !d.is_null()).collect()
}
