//! The embedded broker's program for tests that run it: `BELT_KAFKA_BROKER_COMMAND` when set (CI
//! and scripts/test.sh set it), else what `scripts/broker.sh` prints (it builds the broker once
//! into a cache shared by every checkout; its progress goes to the test's stderr).

use std::sync::OnceLock;

pub fn broker_program() -> &'static str {
    static PROGRAM: OnceLock<String> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        if let Some(program) = std::env::var("BELT_KAFKA_BROKER_COMMAND")
            .ok()
            .filter(|p| !p.is_empty())
        {
            return program;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/broker.sh");
        let output = std::process::Command::new("bash")
            .arg(script)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("running scripts/broker.sh");
        assert!(
            output.status.success(),
            "the embedded broker is needed: set BELT_KAFKA_BROKER_COMMAND or let \
             scripts/broker.sh build it (see its output above)"
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}
