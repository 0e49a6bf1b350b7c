//! `belt wait ID --for=STATUS` (and `start|stop --wait`): reads the project's watch stream narrowed
//! to the belt, and asks the belt's state whenever an event about it arrives, so a missed or
//! unfamiliar event can never make it wait forever. A server without `/watch` (404) is polled.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::belt_path;
use crate::client::{checked, Client};
use crate::error::{CliError, Result};
use crate::output::Out;

const POLL_EVERY: Duration = Duration::from_secs(1);
const RECONNECT_AFTER: Duration = Duration::from_millis(200);

pub fn parse_status(text: &str) -> Result<String> {
    match belt_query::status::named(text.trim()) {
        Some(status) => Ok(status.to_string()),
        None => Err(CliError::Other(format!(
            "--for must be one of {} but is '{text}'",
            belt_query::status::ALL.join(", ")
        ))),
    }
}

struct Waiting<'a> {
    client: &'a Client,
    id: u64,
    target: &'a str,
    deadline: Instant,
    last_seen: Arc<Mutex<String>>,
}

impl Waiting<'_> {
    /// Asks the belt's state; true when it is the target.
    fn reached(&self) -> Result<bool> {
        let state = self
            .client
            .get_json(&format!("{}/state", belt_path(self.id)))?;
        let status = state["status"].as_str().unwrap_or_default().to_string();
        let reached = status == self.target;
        *self.last_seen.lock().unwrap() = status;
        Ok(reached)
    }

    fn remaining(&self) -> Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::TimedOut(format!(
                    "belt {} did not become {} in time; it is {}",
                    self.id,
                    self.target,
                    self.last_seen.lock().unwrap()
                ))
            })
    }
}

/// Waits until belt `id` reports `target`, at most `timeout`.
pub fn wait_for(client: &Client, id: u64, target: &str, timeout: Duration, out: Out) -> Result<()> {
    let waiting = Waiting {
        client,
        id,
        target,
        deadline: Instant::now() + timeout,
        last_seen: Arc::new(Mutex::new("unknown".into())),
    };
    let spinner = Spinner::start(id, target, waiting.last_seen.clone(), out);
    let result = match watch(&waiting) {
        Ok(true) => Ok(()),
        Ok(false) => {
            eprintln!("(this server has no watch: polling belt {id}'s state every second)");
            poll(&waiting)
        }
        Err(e) => Err(e),
    };
    spinner.stop();
    result?;
    out.note(&format!("belt {id} is {target}"));
    Ok(())
}

/// Ok(true) when reached; Ok(false) when the server has no watch.
fn watch(waiting: &Waiting) -> Result<bool> {
    let mut after: Option<u64> = None;
    loop {
        let mut url = waiting.client.url(&format!("/watch?belt={}", waiting.id));
        if let Some(after) = after {
            url.push_str(&format!("&after={after}"));
        }
        let response = waiting
            .client
            .send(waiting.client.request(Method::GET, &url, true))?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(false),
            StatusCode::GONE => {
                after = None;
                continue;
            }
            _ => {}
        }
        let response = checked(response)?;
        // The stream is open, so nothing after this read of the state can be missed.
        if waiting.reached()? {
            return Ok(true);
        }
        let lines = reader_thread(response);
        loop {
            let line = match lines.recv_timeout(waiting.remaining()?) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => return Err(waiting.remaining().unwrap_err()),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            match event["type"].as_str() {
                Some("resync") => {
                    after = None;
                    break;
                }
                Some(_) => after = event["id"].as_u64().or(after),
                None => continue,
            }
            if event["type"] == "event" && event["beltId"].as_str() == Some(&waiting.id.to_string())
            {
                if event["action"] == "deleted" {
                    return Err(CliError::Other(format!(
                        "belt {} was deleted while waiting",
                        waiting.id
                    )));
                }
                if waiting.reached()? {
                    return Ok(true);
                }
            }
        }
        // The server ended the stream (a restart, a proxy's idle timeout): reconnect, gently.
        std::thread::sleep(RECONNECT_AFTER.min(waiting.remaining()?));
    }
}

/// The stream's lines through a channel, so the wait can give up at its deadline however long a
/// single read would block.
fn reader_thread(response: reqwest::blocking::Response) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(response).lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn poll(waiting: &Waiting) -> Result<()> {
    loop {
        if waiting.reached()? {
            return Ok(());
        }
        std::thread::sleep(POLL_EVERY.min(waiting.remaining()?));
        waiting.remaining()?;
    }
}

/// A line on stderr that turns while waiting: only on a terminal, never with `-o json|yaml`.
struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(id: u64, target: &str, status: Arc<Mutex<String>>, out: Out) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        if out.machine() || !std::io::stderr().is_terminal() {
            return Spinner { stop, thread: None };
        }
        let (flag, target) = (stop.clone(), target.to_string());
        let thread = std::thread::spawn(move || {
            let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) {
                let now = status.lock().unwrap().clone();
                eprint!(
                    "\r\x1b[2K{} waiting for belt {id} to be {target}: {now}",
                    frames[n % frames.len()]
                );
                let _ = std::io::stderr().flush();
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            eprint!("\r\x1b[2K");
        });
        Spinner {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread {
            let _ = thread.join();
        }
    }
}
