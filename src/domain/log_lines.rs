//! What a caller may ask of a belt's logs besides how many lines, and one followed line
//! (docs/api.md#logs). Plain values: the runtimes read and follow the lines.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Lines per replica, and which of them.
#[derive(Debug, Clone, PartialEq)]
pub struct LogQuery {
    /// The last this many lines of each replica (of those `since` admits).
    pub lines: u32,
    /// Only lines written at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// The replica's previous run, as `kubectl logs --previous`.
    pub previous: bool,
}

impl LogQuery {
    pub fn last(lines: u32) -> Self {
        LogQuery {
            lines,
            since: None,
            previous: false,
        }
    }

    /// Whether a timestamp-prefixed line passes `since`. A line without a readable timestamp
    /// passes: hiding it would hide output the caller cannot otherwise see.
    pub fn admits(&self, stamped: &str) -> bool {
        let Some(since) = self.since else {
            return true;
        };
        match stamp_of(stamped) {
            Some(at) => at >= since,
            None => true,
        }
    }
}

/// The time a timestamp-prefixed line (`2020-07-03T11:13:42.485886300Z text`) was written.
pub fn stamp_of(stamped: &str) -> Option<OffsetDateTime> {
    let (stamp, _) = stamped.split_once(' ').unwrap_or((stamped, ""));
    OffsetDateTime::parse(stamp, &Rfc3339).ok()
}

/// One line of a followed log, as the stream sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    /// The pod or process that wrote it.
    pub pod: String,
    /// When it was written: RFC 3339, UTC (empty when the runtime gave no readable time).
    pub time: String,
    /// The line, without its timestamp.
    pub line: String,
}

impl LogLine {
    /// From a timestamp-prefixed line.
    pub fn parse(pod: &str, stamped: &str) -> LogLine {
        let (time, line) = match stamped.split_once(' ') {
            Some((stamp, line)) if stamp_of(stamp).is_some() => (stamp, line),
            _ => ("", stamped),
        };
        LogLine {
            pod: pod.to_string(),
            time: time.to_string(),
            line: line.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_keeps_lines_at_or_after_it_and_lines_without_a_time() {
        let query = LogQuery {
            since: Some(time::macros::datetime!(2020-07-03 11:13:42 UTC)),
            ..LogQuery::last(10)
        };
        assert!(query.admits("2020-07-03T11:13:42.000000000Z at"));
        assert!(query.admits("2020-07-03T11:13:43.1Z after"));
        assert!(!query.admits("2020-07-03T11:13:41.999999999Z before"));
        assert!(query.admits("no stamp here"));
    }

    #[test]
    fn a_line_splits_into_time_and_text() {
        let line = LogLine::parse("p-0", "2020-07-03T11:13:42.485886300Z hello world");
        assert_eq!(line.time, "2020-07-03T11:13:42.485886300Z");
        assert_eq!(line.line, "hello world");
        assert_eq!(LogLine::parse("p-0", "plain").time, "");
    }
}
