//! A replica's output: lines read from its pipes, stamped like `kubectl logs --timestamps`, kept in
//! a bounded log file in its work dir, and read back by `logs`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::sandbox::{open_private, read_private_tail};

/// Kubernetes' log timestamp: RFC 3339, UTC, nanoseconds (`2020-07-03T11:13:42.485886300Z`).
const STAMP: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// A line longer than this is split, so a process writing without newlines cannot grow our memory.
pub(super) const MAX_LINE_BYTES: usize = 16 * 1024;

/// The most of a log file `tail` reads: a file grown past its limit by the replica itself (it
/// can write its work dir) must not be read whole.
pub(super) const MAX_TAIL_BYTES: u64 = 8 * 1024 * 1024;

pub(super) fn stamp(at: OffsetDateTime) -> String {
    at.format(STAMP)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Reads the next line (without its newline, lossily decoded), at most `MAX_LINE_BYTES` long;
/// `None` at end of output.
pub(super) async fn next_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let buffer = reader.fill_buf().await?;
        if buffer.is_empty() {
            return Ok((!line.is_empty()).then(|| decode(&line)));
        }
        let room = MAX_LINE_BYTES - line.len();
        let window = &buffer[..buffer.len().min(room)];
        if let Some(end) = window.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&window[..end]);
            reader.consume(end + 1);
            return Ok(Some(decode(&line)));
        }
        let taken = window.len();
        line.extend_from_slice(window);
        reader.consume(taken);
        if line.len() >= MAX_LINE_BYTES {
            return Ok(Some(decode(&line)));
        }
    }
}

fn decode(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.strip_suffix('\r').unwrap_or(&text).to_string()
}

/// `<dir>/belt.log`, rotated to `belt.log.1` when it reaches `limit` bytes: at most two files, so a
/// chatty belt costs at most twice the limit on disk.
pub(super) struct LogFile {
    path: PathBuf,
    limit: u64,
    file: Option<File>,
    size: u64,
    /// Rung after each line, for the follows of the belt (`log_bells.rs`).
    bell: Option<tokio::sync::watch::Sender<()>>,
}

pub(super) const LOG_FILE: &str = "belt.log";

/// The start times of the replica's last two runs, one stamp a line: what tells the previous
/// run's lines from the current one's in the shared log.
pub(super) const RUNS_FILE: &str = "belt.runs";

impl LogFile {
    pub(super) fn new(dir: &Path, limit: u64) -> LogFile {
        LogFile {
            path: dir.join(LOG_FILE),
            limit,
            file: None,
            size: 0,
            bell: None,
        }
    }

    /// The file, ringing `bell` after each line it appends.
    pub(super) fn ringing(self, bell: tokio::sync::watch::Sender<()>) -> LogFile {
        LogFile {
            bell: Some(bell),
            ..self
        }
    }

    /// Appends one stamped line. Writes go to the page cache and take microseconds, so they are
    /// done in place rather than handed to a blocking thread per line.
    pub(super) fn append(&mut self, stamped: &str) -> io::Result<()> {
        if self.file.is_some() && self.size + stamped.len() as u64 + 1 > self.limit {
            self.file = None;
            std::fs::rename(&self.path, rotated(&self.path))?;
        }
        if self.file.is_none() {
            // The replica may have swapped the file for a symlink: never write through it.
            let file = open_private(&self.path, OpenOptions::new().create(true).append(true))?;
            self.size = file.metadata()?.len();
            self.file = Some(file);
        }
        let mut record = Vec::with_capacity(stamped.len() + 1);
        record.extend_from_slice(stamped.as_bytes());
        record.push(b'\n');
        if let Some(file) = self.file.as_mut() {
            // One write per line, so a concurrent reader sees whole lines.
            file.write_all(&record)?;
        }
        self.size += record.len() as u64;
        if let Some(bell) = &self.bell {
            bell.send_replace(());
        }
        Ok(())
    }
}

