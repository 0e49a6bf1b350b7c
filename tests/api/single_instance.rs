//! SQLite: one `belt-api serve` per data directory. A second one on the same directory refuses to
//! start, naming the directory and the process that holds it; once that process is gone, even by
//! `kill -9`, the directory is free again (the kernel drops its lock).

use std::process::Command;
use std::time::Duration;

use super::binary::serve_with;

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

#[tokio::test]
async fn a_second_serve_on_the_same_sqlite_data_directory_refuses_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = serve_with(dir.path(), &[]);
    let pid = first.child.id();

    let second = Command::new(BINARY)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BELT_LISTEN", "127.0.0.1:0")
        .env("BELT_KAFKA_BROKER", "none")
        .output()
        .expect("running a second belt-api serve");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "the second one must not serve: {said}"
    );
    assert!(said.contains("belt-data"), "names the directory: {said}");
    assert!(
        said.contains(&format!("pid {pid}")),
        "names the holder: {said}"
    );
    let ready = reqwest::get(format!("{}/ready", first.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "the first one serves on");

    // kill -9: no clean exit, and still the directory is free for the next process.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let next = serve_with(dir.path(), &[]);
    let ready = reqwest::get(format!("{}/ready", next.address))
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "a new process takes the directory over"
    );
}
