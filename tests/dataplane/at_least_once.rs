//! kill -9 of a replica in the middle of a stream loses nothing: the restarted replica consumes
//! again from the last committed offsets, which only ever follow acknowledged outputs.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{callback, correlation_ids, count, ids, produce, read_distinct, Api};

const EVENTS: u64 = 10_000;

/// The belt host's process of a replica of `data_dir` (not the sandbox around it): its
/// environment carries the data dir's marker and it runs `belt_host.py`.
fn host_pid(data_dir: &Path) -> Option<i32> {
    let marker = format!(
        "BELT_REPLICA_OF={}",
        data_dir.canonicalize().ok()?.display()
    );
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            // `python -I belt_host.py`: the trusted host, not the worker next to it.
            let runs_host = args[0].ends_with(b"/bin/python")
                && args.iter().any(|arg| arg.ends_with(b"/belt_host.py"));
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            let marked = environ.split(|b| *b == 0).any(|v| v == marker.as_bytes());
            (runs_host && marked).then_some(pid)
        })
}

#[tokio::test]
async fn a_replica_killed_mid_stream_loses_no_event() {
    let api = Api::start();
    let (id, input, destination) = (103, "grnry_data_in_dp-killed", "dp-updates-103");
    // Slow enough that the stream is still flowing when the replica is killed.
    let slow = "    import time\n    time.sleep(0.0005)\n";
    let fields = json!({ "extractorFn": callback(slow) });
    api.create_belt(id, "dp-killed", destination, fields).await;
    api.run_belt(
        id,
        &[(input, 3), (destination, 3), ("grnry_belt_dlq_103", 1)],
    )
    .await;
    let victim = host_pid(&api.data_dir).expect("the replica's belt host process");

    produce(input, 0, EVENTS, 3).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        let done = count(destination).await;
        if done >= EVENTS / 5 {
            break done;
        }
        assert!(Instant::now() < deadline, "no progress: {}", api.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        before < EVENTS,
        "the stream ended before the kill ({before} updates)"
    );
    nix_kill(victim);

    // Restarted by the runtime, it joins the group again and picks up the committed offsets.
    let updates = read_distinct(destination, EVENTS as usize, Duration::from_secs(90)).await;
    let seen = correlation_ids(&updates);
    let missing: Vec<String> = ids(0..EVENTS)
        .into_iter()
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let duplicates = updates.len() as u64 - EVENTS;
    println!(
        "killed the replica (pid {victim}) after {before} of {EVENTS} updates; every event has an \
         update; {duplicates} duplicate update(s) from the batch in flight"
    );
    let restarted = host_pid(&api.data_dir).expect("a restarted replica");
    assert_ne!(restarted, victim);
}

fn nix_kill(pid: i32) {
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
