//! Logs (docs/api.md#logs): the last lines of every replica as one JSON answer, or, with
//! `follow=true`, a stream of newline-delimited JSON that stays open while the belt runs.
//! Handlers extract, call one use case, render.

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;

use super::caller::Caller;
use super::document::{Link, SelfLinks};
use super::dry_run::{DryRun, RefusedDryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::links::{query_string, BaseUrl};
use super::query::Query;
use super::scope::BeltScope;
use super::state::AppState;
use super::streams::{line_of, ndjson, EndLine};
use crate::belts::{Bounded, MAX_LOG_LINES};
use crate::domain::log_lines::{LogLine, LogQuery};
use crate::domain::Invalid;

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsBody {
    /// Number of pods (replicas) the logs come from.
    pub total_count: usize,
    /// Pod or process name → its last lines, each prefixed with an RFC 3339 timestamp.
    pub logs: BTreeMap<String, Vec<String>>,
    #[serde(rename = "_links", skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLinks>,
}

/// What a logs call asks, from its query: `lines`, `since`, `previous`.
fn log_query(query: &Query) -> Result<LogQuery, Invalid> {
    let lines = query.value(
        "lines",
        &format!("in between 1 and {MAX_LOG_LINES}"),
        |text| (text.trim().parse::<u32>().ok()).filter(|n| (1..=MAX_LOG_LINES).contains(n)),
    )?;
    Ok(LogQuery {
        lines: lines.unwrap_or(MAX_LOG_LINES),
        since: query.since(OffsetDateTime::now_utc())?,
        previous: query.flag("previous")?,
    })
}

/// The last `lines` log lines of every replica (also answers POST, as a published client uses
/// it); with `follow=true`, a stream.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/logs",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("lines" = Option<u32>, Query, description = "Lines per replica, 1–500, default 500: the last ones (of those `since` keeps)."),
        ("since" = Option<String>, Query, description = "Only lines written at or after this: an RFC 3339 time, or a duration before now (`30s`, `10m`, `2h`)."),
        ("previous" = Option<bool>, Query, description = "Each replica's previous run (as `kubectl logs --previous`); a replica that did not restart has none. Ignored with `follow`."),
        ("follow" = Option<bool>, Query, description = "Stream newline-delimited JSON: first the selected lines, then new ones as replicas write them, until the caller leaves, the belt is stopped or deleted and no replica remains, or the token expires (a last `end` line says so)."),
        RefusedDryRunParam,
    ),
    responses(
        (status = 200, description = "Logs keyed by pod; a stopped belt answers `{\"totalCount\": 0, \"logs\": {}}`. With `follow=true`: `application/x-ndjson`, one line object per line, and a last `EndLine` (`{\"type\": \"end\", \"reason\": \"token expired\"}`) when the token expires (`server shutting down` when the service stops).",
            content((LogsBody = "application/json"), (LogLine = "application/x-ndjson"))),
        (status = 400, description = "Bad `lines`, `since`, `previous` or `follow`, or `dryRun=true` (reading logs has no dry run).", body = ErrorBody),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
        (status = 403, description = "Missing roles (logs need `editor`).", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
        (status = 429, description = "With `follow=true`: the caller's or the server's streams are all open; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds after which to try again."))),
        (status = 503, description = "The runtime did not answer.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn logs(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
    OriginalUri(uri): OriginalUri,
    params: Query,
    dry_run: DryRun,
) -> ApiResult<Response> {
    let query = dry_run
        .refused()
        .and_then(|()| params.flag("follow"))
        .and_then(|follow| Ok((follow, log_query(&params)?)));
    let follow = query.as_ref().is_ok_and(|(follow, _)| *follow);
    let query = query.map(|(_, query)| query);
    let asked = scope.asked_by(&caller);
    if follow {
        let lines = (state.belts).follow_logs(asked, query).await?;
        return Ok(stream(lines));
    }
    let lines = query.as_ref().map_or(MAX_LOG_LINES, |query| query.lines);
    let Some(logs) = (state.belts).logs(asked, query).await? else {
        let body = LogsBody {
            total_count: 0,
            logs: BTreeMap::new(),
            links: None,
        };
        return Ok(Json(body).into_response());
    };
    let lines = lines.to_string();
    let mut pairs = vec![("lines", lines.as_str())];
    for name in ["since", "previous"] {
        if let Some(value) = params.all(name).next() {
            pairs.push((name, value));
        }
    }
    let body = LogsBody {
        total_count: logs.len(),
        logs,
        links: Some(SelfLinks {
            self_: Link {
                href: format!("{}?{}", base.href(uri.path()), query_string(pairs)),
            },
        }),
    };
    Ok(Json(body).into_response())
}

/// One JSON object a line, and the `end` line when belt-api ended the stream. A runtime error
/// mid-stream ends it silently: the status was sent long ago.
fn stream(lines: crate::belts::FollowedLogs) -> Response {
    let chunks = lines
        .take_while(|line| std::future::ready(!matches!(line, Bounded::Item(Err(_)))))
        .filter_map(|line| {
            std::future::ready(match line {
                Bounded::Item(Ok(line)) => Some(line_of(&line)),
                Bounded::Item(Err(_)) => None,
                Bounded::End(end) => Some(line_of(&EndLine::from(end))),
            })
        });
    ndjson(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded() {
        let lines = |raw| log_query(&Query::of(raw)).map(|query| query.lines);
        assert_eq!(lines(None).unwrap(), 500);
        assert_eq!(lines(Some("lines=5")).unwrap(), 5);
        assert_eq!(
            lines(Some("lines=750")).unwrap_err().to_string(),
            "Parameter 'lines' must be in between 1 and 500 but is '750'."
        );
        assert!(lines(Some("lines=0")).is_err());
        assert!(lines(Some("lines=x")).is_err());
    }

    #[test]
    fn since_and_previous_name_themselves() {
        let refused = |raw| log_query(&Query::of(Some(raw))).unwrap_err().to_string();
        assert!(refused("since=soon").contains("'since'"));
        assert!(refused("previous=1").contains("'previous'"));
        assert!(
            log_query(&Query::of(Some("previous=TRUE")))
                .unwrap()
                .previous
        );
    }
}
