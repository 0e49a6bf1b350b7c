//! Child processes under test: the release `belt-api` binary and the bare-HTTP server. Each is
//! started on `127.0.0.1:0`, found by the `address=http://…` its log prints, and measured through
//! `/proc/<pid>/status` (peak RSS, resettable through `/proc/<pid>/clear_refs`).
//!
//! The tests spawn `belt-api` through `belt_test_support::binary`; the bench keeps this one: it
//! is async (it times `/ready` to the millisecond while the runtime keeps serving load), reads
//! both output streams, measures the process, and reports failures as errors rather than test
//! panics. A shipped binary should not depend on a test-support crate.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

const LOG_TAIL_LINES: usize = 60;

pub struct Process {
    name: String,
    child: Child,
    pid: u32,
    address: SocketAddr,
    log_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Process {
    /// Starts `command` and waits (up to `timeout`) for the line announcing its address on stdout
    /// or stderr. Both streams are drained for the process's whole life, so a chatty log can
    /// never block it; the last lines are kept for error messages.
    pub async fn start(
        name: &str,
        mut command: Command,
        timeout: Duration,
    ) -> anyhow::Result<Process> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id().context("the child has no pid")?;
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (found_tx, found_rx) = oneshot::channel();
        let found_tx = Arc::new(Mutex::new(Some(found_tx)));
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        tokio::spawn(drain(stdout, log_tail.clone(), found_tx.clone()));
        tokio::spawn(drain(stderr, log_tail.clone(), found_tx));
        let address = match tokio::time::timeout(timeout, found_rx).await {
            Ok(Ok(address)) => address,
            outcome => {
                let _ = child.start_kill();
                let why = if outcome.is_err() {
                    format!("did not announce its address within {timeout:?}")
                } else {
                    "exited before announcing its address".to_string()
                };
                let tail = log_tail.lock().unwrap().iter().cloned().collect::<Vec<_>>();
                anyhow::bail!("{name} {why}; its last output:\n{}", tail.join("\n"));
            }
        };
        Ok(Process {
            name: name.to_string(),
            child,
            pid,
            address,
            log_tail,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_tail(&self) -> String {
        self.log_tail
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Peak RSS is measured from here on (false when the kernel refuses the reset).
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        Memory::of(self.pid)
    }

    /// SIGTERM, then a clean exit within `grace` (else killed).
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(
                    status.success(),
                    "{} exited with {status}; its last output:\n{}",
                    self.name,
                    self.log_tail()
                );
                Ok(())
            }
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("{} did not stop within {grace:?} of SIGTERM", self.name)
            }
        }
    }
}

async fn drain(
    stream: impl AsyncRead + Unpin,
    tail: Arc<Mutex<VecDeque<String>>>,
    found: Arc<Mutex<Option<oneshot::Sender<SocketAddr>>>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(address) = announced_address(&line) {
            if let Some(tx) = found.lock().unwrap().take() {
                let _ = tx.send(address);
            }
        }
        let mut tail = tail.lock().unwrap();
        if tail.len() == LOG_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}

/// `… address=http://127.0.0.1:4321 …` (the service's startup line, and the bare server's).
pub fn announced_address(line: &str) -> Option<SocketAddr> {
    let start = line.find("address=http://")? + "address=http://".len();
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"')
        .unwrap_or(rest.len());
    rest[..end].trim_end_matches('/').parse().ok()
}

/// From `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in /proc/{pid}/status"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            peak_rss_kib: field("VmHWM:")?,
        })
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it are fixed: utime and stime are the
    // 14th and 15th of the whole line, the 12th and 13th after the name.
    let after_name = &stat[stat.rfind(')').context("malformed stat")? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |at: usize| -> anyhow::Result<f64> {
        Ok(fields.get(at).context("short stat line")?.parse::<u64>()? as f64)
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Spawns `belt-api serve` and measures how long after exec `/ready` first answers 200.
pub async fn time_to_ready(
    binary: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .env("BELT_LISTEN", "127.0.0.1:0")
        .env("BELT_KAFKA_BROKER", "none")
        .env("BELT_DATA_DIR", data_dir);
    if let Some(url) = database_url {
        command.env("BELT_DATABASE_URL", url);
    }
    let exec = Instant::now();
    let process = Process::start("belt-api", command, timeout).await?;
    let address = process.address();
    let ready = loop {
        anyhow::ensure!(
            exec.elapsed() < timeout,
            "/ready did not answer within {timeout:?}"
        );
        if let Ok(mut conn) = crate::load::Conn::open(address).await {
            let request = crate::scenarios::get_request(address, "/ready", None);
            if let Ok(response) = conn.send(request).await {
                if response.status().is_success() {
                    break exec.elapsed();
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    process.stop(Duration::from_secs(10)).await?;
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::announced_address;

    #[test]
    fn finds_the_address_in_log_lines() {
        let text =
            "2025-01-01T00:00:00Z  INFO belt_api::app: belt-api listening; API docs at /docs \
                    address=http://127.0.0.1:40123 store=sqlite://x runtime=Local";
        assert_eq!(
            announced_address(text).unwrap().to_string(),
            "127.0.0.1:40123"
        );
        let json = r#"{"fields":{"address":"x"},"address=http://127.0.0.1:5/"}"#;
        assert_eq!(announced_address(json).unwrap().to_string(), "127.0.0.1:5");
        assert!(announced_address("no address here").is_none());
    }
}