impl LogFile {
    /// Records that a run starts at `at`: called before the process is spawned, so every line
    /// of the run is stamped at or after it.
    pub(super) fn start_run(&self, at: OffsetDateTime) -> io::Result<()> {
        let Some(dir) = self.path.parent() else {
            return Ok(());
        };
        let runs = dir.join(RUNS_FILE);
        let last = run_starts(dir).pop();
        let mut text = String::new();
        if let Some(last) = last {
            text.push_str(&stamp(last));
            text.push('\n');
        }
        text.push_str(&stamp(at));
        text.push('\n');
        let mut options = OpenOptions::new();
        options.create(true).write(true).truncate(true);
        open_private(&runs, &mut options)?.write_all(text.as_bytes())
    }
}

/// The recorded run starts in `dir`, oldest first (at most two).
pub(super) fn run_starts(dir: &Path) -> Vec<OffsetDateTime> {
    let Ok((bytes, _)) = read_private_tail(&dir.join(RUNS_FILE), 4096) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| {
            OffsetDateTime::parse(line.trim(), &time::format_description::well_known::Rfc3339).ok()
        })
        .collect()
}

pub(super) fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// The last `n` lines of the log in `dir`, oldest first, reaching into the rotated file when the
/// current one is short. A file missing (not written yet, or mid-rotation) counts as empty.
pub(super) async fn tail(dir: &Path, n: usize) -> Vec<String> {
    let path = dir.join(LOG_FILE);
    let mut lines = complete_lines(&path).await;
    if lines.len() < n {
        let mut older = complete_lines(&rotated(&path)).await;
        older.append(&mut lines);
        lines = older;
    }
    let skip = lines.len().saturating_sub(n);
    lines.split_off(skip)
}

pub(super) async fn complete_lines(path: &Path) -> Vec<String> {
    // Not followed through a symlink the replica planted, and bounded (docs/local-sandbox.md).
    let path = path.to_path_buf();
    let read = tokio::task::spawn_blocking(move || read_private_tail(&path, MAX_TAIL_BYTES)).await;
    let Ok(Ok((bytes, cut))) = read else {
        return Vec::new();
    };
    lines_of(&bytes, cut).0
}

/// The complete lines of `bytes`, and how many bytes they take. A `cut` read starts mid-line:
/// that line is incomplete; a line still being written has no newline yet: it is left for the
/// next read.
pub(super) fn lines_of(bytes: &[u8], cut: bool) -> (Vec<String>, usize) {
    let start = if cut {
        bytes
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| i + 1)
    } else {
        0
    };
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines = String::from_utf8_lossy(&bytes[start.min(end)..end])
        .lines()
        .map(str::to_string)
        .collect();
    (lines, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_like_kubernetes() {
        let at = time::macros::datetime!(2020-07-03 11:13:42.4858863 UTC);
        assert_eq!(stamp(at), "2020-07-03T11:13:42.485886300Z");
    }

    #[tokio::test]
    async fn splits_overlong_lines_and_keeps_the_last_partial_one() {
        let mut input = vec![b'a'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\r\nlast");
        let mut reader = tokio::io::BufReader::with_capacity(100, &input[..]);
        let mut lines = Vec::new();
        while let Some(line) = next_line(&mut reader).await.unwrap() {
            lines.push(line);
        }
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], "a".repeat(10));
        assert_eq!(&lines[2..], ["next", "last"]);
    }

    #[tokio::test]
    async fn rotates_at_the_limit_and_tails_across_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::new(dir.path(), 100);
        for i in 0..30 {
            log.append(&format!("line {i:02}")).unwrap();
        }
        let current = std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len();
        assert!(current <= 100, "current file has {current} bytes");
        assert!(dir.path().join("belt.log.1").exists());
        assert!(!dir.path().join("belt.log.2").exists());

        let last = tail(dir.path(), 3).await;
        assert_eq!(last, ["line 27", "line 28", "line 29"]);
        // 100-byte files hold 12 lines of 8 bytes: 15 lines reach into the rotated file.
        let more = tail(dir.path(), 15).await;
        assert_eq!(more.first().unwrap(), "line 15");
        assert_eq!(more.last().unwrap(), "line 29");
    }

    #[tokio::test]
    async fn tail_of_a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(tail(dir.path(), 5).await.is_empty());
    }
}
