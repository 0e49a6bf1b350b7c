//! Reading a replica's log for `since` and `previous` (docs/api.md#logs). The log file is shared
//! by every run of a replica; `belt.runs` records when the last two runs started, which is what
//! tells the previous run's lines from the current one's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::output::{complete_lines, rotated, run_starts, LOG_FILE};
use crate::domain::log_lines::stamp_of;
use crate::runtime::LogQuery;

/// The lines of each replica `query` asks for, keyed by replica name.
pub(super) async fn select(
    replicas: Vec<(String, PathBuf)>,
    query: &LogQuery,
) -> BTreeMap<String, Vec<String>> {
    let mut logs = BTreeMap::new();
    for (name, dir) in replicas {
        logs.insert(name, select_one(&dir, query).await);
    }
    logs
}

async fn select_one(dir: &Path, query: &LogQuery) -> Vec<String> {
    let window = if query.previous {
        let dir = dir.to_path_buf();
        let starts = tokio::task::spawn_blocking(move || run_starts(&dir))
            .await
            .unwrap_or_default();
        match starts.as_slice() {
            [previous, current] => Some((*previous, *current)),
            _ => return Vec::new(),
        }
    } else {
        None
    };
    let path = dir.join(LOG_FILE);
    let mut lines = complete_lines(&rotated(&path)).await;
    lines.append(&mut complete_lines(&path).await);
    lines.retain(|line| {
        let in_run = window
            .is_none_or(|(from, to)| stamp_of(line).is_some_and(|at| (from..to).contains(&at)));
        in_run && query.admits(line)
    });
    let skip = lines.len().saturating_sub(query.lines as usize);
    lines.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::local::output::{stamp, LogFile};
    use time::macros::datetime;

    fn query(lines: u32) -> LogQuery {
        LogQuery::last(lines)
    }

    /// Two runs: lines 0-2 in the first, 3-5 in the second.
    fn two_runs(dir: &Path) {
        let mut log = LogFile::new(dir, 1 << 20);
        let at = |s: i64| datetime!(2026-01-01 10:00:00 UTC) + time::Duration::seconds(s);
        log.start_run(at(0)).unwrap();
        for i in 0..3 {
            log.append(&format!("{} run one {i}", stamp(at(i + 1))))
                .unwrap();
        }
        log.start_run(at(10)).unwrap();
        for i in 3..6 {
            log.append(&format!("{} run two {i}", stamp(at(i + 10))))
                .unwrap();
        }
    }

    fn texts(lines: &[String]) -> Vec<&str> {
        lines.iter().map(|l| l.split_once(' ').unwrap().1).collect()
    }

    #[tokio::test]
    async fn previous_is_the_run_before_the_last_start() {
        let dir = tempfile::tempdir().unwrap();
        two_runs(dir.path());
        let previous = LogQuery {
            previous: true,
            ..query(500)
        };
        let lines = select_one(dir.path(), &previous).await;
        assert_eq!(texts(&lines), ["run one 0", "run one 1", "run one 2"]);
        let last_two = LogQuery {
            previous: true,
            ..query(2)
        };
        assert_eq!(
            texts(&select_one(dir.path(), &last_two).await),
            ["run one 1", "run one 2"]
        );
    }

    #[tokio::test]
    async fn a_replica_that_never_restarted_has_no_previous_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::new(dir.path(), 1 << 20);
        log.start_run(datetime!(2026-01-01 10:00:00 UTC)).unwrap();
        log.append("2026-01-01T10:00:01.000000000Z only run")
            .unwrap();
        let previous = LogQuery {
            previous: true,
            ..query(500)
        };
        assert!(select_one(dir.path(), &previous).await.is_empty());
        assert_eq!(select_one(dir.path(), &query(500)).await.len(), 1);
    }

    #[tokio::test]
    async fn since_keeps_lines_at_or_after_it_across_runs() {
        let dir = tempfile::tempdir().unwrap();
        two_runs(dir.path());
        let since = LogQuery {
            since: Some(datetime!(2026-01-01 10:00:03 UTC)),
            ..query(500)
        };
        assert_eq!(
            texts(&select_one(dir.path(), &since).await),
            ["run one 2", "run two 3", "run two 4", "run two 5"]
        );
    }
}
