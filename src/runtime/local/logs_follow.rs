//! Following the log files of a belt's replicas (docs/api.md#logs): each file is read from where
//! the last read stopped; a file rotated away is read to its end before its successor is opened
//! from the start; a truncated file is read again from the start. A replica that appears later
//! (a new generation) joins with every line written since the follow began. The follower reads
//! when the belt's log bell rings (`log_bells.rs`: every appended line rings it), so an idle
//! follow sleeps on a channel and costs no CPU; it also looks every [`QUIET_LOOK`], which only
//! matters for a file changed behind the supervisor's back.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

use super::output::{lines_of, rotated, LOG_FILE, MAX_TAIL_BYTES};
use super::sandbox::{open_private, read_private_tail};
use crate::runtime::{LogLine, LogQuery, LogStream, RuntimeError};

/// How long a follower waits for the bell before it looks anyway.
const QUIET_LOOK: Duration = Duration::from_secs(30);

/// How many rounds without a line a replica that went away is still read.
const LINGER: u32 = 4;

/// The most one read takes from one file, so one chatty replica cannot starve the others.
const READ_CHUNK: u64 = 256 * 1024;

/// The replicas to follow right now: (name, work dir).
pub(super) type Sources = Box<dyn Fn() -> Vec<(String, PathBuf)> + Send>;

/// Lines of `sources()` as they are written, first those `query` selects, until the stream is
/// dropped.
/// `bell` changes after each line appended to the belt's logs.
pub(super) fn follow(sources: Sources, bell: watch::Receiver<()>, query: LogQuery) -> LogStream {
    let (sender, receiver) = mpsc::channel(256);
    tokio::spawn(run(sources, bell, query, sender));
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
    .boxed()
}

type Sender = mpsc::Sender<Result<LogLine, RuntimeError>>;

async fn run(sources: Sources, mut bell: watch::Receiver<()>, query: LogQuery, sender: Sender) {
    let began = OffsetDateTime::now_utc();
    // Replicas that join later: every line since the follow began.
    let joining = LogQuery {
        lines: u32::MAX,
        since: Some(began),
        previous: false,
    };
    let mut tails: BTreeMap<String, Tail> = BTreeMap::new();
    let mut backlog = query;
    loop {
        // Marked heard before the files are read: a line appended during the read rings again.
        bell.borrow_and_update();
        let current = sources();
        let mut lines = Vec::new();
        for (pod, dir) in &current {
            if !tails.contains_key(pod) {
                let (pod, path, asked) = (pod.clone(), dir.join(LOG_FILE), backlog.clone());
                let opened = tokio::task::spawn_blocking(move || Tail::open(pod, path, &asked));
                let Ok((tail, mut first)) = opened.await else {
                    return;
                };
                lines.append(&mut first);
                tails.insert(tail.pod.clone(), tail);
            }
        }
        backlog = joining.clone();
        // A replica that went away is still read until it has been quiet for `LINGER` rounds:
        // it is removed from the table when its stop begins, and says its last words after
        // (each of which rings the bell).
        for (pod, tail) in tails.iter_mut() {
            let mut new = tail.read_new();
            if current.iter().any(|(name, _)| name == pod) || !new.is_empty() {
                tail.quiet_rounds = 0;
            } else {
                tail.quiet_rounds += 1;
            }
            lines.append(&mut new);
        }
        tails.retain(|_, tail| tail.quiet_rounds < LINGER);
        let idle = lines.is_empty();
        for line in lines {
            if sender.send(Ok(line)).await.is_err() {
                return;
            }
        }
        if idle {
            tokio::select! {
                rung = bell.changed() => if rung.is_err() { return },
                _ = tokio::time::sleep(QUIET_LOOK) => {}
                _ = sender.closed() => return,
            }
        }
    }
}

/// One replica's log file, read from where the last read stopped.
struct Tail {
    pod: String,
    path: PathBuf,
    file: Option<File>,
    offset: u64,
    /// The start of a line whose newline has not been read yet.
    partial: Vec<u8>,
    /// Rounds without a line since the replica went away.
    quiet_rounds: u32,
}

fn open_log(path: &Path) -> Option<File> {
    // Never through a symlink the replica planted (docs/local-sandbox.md).
    open_private(path, OpenOptions::new().read(true)).ok()
}

