//! The real `belt-api` program as a test runs it: a cleared environment (only `PATH`, then what
//! the test gives), a free port (`BELT_LISTEN=127.0.0.1:0`), the address read from the line its
//! log prints (`address=http://…`, waited for on the caller's thread or, from async code, on a
//! blocking thread), stderr drained for its whole life and kept for messages, `/ready` polled
//! on request, SIGKILL on request (a crash), and SIGTERM on drop (so it stops the replicas it
//! started), SIGKILL when it does not exit within the grace.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// How a program is started; `start` runs it.
pub struct Spawn {
    command: Command,
    patience: Duration,
    grace: Duration,
}

impl Spawn {
    /// `program serve` on a free port, with no environment but `PATH`.
    pub fn serve(program: impl Into<PathBuf>) -> Spawn {
        let mut command = Command::new(program.into());
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("BELT_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Spawn {
            command,
            patience: Duration::from_secs(60),
            grace: Duration::from_secs(30),
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Spawn {
        self.command.arg(arg.into());
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spawn {
        self.command.env(key.into(), value.into());
        self
    }

    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Spawn
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        for (key, value) in vars {
            self.command.env(key.into(), value.into());
        }
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Spawn {
        self.command.current_dir(dir.into());
        self
    }

    /// How long the program may take to print its address (60 s unless told).
    pub fn patience(mut self, limit: Duration) -> Spawn {
        self.patience = limit;
        self
    }

    /// How long it may take to exit after SIGTERM before SIGKILL (30 s unless told); zero kills
    /// it outright.
    pub fn grace(mut self, limit: Duration) -> Spawn {
        self.grace = limit;
        self
    }

    /// Starts the program and waits for its address; panics with its log when it exits first or
    /// does not listen in time.
    pub fn start(mut self) -> Program {
        let mut child = self.command.spawn().expect("starting belt-api serve");
        let log = Log::drain(&mut child);
        let deadline = Instant::now() + self.patience;
        loop {
            if let Some((at, address)) = log.find_from(0, announced_address) {
                return Program {
                    child,
                    address,
                    log,
                    cursor: at + 1,
                    grace: self.grace,
                };
            }
            if let Some(status) = child.try_wait().unwrap() {
                log.wait_for_end();
                panic!("belt-api exited ({status}):\n{}", log.text());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "belt-api did not listen within {:?}:\n{}",
                    self.patience,
                    log.text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `start` off the async runtime's threads (`spawn_blocking`), so that a test can start
    /// several programs at once, and the servers it runs in-process keep answering meanwhile.
    pub async fn start_async(self) -> Program {
        match tokio::task::spawn_blocking(move || self.start()).await {
            Ok(program) => program,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(err) => panic!("starting belt-api was cancelled: {err}"),
        }
    }

    /// Runs a program that must exit on its own within its patience: its status and stderr.
    pub fn run_to_exit(mut self) -> (ExitStatus, String) {
        let mut child = self.command.spawn().expect("starting belt-api");
        let log = Log::drain(&mut child);
        let deadline = Instant::now() + self.patience;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                log.wait_for_end();
                return (status, log.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("belt-api kept running:\n{}", log.text());
    }
}

/// `http://host:port` from a log line announcing it, in the text or the JSON log format.
fn announced_address(line: &str) -> Option<String> {
    if let Some(at) = line.find("address=") {
        let rest = &line[at + "address=".len()..];
        return Some(rest.split_whitespace().next()?.to_string());
    }
    // BELT_LOG_FORMAT=json
    let at = line.find("\"address\":\"")? + "\"address\":\"".len();
    let rest = &line[at..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The lines of a program's stderr, read by a thread for the program's whole life.
#[derive(Clone, Default)]
struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    ended: Arc<Mutex<bool>>,
}

impl Log {
    fn drain(child: &mut Child) -> Log {
        let log = Log::default();
        let stderr = child.stderr.take().expect("stderr piped");
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lines
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            }
            *kept.ended.lock().unwrap_or_else(PoisonError::into_inner) = true;
        });
        log
    }

    fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// The first line from index `from` on that `pick` accepts: its index and what it picked.
    fn find_from<T>(&self, from: usize, pick: impl Fn(&str) -> Option<T>) -> Option<(usize, T)> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = lines.iter().enumerate().skip(from);
        rest.find_map(|(at, line)| Some((at, pick(line)?)))
    }

    /// After the program exited: until its last line is read (a second at most).
    fn wait_for_end(&self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !*self.ended.lock().unwrap_or_else(PoisonError::into_inner)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A running program; stopped when dropped.
pub struct Program {
    /// For a test that kills it its own way (SIGKILL at a chosen moment) or waits for its exit.
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    log: Log,
    /// The first line `wait_for_line` has not looked at.
    cursor: usize,
    grace: Duration,
}

impl Program {
    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every line of stderr so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lines()
    }

    /// Every line of stderr so far, joined.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Waits until a line after those a previous wait (or the address) consumed contains
    /// `text`; that line.
    pub fn wait_for_line(&mut self, text: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let found = self.log.find_from(self.cursor, |line| {
                line.contains(text).then(|| line.to_string())
            });
            if let Some((at, line)) = found {
                self.cursor = at + 1;
                return line;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no line with `{text}` in {limit:?}:\n{}", self.log());
    }

    /// Polls `GET /ready` until it answers 200; panics with the log after `limit`.
    pub fn wait_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.ready_status() == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "/ready did not answer 200 within {limit:?}:\n{}",
            self.log()
        );
    }

    /// The status `/ready` answers now, over a plain HTTP/1.0 request.
    fn ready_status(&self) -> Option<u16> {
        let host = self.address.strip_prefix("http://")?;
        let mut stream = std::net::TcpStream::connect(host).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let request = format!("GET /ready HTTP/1.0\r\nHost: {host}\r\n\r\n");
        stream.write_all(request.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.split_whitespace().nth(1)?.parse().ok()
    }

    /// Sends `signal` to the program.
    pub fn signal(&self, signal: Signal) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), signal);
    }

    /// The exit status if it has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// SIGKILL now (`kill -9`: no shutdown, no hand-over, what a crashed node does); its exit
    /// status.
    pub fn kill(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }

    /// SIGTERM, then SIGKILL when it has not exited within the grace: its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        if !self.grace.is_zero() {
            self.signal(Signal::SIGTERM);
        }
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill()
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.terminate();
    }
}
