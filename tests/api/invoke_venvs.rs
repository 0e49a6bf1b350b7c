//! Test-invoke's virtualenvs (issue 18): kept per project and requirements, within a disk
//! budget, and gone with the belts that used them. The packages are tiny wheels made here and
//! installed from `file://` URLs (allowed by the workload policy for this test), so no build
//! needs PyPI: what is measured is the disk the virtualenvs keep, not a download.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    a_deleted_belts_virtualenvs_are_gone_and_projects_never_share_one,
    a_source_distribution_named_by_its_url_is_refused_before_pip
);

const VARIANTS: usize = 50;

/// Writes `count` wheels `tiny_invoke_<i>-1.0-py3-none-any.whl` (a module answering its `i`)
/// into a fresh directory the sandbox can read: under `/var/tmp`, world-readable. Not the target
/// dir: a checkout under `/tmp` (which the sandbox hides) or under `/root` (which a run's own uid
/// cannot enter) would keep the wheels from pip.
fn wheels(count: usize) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new("/var/tmp").join(format!("belt-test-wheels-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = r#"
import base64, hashlib, sys, zipfile
out, count = sys.argv[1], int(sys.argv[2])
def digest(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
for i in range(count):
    name = f"tiny_invoke_{i}"
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": f"N = {i}\n".encode(),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{path},{digest(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(f"{out}/{name}-1.0-py3-none-any.whl", "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
"#;
    let status = std::process::Command::new("python3")
        .args(["-c", script, &dir.display().to_string(), &count.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    dir
}

fn requirement(wheels: &Path, i: usize) -> String {
    format!(
        "tiny_invoke_{i} @ file://{}/tiny_invoke_{i}-1.0-py3-none-any.whl\n",
        wheels.display()
    )
}

fn importing(i: usize) -> String {
    format!("import tiny_invoke_{i}\ndef execute(headers, event):\n    return {{'keys': [str(tiny_invoke_{i}.N)]}}\n")
}

async fn app_with(backend: Backend, wheels: &Path, disk_mb: &str) -> TestApp {
    let allowed = format!("file://{}/", wheels.display());
    let args = [
        ("--allowed-requirement-urls", allowed.as_str()),
        ("--invoke-venv-disk-mb", disk_mb),
        ("--invoke-timeout-ms", "20000"),
        ("--invoke-concurrency", "4"),
        ("--invoke-project-concurrency", "4"),
    ];
    TestApp::spawn_dev_with_args(backend, &args).await
}

async fn belt_in(app: &TestApp, project: &str) -> String {
    let body = minimal_belt(&format!("venvs-{}", unique_suffix()));
    let created = app.create_belt(project, &body).await;
    created["id"].as_str().unwrap().to_string()
}

/// Runs `importing(i)` with `requirement(i)`; answers how the virtualenv came to be.
async fn run_variant(app: &TestApp, project: &str, id: &str, wheels: &Path, i: usize) -> String {
    let body = json!({
        "events": [{"event": {}}],
        "extractorFn": importing(i),
        "requirementsPy": requirement(wheels, i),
    });
    let path = format!("/projects/{project}/belts/{id}/invoke");
    let (status, answer) = json_of(
        app.post(&path, &app.token(project, &["editor"]), &body)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "completed", "variant {i}: {answer}");
    assert_eq!(
        answer["results"][0]["updates"][0]["key"],
        i.to_string(),
        "{answer}"
    );
    answer["requirements"]["virtualenv"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Bytes on disk under `path`, as `du` counts them.
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let children: u64 = if meta.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|entry| disk_usage(&entry.unwrap().path()))
            .sum()
    } else {
        0
    };
    meta.blocks() * 512 + children
}

fn venv_dirs(app: &TestApp, project: &str) -> Vec<PathBuf> {
    let dir = app
        .data_dir
        .path()
        .join("invoke/venvs")
        .join(format!("p-{project}"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect()
}

/// How much one virtualenv of these takes here: about 20 MiB with its own pip (where the
/// sandbox's Python has none to lend), well under 1 MiB without.
async fn one_virtualenv(wheels: &Path) -> u64 {
    let app = app_with(Backend::Sqlite, wheels, "100000").await;
    let id = belt_in(&app, "global").await;
    assert_eq!(run_variant(&app, "global", &id, wheels, 0).await, "built");
    disk_usage(&venv_dirs(&app, "global")[0])
}

/// 50 requirement variants, each really built (the run imports its package), leave at most the
/// configured disk, set to about three of them, where the 50 together take far more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_requirement_variants_leave_at_most_the_configured_disk() {
    let wheels = wheels(VARIANTS);
    let one = one_virtualenv(&wheels).await;
    let budget_mb = (3 * one).div_ceil(1024 * 1024);
    let budget = budget_mb * 1024 * 1024;
    assert!(one * VARIANTS as u64 > 4 * budget, "the budget must matter");
    let app = app_with(Backend::Sqlite, &wheels, &budget_mb.to_string()).await;
    let id = belt_in(&app, "global").await;
    // What the budget covers: each virtualenv and the note of who used it when, beside it.
    let kept_bytes = || {
        let project = app.data_dir.path().join("invoke/venvs/p-global");
        let entries = std::fs::read_dir(project).unwrap();
        entries.map(|e| disk_usage(&e.unwrap().path())).sum::<u64>()
    };
    for i in 0..VARIANTS {
        assert_eq!(run_variant(&app, "global", &id, &wheels, i).await, "built");
        let used = kept_bytes();
        assert!(
            used <= budget,
            "after variant {i}: {used} bytes kept of {budget}"
        );
    }
    let kept = venv_dirs(&app, "global").len();
    assert!((1..=3).contains(&kept), "{kept} kept");
    // The least recently used went first: the first variant is built again, the last reused.
    assert_eq!(
        run_variant(&app, "global", &id, &wheels, VARIANTS - 1).await,
        "reused"
    );
    assert_eq!(run_variant(&app, "global", &id, &wheels, 0).await, "built");
    std::fs::remove_dir_all(&wheels).unwrap();
}

/// A run gets its virtualenv read-only: it cannot plant code for the project's next runs.
async fn a_run_cannot_change_its_virtualenv(app: &TestApp, id: &str, wheels: &Path) {
    let draft = "import os\ndef execute(headers, event):\n    path = os.path.join(os.environ['BELT_INVOKE_VENV'], 'planted.py')\n    try:\n        open(path, 'w').write('x = 1')\n        return {'keys': ['written']}\n    except OSError as error:\n        return {'keys': [str(error.errno)]}\n";
    let body = json!({
        "events": [{"event": {}}],
        "extractorFn": draft,
        "requirementsPy": requirement(wheels, 0),
    });
    let path = format!("/projects/team-a/belts/{id}/invoke");
    let (status, answer) = json_of(
        app.post(&path, &app.token("team-a", &["editor"]), &body)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["requirements"]["virtualenv"], "reused", "{answer}");
    // EROFS: a read-only file system.
    assert_eq!(answer["results"][0]["updates"][0]["key"], "30", "{answer}");
    for dir in venv_dirs(app, "team-a") {
        assert!(!dir.join("planted.py").exists());
    }
}

async fn delete(app: &TestApp, project: &str, id: &str) {
    let path = format!("/projects/{project}/belts/{id}");
    let response = app.delete(&path, &app.token(project, &["editor"])).await;
    assert!(response.status().is_success(), "{}", response.status());
}

async fn a_deleted_belts_virtualenvs_are_gone_and_projects_never_share_one(backend: Backend) {
    let wheels = wheels(2);
    let app = app_with(backend, &wheels, "512").await;
    let (x, y) = (belt_in(&app, "team-a").await, belt_in(&app, "team-a").await);
    let other = belt_in(&app, "team-b").await;
    // The project's belts share a virtualenv for the same requirements; another project never.
    assert_eq!(run_variant(&app, "team-a", &x, &wheels, 0).await, "built");
    assert_eq!(run_variant(&app, "team-a", &y, &wheels, 0).await, "reused");
    assert_eq!(
        run_variant(&app, "team-b", &other, &wheels, 0).await,
        "built"
    );
    // Only x used the second.
    assert_eq!(run_variant(&app, "team-a", &x, &wheels, 1).await, "built");
    assert_eq!(venv_dirs(&app, "team-a").len(), 2);
    delete(&app, "team-a", &x).await;
    let left = venv_dirs(&app, "team-a");
    assert_eq!(left.len(), 1, "y still uses the first: {left:?}");
    assert_eq!(run_variant(&app, "team-a", &y, &wheels, 0).await, "reused");
    a_run_cannot_change_its_virtualenv(&app, &y, &wheels).await;
    delete(&app, "team-a", &y).await;
    assert!(
        venv_dirs(&app, "team-a").is_empty(),
        "{:?}",
        venv_dirs(&app, "team-a")
    );
    let project_dir = app.data_dir.path().join("invoke/venvs/p-team-a");
    let files: Vec<_> = std::fs::read_dir(&project_dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(files.is_empty(), "nothing of theirs is left: {files:?}");
    assert_eq!(
        venv_dirs(&app, "team-b").len(),
        1,
        "another project's stays"
    );
    std::fs::remove_dir_all(&wheels).unwrap();
}

/// pip's `--only-binary=:all:` does not cover a direct URL: it would build this sdist and run its
/// `setup.py` (with the network of the build). The policy refuses any URL that is not a `.whl`,
/// for test-invoke and for a stored belt alike, even under an allowed prefix.
async fn a_source_distribution_named_by_its_url_is_refused_before_pip(backend: Backend) {
    let wheels = wheels(0);
    let app = app_with(backend, &wheels, "512").await;
    let id = belt_in(&app, "team-a").await;
    let sdist = format!(
        "tiny_sdist @ file://{}/tiny_sdist-1.0.tar.gz\n",
        wheels.display()
    );
    let token = app.token("team-a", &["editor"]);
    let body = json!({"events": [{"event": {}}], "extractorFn": importing(0),
                      "requirementsPy": sdist});
    let invoke = format!("/projects/team-a/belts/{id}/invoke");
    let (status, answer) = json_of(app.post(&invoke, &token, &body).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let message = answer["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("requirementsPy") && message.contains("not a wheel (.whl)"),
        "{answer}"
    );
    let mut document = minimal_belt(&format!("sdist-{}", unique_suffix()));
    document["requirementsPy"] = json!(sdist);
    let (status, answer) =
        json_of(app.post("/projects/team-a/belts", &token, &document).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a wheel (.whl)"),
        "{answer}"
    );
    assert!(venv_dirs(&app, "team-a").is_empty(), "no build was started");
    std::fs::remove_dir_all(&wheels).unwrap();
}
