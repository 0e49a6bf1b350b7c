//! `GET /projects/{project}/watch` (docs/api.md#watch): the project's events as newline-delimited
//! JSON, one object per line, resumable from the last id a client saw.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures::StreamExt;
use serde::Serialize;

use super::caller::Caller;
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::history::HistoryItem;
use super::query::Query;
use super::scope::ProjectScope;
use super::state::AppState;
use super::streams::{line_of, ndjson, EndLine};
use crate::belts::{Bounded, WatchAsk, WatchItem};
use crate::domain::{BeltId, Invalid};

/// One line of the stream.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum WatchLine {
    /// A belt's event: the history item and the belt's id.
    Event {
        #[serde(flatten)]
        item: HistoryItem,
        #[serde(rename = "beltId")]
        #[schema(example = "161")]
        belt_id: String,
    },
    /// The first line of a watch without a resume point: resume after this id.
    Bookmark { id: i64 },
    /// The last line for a reader that fell behind: list again, then watch from now.
    Resync { id: i64 },
    /// The last line of a stream belt-api ended: `reason` is `token expired` or `server shutting
    /// down`.
    End {
        #[schema(example = "token expired")]
        reason: &'static str,
    },
}

impl From<WatchItem> for WatchLine {
    fn from(item: WatchItem) -> Self {
        match item {
            WatchItem::Event(event) => WatchLine::Event {
                item: HistoryItem::from(&*event),
                belt_id: event.belt.to_string(),
            },
            WatchItem::Bookmark(id) => WatchLine::Bookmark { id },
            WatchItem::Resync(id) => WatchLine::Resync { id },
        }
    }
}

const EVENT_ID: &str = "an event id (a natural number)";

fn event_id(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|id| *id >= 0)
}

/// `after` wins over `Last-Event-ID`; `belt` narrows to one belt. The console's status stream
/// (`src/http/ui/live.rs`) reads its query and headers here too.
pub fn parse_ask(query: &Query, headers: &HeaderMap) -> Result<WatchAsk, Invalid> {
    let mut ask = WatchAsk::default();
    if let Some(value) = headers.get("last-event-id") {
        let text = value.to_str().unwrap_or("?");
        let id = event_id(text).ok_or_else(|| {
            Invalid::header(
                "Last-Event-ID",
                format!("Parameter 'Last-Event-ID' must be {EVENT_ID} but is '{text}'."),
            )
        })?;
        ask.after = Some(id);
    }
    if let Some(after) = query.value("after", EVENT_ID, event_id)? {
        ask.after = Some(after);
    }
    if let Some(belt) = query.single("belt")? {
        ask.belt = Some(BeltId::parse(belt, "belt")?);
    }
    Ok(ask)
}

fn line(item: Bounded<WatchItem>) -> Bytes {
    match item {
        Bounded::Item(item) => line_of(&WatchLine::from(item)),
        Bounded::End(end) => line_of(&WatchLine::End {
            reason: EndLine::from(end).reason,
        }),
    }
}

/// Watch the project's belts: every write and status change, as it commits.
#[utoipa::path(
    get,
    path = "/projects/{project}/watch",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("after" = Option<i64>, Query, description = "Resume: every retained event after this id, then new ones."),
        ("belt" = Option<i64>, Query, description = "Only this belt's events."),
        ("Last-Event-ID" = Option<i64>, Header, description = "As `after`, when `after` is not given."),
    ),
    responses(
        (status = 200, description = "A stream of JSON lines (`application/x-ndjson`): `event` lines, a first `bookmark` line without a resume point, a last `resync` line for a reader that fell behind, a last `end` line when the token expired or the server is shutting down.", body = WatchLine, content_type = "application/x-ndjson"),
        (status = 400, description = "Bad `after`, `belt` or `Last-Event-ID`.", body = ErrorBody),
        (status = 410, description = "Events after the resume point were pruned: list again, then watch from now.", body = ErrorBody),
        (status = 429, description = "The caller's or the server's streams are all open; see `Retry-After`.", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds after which to try again."))),
    ),
    security(("bearer" = []))
)]
pub async fn watch(
    State(state): State<AppState>,
    caller: Caller,
    ProjectScope(project): ProjectScope,
    headers: HeaderMap,
    query: Query,
) -> ApiResult<Response> {
    let ask = parse_ask(&query, &headers);
    let items = state.belts.watch(&caller.0, &project, ask).await?;
    Ok(ndjson(items.map(line)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn parse_ask(raw: Option<&str>, headers: &HeaderMap) -> Result<WatchAsk, Invalid> {
        super::parse_ask(&Query::of(raw), headers)
    }

    #[test]
    fn after_wins_over_the_header_and_bad_values_name_their_source() {
        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", HeaderValue::from_static("7"));
        assert_eq!(parse_ask(None, &headers).unwrap().after, Some(7));
        assert_eq!(parse_ask(Some("after=9"), &headers).unwrap().after, Some(9));
        let err = parse_ask(Some("after=-1"), &HeaderMap::new()).unwrap_err();
        assert!(err.to_string().contains("'after'"), "{err}");
        headers.insert("last-event-id", HeaderValue::from_static("x"));
        let err = parse_ask(None, &headers).unwrap_err();
        assert!(err.to_string().contains("Last-Event-ID"), "{err}");
        assert!(parse_ask(Some("belt=0"), &HeaderMap::new()).is_err());
    }

    #[test]
    fn lines_are_typed_json() {
        let text = String::from_utf8(line(Bounded::Item(WatchItem::Resync(4))).to_vec()).unwrap();
        assert_eq!(text, "{\"type\":\"resync\",\"id\":4}\n");
        let end = line(Bounded::End(crate::belts::StreamEnd::TokenExpired));
        assert_eq!(
            &end[..],
            b"{\"type\":\"end\",\"reason\":\"token expired\"}\n"
        );
    }
}
