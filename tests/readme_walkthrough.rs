//! The README's `## Walkthrough`, run verbatim: every `sh` block of that section but the one that
//! starts the service (it begins with `# in another terminal:`; this test starts `belt-api serve`
//! itself on a free port with a fresh data dir) goes to `bash -euo pipefail` unchanged. The README's
//! commands read `BELT_URL` and `BELT_API`, so the same text works for a newcomer (defaults) and
//! here (the server's address, the binary built for this test).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use belt_test_support::binary::{Program, Spawn};

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

#[path = "common/broker_program.rs"]
mod broker_program;
const SECTION: &str = "## Walkthrough";
const SKIPPED_BLOCK: &str = "# in another terminal:";

/// The `sh` blocks of the README's walkthrough section, in order, the service-starting one excluded.
/// Panics (fails the test) when the section, its blocks or the skipped block are missing, so an
/// emptied or renamed section cannot pass as "nothing to run".
fn walkthrough_script(readme: &str) -> String {
    let start = readme
        .lines()
        .position(|line| line.trim_end() == SECTION)
        .unwrap_or_else(|| panic!("README.md has no `{SECTION}` section"));
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines().skip(start + 1) {
        match current.as_mut() {
            None if line.starts_with("## ") => break,
            None if line.trim_end() == "```sh" => current = Some(Vec::new()),
            None => {}
            Some(block) if line.trim_end() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => block.push(line),
        }
    }
    assert!(current.is_none(), "an unclosed ```sh block in {SECTION}");
    let skipped = blocks
        .iter()
        .filter(|block| block.first().is_some_and(|l| l.starts_with(SKIPPED_BLOCK)))
        .count();
    assert_eq!(
        skipped, 1,
        "exactly one block starts with `{SKIPPED_BLOCK}` (the service)"
    );
    let run: Vec<String> = blocks
        .iter()
        .filter(|block| !block.first().is_some_and(|l| l.starts_with(SKIPPED_BLOCK)))
        .map(|block| block.join("\n"))
        .collect();
    assert!(!run.is_empty(), "{SECTION} has no commands to run");
    run.join("\n") + "\n"
}

/// The service (`belt_test_support::binary`: SIGTERM when dropped, so it stops the replicas it
/// started) and its embedded broker's `host:port`, from its startup line.
struct Server {
    _program: Program,
    address: String,
    kafka: String,
}

/// `belt-api serve` on the embedded default (SQLite, local runtime, bubblewrap sandbox, dev
/// tokens, the embedded Kafka broker), but on free ports and with its own data dir.
fn serve(dir: &Path, data_dir: &Path) -> Server {
    let program = Spawn::serve(BINARY)
        .current_dir(dir)
        .env("BELT_DATA_DIR", data_dir)
        .env("BELT_KAFKA_LISTEN", "127.0.0.1:0")
        .env(
            "BELT_KAFKA_BROKER_COMMAND",
            broker_program::broker_program(),
        )
        .start();
    const BROKER_LINE: &str = "embedded Kafka broker (nisshi 0.8.1) listening on ";
    let kafka = program.lines().iter().find_map(|line| {
        let at = line.find(BROKER_LINE)? + BROKER_LINE.len();
        let address = line[at..].split([',', ' ']).next()?;
        Some(address.to_string())
    });
    let kafka = kafka.unwrap_or_else(|| {
        panic!(
            "the embedded default starts the broker and logs its address; stderr:\n{}",
            program.log()
        )
    });
    Server {
        address: program.address.clone(),
        _program: program,
        kafka,
    }
}

#[test]
fn the_readme_walkthrough_runs_verbatim_against_the_real_binary() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("reading README.md");
    let script = walkthrough_script(&readme);
    // The walkthrough's steps are there, so the run below proves each of them.
    for step in [
        " token --project demo --role editor",
        "\"action\": \"START\"",
        "from confluent_kafka import",
        "/offsets\"",
        "/invoke\"",
        "?dryRun=true",
        "/state\"",
        "/logs?lines=",
        "\"action\": \"STOP\"",
        "-X DELETE",
    ] {
        assert!(script.contains(step), "the walkthrough lacks `{step}`");
    }

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("belt-data");
    let server = serve(dir.path(), &data_dir);
    let script_path = dir.path().join("walkthrough.sh");
    std::fs::write(&script_path, &script).unwrap();
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");

    let mut run = Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg(&script_path)
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BELT_URL", &server.address)
        .env("BELT_KAFKA", &server.kafka)
        .env("BELT_API", BINARY)
        .env("BELT_DATA_DIR", &data_dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("starting bash");
    // The script polls for up to about a minute itself; this only bounds a hung script.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = run.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = run.kill();
            let _ = run.wait();
            panic!(
                "the walkthrough did not finish in 180 s; output:\n{}\n{}",
                std::fs::read_to_string(&stdout_path).unwrap_or_default(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    let context = format!("script:\n{script}\nstdout:\n{stdout}\nstderr:\n{stderr}");

    assert!(
        status.success(),
        "the walkthrough exited {status}; {context}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let created = lines
        .iter()
        .position(|l| l.contains("\"name\":\"hello-belt\"") && l.contains("\"id\":\"42\""));
    let running = lines
        .iter()
        .position(|l| l.starts_with("{\"status\":\"RUNNING\""));
    let ready = lines
        .iter()
        .position(|l| l.contains("\"grnry-belt-42-1-0\"") && l.contains(" belt-host: ready\""));
    let stopped = lines.iter().position(|l| *l == "{\"status\":\"STOPPED\"}");
    let deleted = lines.iter().position(|l| *l == "{\"content\":true}");
    assert!(created.is_some(), "the create answer; {context}");
    assert!(running.is_some(), "the state shows RUNNING; {context}");
    assert!(
        ready.is_some(),
        "the logs show the replica's ready line; {context}"
    );
    assert!(stopped.is_some(), "the STOP answer; {context}");
    assert!(deleted.is_some(), "the delete answer; {context}");
    assert!(
        created < running && running < ready && ready < stopped && stopped < deleted,
        "create, RUNNING, logs, STOP, delete in that order; {context}"
    );
    // The data plane: each event's update came back with its correlation id, nothing waits, and
    // the draft ran in the sandbox.
    for n in 0..3 {
        let id = format!("walk-{n}");
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{id} "))
                && l.contains("\"correlationId\"")
                && l.contains(&format!("\"{id}\""))),
            "the update of event {id}; {context}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("\"totalLag\":0")),
        "the offsets show no lag; {context}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"outcome\":\"completed\"")),
        "the test-invoke ran the draft; {context}"
    );
    assert!(
        !data_dir.join("belts").join("42").exists(),
        "the deleted belt's replica work dir is gone; {context}"
    );
    drop(server);
}

#[test]
fn a_readme_without_the_walkthrough_or_with_only_the_service_block_is_refused() {
    let no_section = "# Belt API\n\n## Running belts\n\n```sh\necho hi\n```\n";
    assert!(std::panic::catch_unwind(|| walkthrough_script(no_section)).is_err());
    let only_service = "## Walkthrough\n\n```sh\n# in another terminal:\nscripts/serve.sh\n```\n";
    assert!(std::panic::catch_unwind(|| walkthrough_script(only_service)).is_err());
    let next_section = "## Walkthrough\n\n```sh\n# in another terminal:\nx\n```\n\n```sh\necho a\n```\n\n## Next\n\n```sh\necho b\n```\n";
    assert_eq!(walkthrough_script(next_section), "echo a\n");
}
