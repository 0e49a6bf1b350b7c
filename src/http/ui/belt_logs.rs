//! The belt page's log section: each replica's last lines, and for an editor the choice of
//! which lines (`since`: the last 5 minutes, the last hour or all kept; `previous`: each
//! replica's previous run). Without JavaScript the choice is a GET of the page with those
//! parameters; with it, `ui/live.js` restarts the live log stream with them. A previous run has
//! ended, so its lines are shown and not followed.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::guarded::belt_page;
use super::html::Html;
use crate::belts::BeltError;
use crate::domain::log_lines::LogQuery;
use crate::domain::{Belt, Invalid};
use crate::http::query::Query;

pub type Logs = Result<Option<BTreeMap<String, Vec<String>>>, BeltError>;

/// The choices of `since` the section offers: (value, label); the empty value is all kept.
const SINCE_CHOICES: [(&str, &str); 3] = [
    ("", "All kept"),
    ("5m", "Last 5 minutes"),
    ("1h", "Last hour"),
];

/// Which lines the reader chose, from the page's query (read by `query.rs`).
pub struct LogChoice {
    since: Option<String>,
    previous: bool,
    ask: Result<(Option<OffsetDateTime>, bool), Invalid>,
}

impl LogChoice {
    pub fn of(query: &Query) -> LogChoice {
        let ask = query
            .since(OffsetDateTime::now_utc())
            .and_then(|since| Ok((since, query.flag("previous")?)));
        LogChoice {
            since: query.single("since").ok().flatten().map(str::to_owned),
            previous: matches!(ask, Ok((_, true))),
            ask,
        }
    }

    /// The logs' query: the last `lines` of what was chosen, or why the choice is refused.
    pub fn ask(&self, lines: u32) -> Result<LogQuery, Invalid> {
        let (since, previous) = self.ask.clone()?;
        Ok(LogQuery {
            since,
            previous,
            ..LogQuery::last(lines)
        })
    }
}

pub fn section(html: &mut Html, belt: &Belt, logs: Logs, choice: &LogChoice) {
    html.raw(
        "<section aria-labelledby=\"logs\" id=\"log-lines\"><h2 id=\"logs\">Last log lines</h2>",
    );
    if !matches!(logs, Err(BeltError::Forbidden)) {
        options(html, belt, choice);
    }
    html.raw("<div id=\"log-replicas\">");
    lines(html, logs);
    html.raw("</div></section>");
}

/// The choice of lines, as a form that reloads the page with it (`ui/live.js` takes it over).
fn options(html: &mut Html, belt: &Belt, choice: &LogChoice) {
    html.raw("<form id=\"log-options\" method=\"get\" action=\"")
        .text(belt_page(&belt.project, belt.id))
        .raw("\"><label for=\"log-since\">Since</label> ")
        .raw("<select id=\"log-since\" name=\"since\">");
    for (value, label) in SINCE_CHOICES {
        let chosen = choice.since.as_deref().unwrap_or_default() == value;
        html.raw("<option value=\"")
            .text(value)
            .raw(if chosen { "\" selected>" } else { "\">" })
            .text(label)
            .raw("</option>");
    }
    html.raw("</select> <input type=\"checkbox\" id=\"log-previous\" name=\"previous\" ")
        .raw("value=\"true\" aria-describedby=\"log-previous-hint\"")
        .raw(if choice.previous { " checked>" } else { ">" })
        .raw(" <label for=\"log-previous\">Previous run</label> ")
        .raw("<button type=\"submit\" id=\"log-show\">Show</button>")
        .raw("<p id=\"log-previous-hint\" class=\"hint\">The previous run is each replica's ")
        .raw("run before its last restart. It has ended: its lines are shown, and new lines ")
        .raw("are not followed while it is chosen.</p></form>");
}

fn lines(html: &mut Html, logs: Logs) {
    match logs {
        Ok(None) => {
            html.raw("<p>The belt is stopped: no replica writes lines.</p>");
        }
        Ok(Some(replicas)) if replicas.is_empty() => {
            html.raw("<p>No replica yet.</p>");
        }
        Ok(Some(replicas)) => {
            for (replica, lines) in replicas {
                html.element("h3", &replica);
                // Focusable: a scrolling region must be reachable by keyboard (axe's
                // scrollable-region-focusable).
                html.raw("<pre class=\"log\" tabindex=\"0\" data-replica=\"")
                    .text(replica)
                    .raw("\">")
                    .text(lines.join("\n"))
                    .raw("</pre>");
            }
        }
        Err(BeltError::Forbidden) => {
            html.raw("<p>Log lines are shown to editors only.</p>");
        }
        Err(err) => {
            html.raw("<p class=\"problem\">Logs unavailable: ")
                .text(err)
                .raw("</p>");
        }
    }
}
