//! The belt host's Python environment, which the data-plane test binaries share: where it is,
//! how long a belt-api that builds it first may take to listen, and the Kafka client run in it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// Long enough for a first run that builds the belt host's environment (downloads from PyPI).
pub const SERVE_PATIENCE: Duration = Duration::from_secs(240);

const CLIENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/dataplane/kafka_client.py"
);

/// One environment for every test (and every run): built by the first belt-api that needs it.
pub fn host_env() -> PathBuf {
    match std::env::var_os("BELT_LOCAL_HOST_ENV") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_TARGET_TMPDIR")).join("belt-host-env"),
    }
}

/// Runs `kafka_client.py` with the host environment's Python; answers its JSON lines.
pub async fn kafka(args: &[&str]) -> Vec<Value> {
    let python = host_env().join("bin/python");
    let output = tokio::process::Command::new(&python)
        .arg(CLIENT)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|err| panic!("running {}: {err}", python.display()));
    assert!(
        output.status.success(),
        "kafka_client.py {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
