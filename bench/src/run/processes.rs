//! The processes a phase talks to: the release service, the bare-HTTP server with the answers it
//! replays, and where PostgreSQL and the local runtime's replica command come from.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use http::StatusCode;
use tokio::process::Command;

use super::Harness;
use crate::bare_http::{Answers, Captured};
use crate::load::Conn;
use crate::process::Process;
use crate::scenarios::{http_requests, Operation, Seeded};
use crate::seed::Database;

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One real answer per operation, which the bare-HTTP server then serves byte for byte.
pub(super) async fn capture(
    address: SocketAddr,
    token: &str,
    seeded: Seeded,
    operations: &[Operation],
) -> anyhow::Result<Answers> {
    let mut conn = Conn::open(address).await?;
    let mut rng = fastrand::Rng::with_seed(7);
    let mut answers = Answers::new();
    for &operation in operations {
        let make = http_requests(
            operation,
            address,
            Some(token.to_string()),
            seeded,
            "capture",
        );
        let request = make(0, 0, &mut rng);
        let what = format!("{} {}", request.method(), request.uri());
        let response = conn.send(request).await?;
        anyhow::ensure!(
            response.status() == StatusCode::OK,
            "{what} answered {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| matches!(name.as_str(), "content-type" | "etag" | "location"))
            .map(|(name, value)| Ok((name.to_string(), value.to_str()?.to_string())))
            .collect::<anyhow::Result<_>>()?;
        answers.insert(
            operation.name().to_string(),
            Captured {
                status: response.status().as_u16(),
                headers,
                body: String::from_utf8(response.body().to_vec())?,
            },
        );
    }
    Ok(answers)
}

pub(super) async fn start_service(
    harness: &Harness,
    database: &Database,
) -> anyhow::Result<Process> {
    let mut command = Command::new(&harness.belt_api);
    command
        .arg("serve")
        .env("BELT_LISTEN", "127.0.0.1:0")
        .env("BELT_DATA_DIR", &database.data_dir)
        .env("BELT_DATABASE_URL", &database.url)
        .env(
            "BELT_DATABASE_MAX_CONNECTIONS",
            harness.pool_size(database).to_string(),
        )
        .env("BELT_RUNTIME", "local")
        // The control plane is measured here, not the data plane's broker.
        .env("BELT_KAFKA_BROKER", "none")
        .env("BELT_LOCAL_COMMAND", &harness.local_command);
    Process::start("belt-api", command, START_TIMEOUT).await
}

pub(super) async fn start_bare_http(harness: &Harness, answers: &Path) -> anyhow::Result<Process> {
    let mut command = Command::new(&harness.bench);
    command.arg("bare-http").arg("--answers").arg(answers);
    Process::start("bare-http", command, START_TIMEOUT).await
}

/// The local runtime's replica command: prints the readiness line, then idles.
pub(super) fn write_belt_host_script(work_dir: &Path) -> anyhow::Result<String> {
    let script = work_dir.join("belt-host.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'belt-host: ready'\nexec sleep 3600\n",
    )?;
    let command = format!("/bin/sh {}", script.display());
    anyhow::ensure!(
        command.split_whitespace().count() == 2,
        "the work dir must not contain spaces (BELT_LOCAL_COMMAND is split on them): {}",
        work_dir.display()
    );
    Ok(command)
}

pub(super) async fn postgres_from_script() -> anyhow::Result<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/postgres.sh");
    let output = Command::new("bash")
        .arg(script)
        .output()
        .await
        .context("running scripts/postgres.sh")?;
    anyhow::ensure!(
        output.status.success(),
        "scripts/postgres.sh failed (pass --postgres-url, or --backends sqlite):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}