impl Tail {
    /// The tail positioned at the end of the log, and the lines `query` selects from what is
    /// already written (the rotated file included).
    fn open(pod: String, path: PathBuf, query: &LogQuery) -> (Tail, Vec<LogLine>) {
        let mut tail = Tail {
            file: open_log(&path),
            pod,
            path,
            offset: 0,
            partial: Vec::new(),
            quiet_rounds: 0,
        };
        let mut lines = tail.read_existing();
        if lines.len() < query.lines as usize {
            if let Ok((bytes, cut)) = read_private_tail(&rotated(&tail.path), MAX_TAIL_BYTES) {
                let mut older = lines_of(&bytes, cut).0;
                older.append(&mut lines);
                lines = older;
            }
        }
        lines.retain(|line| query.admits(line));
        let skip = lines.len().saturating_sub(query.lines as usize);
        let lines = lines.split_off(skip);
        let parsed = lines.iter().map(|l| LogLine::parse(&tail.pod, l)).collect();
        (tail, parsed)
    }

    /// The complete lines already in the file (its last `MAX_TAIL_BYTES`); the offset is set
    /// after the last of them.
    fn read_existing(&mut self) -> Vec<String> {
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let Ok(length) = file.metadata().map(|m| m.len()) else {
            return Vec::new();
        };
        let start = length.saturating_sub(MAX_TAIL_BYTES);
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(start)).is_err()
            || file.take(length - start).read_to_end(&mut bytes).is_err()
        {
            return Vec::new();
        }
        let (lines, end) = lines_of(&bytes, start > 0);
        self.offset = start + end as u64;
        lines
    }

    /// The lines written since the last read.
    fn read_new(&mut self) -> Vec<LogLine> {
        if self.file.is_none() {
            self.file = open_log(&self.path);
            self.offset = 0;
            self.partial.clear();
        }
        let Some(file) = self.file.as_mut() else {
            return Vec::new();
        };
        let Ok(meta) = file.metadata() else {
            self.file = None;
            return Vec::new();
        };
        if meta.len() < self.offset {
            // Truncated: what is there now is new.
            self.offset = 0;
            self.partial.clear();
        }
        if meta.len() == self.offset {
            if !names_the_same_file(&self.path, &meta) {
                // Rotated or replaced, and read to its end: the successor is read from its start.
                self.file = None;
            }
            return Vec::new();
        }
        let mut chunk = Vec::new();
        let want = (meta.len() - self.offset).min(READ_CHUNK);
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.take(want).read_to_end(&mut chunk).is_err()
        {
            return Vec::new();
        }
        self.offset += chunk.len() as u64;
        self.partial.append(&mut chunk);
        let (lines, end) = lines_of(&self.partial, false);
        self.partial.drain(..end);
        lines
            .iter()
            .map(|line| LogLine::parse(&self.pod, line))
            .collect()
    }
}

fn names_the_same_file(path: &Path, open: &std::fs::Metadata) -> bool {
    std::fs::symlink_metadata(path)
        .is_ok_and(|named| named.dev() == open.dev() && named.ino() == open.ino())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::local::output::LogFile;
    use std::io::Write;

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.line.as_str()).collect()
    }

    #[test]
    fn reads_new_lines_across_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::new(dir.path(), 100);
        log.append("2026-01-01T10:00:00.000000000Z a").unwrap();
        let path = dir.path().join(LOG_FILE);
        let (mut tail, first) = Tail::open("p".into(), path.clone(), &LogQuery::last(10));
        assert_eq!(texts(&first), ["a"]);
        assert!(tail.read_new().is_empty());
        // 33 bytes a line, 100 bytes a file: the fourth line rotates.
        for text in ["b", "c", "d", "e"] {
            log.append(&format!("2026-01-01T10:00:01.000000000Z {text}"))
                .unwrap();
        }
        let mut seen = tail.read_new();
        seen.append(&mut tail.read_new());
        seen.append(&mut tail.read_new());
        assert_eq!(texts(&seen), ["b", "c", "d", "e"]);
        // Truncated in place, as a replica writing its own work dir might.
        File::create(&path).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"2026-01-01T10:00:02.000000000Z f\n")
            .unwrap();
        assert_eq!(texts(&tail.read_new()), ["f"]);
    }

    #[test]
    fn a_line_without_its_newline_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut file = File::create(&path).unwrap();
        let (mut tail, first) = Tail::open("p".into(), path.clone(), &LogQuery::last(10));
        assert!(first.is_empty());
        file.write_all(b"2026-01-01T10:00:00.000000000Z hal")
            .unwrap();
        assert!(tail.read_new().is_empty());
        file.write_all(b"f\n").unwrap();
        assert_eq!(texts(&tail.read_new()), ["half"]);
    }
}
