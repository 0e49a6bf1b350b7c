//! Logs (docs/api.md#logs): the last lines of every replica as one JSON answer, or, with
//! `follow=true`, a stream of newline-delimited JSON that stays open while the belt runs.
//! Handlers extract, call one use case, render.

use std::collections::BTreeMap;

use axum::extract::{OriginalUri, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use super::caller::Caller;
use super::document::{Link, SelfLinks};
use super::dry_run::{DryRun, RefusedDryRunParam};
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::links::{query_string, BaseUrl};
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

/// The query as given: each parameter's first value.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(raw: Option<&str>) -> Self {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn lines(&self) -> Result<u32, Invalid> {
        let Some(value) = self.get("lines") else {
            return Ok(MAX_LOG_LINES);
        };
        match value.trim().parse::<u32>() {
            Ok(n) if (1..=MAX_LOG_LINES).contains(&n) => Ok(n),
            _ => Err(Invalid::field_message(
                "lines",
                format!(
                    "Parameter 'lines' must be in between 1 and {MAX_LOG_LINES} but is '{value}'."
                ),
            )),
        }
    }

    fn flag(&self, name: &str) -> Result<bool, Invalid> {
        match self.get(name).map(str::trim) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(Invalid::field_message(
                name,
                format!("Parameter '{name}' must be 'true' or 'false' but is '{other}'."),
            )),
        }
    }

    fn since(&self, now: OffsetDateTime) -> Result<Option<OffsetDateTime>, Invalid> {
        let Some(value) = self.get("since") else {
            return Ok(None);
        };
        parse_since(value.trim(), now).map(Some).ok_or_else(|| {
            Invalid::field_message(
                "since",
                format!(
                    "Parameter 'since' must be an RFC 3339 time or a duration such as 30s, 10m \
                     or 2h but is '{value}'."
                ),
            )
        })
    }

    fn query(&self) -> Result<LogQuery, Invalid> {
        Ok(LogQuery {
            lines: self.lines()?,
            since: self.since(OffsetDateTime::now_utc())?,
            previous: self.flag("previous")?,
        })
    }
}

/// The most a relative `since` reaches back: a year, far beyond any kept log.
const MAX_SINCE_SECONDS: i64 = 366 * 24 * 3600;

/// An RFC 3339 time (any offset, taken as the instant it names) or `<n>s|m|h` before `now`.
fn parse_since(value: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Some(at.to_offset(time::UtcOffset::UTC));
    }
    let unit = match value.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        _ => return None,
    };
    let digits = &value[..value.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = digits.parse::<i64>().ok()?.checked_mul(unit)?;
    (seconds <= MAX_SINCE_SECONDS).then(|| now - Duration::seconds(seconds))
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
        (status = 200, description = "Logs keyed by pod; a stopped belt answers `{\"totalCount\": 0, \"logs\": {}}`. With `follow=true`: `application/x-ndjson`, one line object per line, and a last `EndLine` (`{\"type\": \"end\", \"reason\": \"token expired\"}`) when the token expires.",
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
    RawQuery(raw): RawQuery,
    dry_run: DryRun,
) -> ApiResult<Response> {
    let params = Params::of(raw.as_deref());
    let query = dry_run
        .refused()
        .and_then(|()| params.flag("follow"))
        .and_then(|follow| Ok((follow, params.query()?)));
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
        if let Some(value) = params.get(name) {
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
        let lines = |raw| Params::of(raw).lines();
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
    fn since_is_a_time_or_a_duration_before_now() {
        let now = time::macros::datetime!(2026-01-01 12:00:00 UTC);
        let at = |value| parse_since(value, now);
        assert_eq!(
            at("30s"),
            Some(time::macros::datetime!(2026-01-01 11:59:30 UTC))
        );
        assert_eq!(
            at("10m"),
            Some(time::macros::datetime!(2026-01-01 11:50:00 UTC))
        );
        assert_eq!(
            at("2h"),
            Some(time::macros::datetime!(2026-01-01 10:00:00 UTC))
        );
        assert_eq!(
            at("2026-01-01T13:00:00+02:00"),
            Some(time::macros::datetime!(2026-01-01 11:00:00 UTC))
        );
        for bad in [
            "",
            "s",
            "10",
            "-5m",
            "1.5h",
            "10d",
            "99999999999999999999h",
            "yesterday",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
        let error = Params::of(Some("since=soon")).query().unwrap_err();
        assert!(error.to_string().contains("'since'"), "{error}");
    }

    #[test]
    fn flags_are_true_or_false() {
        assert!(Params::of(Some("follow=true")).flag("follow").unwrap());
        assert!(!Params::of(None).flag("previous").unwrap());
        assert!(Params::of(Some("previous=1")).flag("previous").is_err());
    }
}
