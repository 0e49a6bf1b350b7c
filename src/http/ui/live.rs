//! Live updates of the console (docs/console.md): two Server-Sent-Event streams that `ui/live.js`
//! reads with the browser's `EventSource`. The status stream is the project's watch (the use case
//! behind `GET /projects/{project}/watch`, with its role check, its stream slots and its resume
//! from `Last-Event-ID`); the log stream is the log follow behind `GET …/logs?follow=true`
//! (editors only). Both are opened with the session's caller and end with the session: at its
//! token's expiry as the API's streams do, and within a second of its sign-out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures::{Stream, StreamExt};
use serde_json::json;
use time::OffsetDateTime;

use super::assets::LIVE;
use super::belt_state::fragment_path;
use super::html::{encode, Html};
use super::session::{SessionBook, SignedIn};
use super::ui_error;
use crate::belts::{Asked, Bounded, BoundedStream, WatchItem};
use crate::domain::log_lines::{LogLine, LogQuery};
use crate::domain::timestamp::format_timestamp;
use crate::domain::{Belt, BeltId, Invalid, ProjectName};
use crate::http::query::Query;
use crate::http::scope::{BeltScope, ProjectScope};
use crate::http::state::AppState;
use crate::http::watch::parse_ask;

/// Lines per replica the belt page keeps as they come (the follow's first answer too): enough
/// to read what just happened, few enough that a chatty replica cannot grow the page forever.
pub const KEEP_LINES: u32 = 200;

/// How often an open stream looks whether its session was signed out. Sessions announce
/// nothing when they close (on whichever replica), and a look is one read by primary key.
const SESSION_CHECK: Duration = Duration::from_secs(1);

/// The shortest pause between two asks of a list page for its sparklines: a lag interval set
/// very short (100 ms is allowed) must not turn every open page into a stream of requests.
const SPARKS_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Why a live stream ends after a sign-out (the token's expiry says `token expired`).
const SIGNED_OUT: &str = "signed out";
/// Why the log stream ends when the belt stopped and its replicas are gone.
const NO_REPLICA: &str = "no replica runs";
/// Why the log stream of the previous runs ends once their lines are sent.
const PREVIOUS_RUN: &str = "previous run shown";

/// The two streams' routes, merged into the console's (under its session layer).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui/projects/{project}/belts/events", get(status_events))
        .route(
            "/ui/projects/{project}/belts/{id}/logs/events",
            get(log_events),
        )
}

/// `GET /ui/projects/{project}/belts/events`: each status change of the project's belts (of one
/// belt with `?belt=`), resumable from `Last-Event-ID`.
pub async fn status_events(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<SessionBook>>,
    signed_in: SignedIn,
    ProjectScope(project): ProjectScope,
    headers: HeaderMap,
    query: Query,
) -> Response {
    let ask = parse_ask(&query, &headers);
    let session = &signed_in.session;
    let items = match state.belts.watch(&session.caller, &project, ask).await {
        Ok(items) => items,
        Err(err) => return ui_error(err),
    };
    // A watch whose feed stops (the store failed) just closes: the browser resumes after the
    // last id it saw.
    let signed_in = (sessions, signed_in.id.clone());
    sse(
        while_signed_in(items, signed_in, None).map(|live| match live {
            Live::Item(item) => status_event(item),
            Live::End(reason) => end_event(reason),
        }),
    )
}

/// `GET /ui/projects/{project}/belts/{id}/logs/events`: the replicas' lines since `?since=`
/// (the last [`KEEP_LINES`] of them), then new ones; 403 for a viewer, as the API's logs. With
/// `?previous=true`, each replica's previous run: its lines, then the end, since an ended run
/// writes nothing more (the API's follow ignores `previous` for the same reason).
pub async fn log_events(
    State(state): State<AppState>,
    Extension(sessions): Extension<Arc<SessionBook>>,
    signed_in: SignedIn,
    scope: BeltScope,
    query: Query,
) -> Response {
    let session = &signed_in.session;
    let asked = scope.asked_for(&session.caller);
    let previous = query.flag("previous");
    let ask = query
        .since(OffsetDateTime::now_utc())
        .map(|since| LogQuery {
            since,
            ..LogQuery::last(KEEP_LINES)
        });
    if matches!(previous, Ok(true)) {
        return previous_run(&state, asked, ask).await;
    }
    // A bad `previous` is refused by the use case, after its role check, as a bad `since` is.
    let ask = previous.and(ask);
    let lines = match state.belts.follow_logs(asked, ask).await {
        Ok(lines) => lines,
        Err(err) => return ui_error(err),
    };
    let signed_in = (sessions, signed_in.id.clone());
    let events = while_signed_in(lines, signed_in, Some(NO_REPLICA));
    // A runtime error mid-stream ends it, as the API's follow does: the next start reopens it.
    let events = events
        .take_while(|live| std::future::ready(!matches!(live, Live::Item(Err(_)))))
        .filter_map(|live| {
            std::future::ready(match live {
                Live::Item(Ok(line)) => Some(line_event(&line)),
                Live::Item(Err(_)) => None,
                Live::End(reason) => Some(end_event(reason)),
            })
        });
    sse(events)
}

/// The previous run's lines as events, and the end that tells the browser not to reconnect.
async fn previous_run(
    state: &AppState,
    asked: Asked<'_>,
    ask: Result<LogQuery, Invalid>,
) -> Response {
    let ask = ask.map(|ask| LogQuery {
        previous: true,
        ..ask
    });
    let replicas = match state.belts.logs(asked, ask).await {
        Ok(replicas) => replicas,
        Err(err) => return ui_error(err),
    };
    let Some(replicas) = replicas else {
        return sse(futures::stream::iter([end_event(NO_REPLICA)]));
    };
    let lines = replicas.iter().flat_map(|(pod, lines)| {
        (lines.iter()).map(|stamped| line_event(&LogLine::parse(pod, stamped)))
    });
    let events: Vec<Event> = lines.chain([end_event(PREVIOUS_RUN)]).collect();
    sse(futures::stream::iter(events))
}

/// An item of a live stream, or, last, why the stream ended.
enum Live<T> {
    Item(T),
    End(&'static str),
}

/// `items` until they end, the session is signed out or its token expires; `finished` is what
/// to say when the items end on their own (`None`: nothing, the browser may reconnect).
fn while_signed_in<T: Send + 'static>(
    items: BoundedStream<T>,
    (sessions, id): (Arc<SessionBook>, String),
    finished: Option<&'static str>,
) -> impl Stream<Item = Live<T>> + Send + 'static {
    let gone = Box::pin(signed_out(sessions, id));
    futures::stream::unfold(Some((items, gone)), move |state| async move {
        let (mut items, mut gone) = state?;
        tokio::select! {
            biased;
            () = &mut gone => Some((Live::End(SIGNED_OUT), None)),
            item = items.next() => match item {
                Some(Bounded::Item(item)) => Some((Live::Item(item), Some((items, gone)))),
                Some(Bounded::End(end)) => Some((Live::End(end.reason()), None)),
                None => finished.map(|reason| (Live::End(reason), None)),
            }
        }
    })
}

/// Resolves once the session `id` is gone: signed out, or expired. Looked up by id, since a
/// renewal of its tokens (OIDC) replaces the session kept under the same id.
async fn signed_out(sessions: Arc<SessionBook>, id: String) {
    let mut every = tokio::time::interval(SESSION_CHECK);
    loop {
        every.tick().await;
        // A store that does not answer ends nothing: the stream was opened signed in, and its
        // next reconnection is checked again.
        if matches!(sessions.find(&id).await, Ok(None)) {
            return;
        }
    }
}

/// A watch item as an event: `status` with the event's id (what `Last-Event-ID` resumes
/// after), `bookmark` for where a fresh watch starts, `resync` for a reader that fell behind.
fn status_event(item: WatchItem) -> Event {
    match item {
        WatchItem::Event(event) => {
            let change = json!({
                "belt": event.belt.to_string(),
                "status": event.to.map(|status| status.as_str()),
                "version": event.version,
                "action": event.action.as_str(),
            });
            Event::default()
                .event("status")
                .id(event.id.to_string())
                .data(change.to_string())
        }
        WatchItem::Bookmark(id) => Event::default()
            .event("bookmark")
            .id(id.to_string())
            .data(id.to_string()),
        WatchItem::Resync(id) => Event::default().event("resync").data(id.to_string()),
    }
}

fn line_event(line: &LogLine) -> Event {
    let data = json!({ "pod": line.pod, "time": line.time, "line": line.line });
    Event::default().event("line").data(data.to_string())
}

/// The last event: the browser closes its `EventSource` rather than reconnecting.
fn end_event(reason: &'static str) -> Event {
    Event::default().event("end").data(reason)
}

/// A `text/event-stream` answer; a comment every 15 s keeps idle connections open through
/// proxies.
fn sse(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    let mut response = Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::default())
        .into_response();
    // Proxies that buffer answers (nginx) would hold the events back.
    let headers = response.headers_mut();
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The list page's hook: the script, told where the project's status stream is, and where and
/// how often to ask for the page's sparklines again: once per lag interval (`lag_every`), when
/// new samples can have come, but not more than once a second whatever the interval.
pub fn list_script(html: &mut Html, project: &ProjectName, lag_every: Duration) {
    let every = lag_every.max(SPARKS_AT_MOST_EVERY);
    html.raw("<script src=\"")
        .text(&*LIVE)
        .raw("\" defer data-events=\"")
        .text(events_path(project, None))
        .raw("\" data-sparks=\"/ui/projects/")
        .text(encode(project.as_str()))
        .raw("/belts/sparklines\" data-sparks-every=\"")
        .text(every.as_millis())
        .raw("\"></script>");
}

/// The belt page's hook: the script, told where the belt's status stream and its state section
/// are, and, for an editor, where its log stream is, from when (the page's lines were read just
/// before) and how many lines to keep.
pub fn belt_script(html: &mut Html, belt: &Belt, since: OffsetDateTime, logs: bool) {
    html.raw("<script src=\"")
        .text(&*LIVE)
        .raw("\" defer data-belt=\"")
        .text(belt.id)
        .raw("\" data-version=\"")
        .text(belt.version)
        .raw("\" data-events=\"")
        .text(events_path(&belt.project, Some(belt.id)))
        .raw("\" data-state=\"")
        .text(fragment_path(&belt.project, belt.id))
        .raw("\"");
    if logs {
        html.raw(" data-logs=\"/ui/projects/")
            .text(encode(belt.project.as_str()))
            .raw("/belts/")
            .text(belt.id)
            .raw("/logs/events\" data-since=\"")
            .text(format_timestamp(since))
            .raw("\" data-keep=\"")
            .text(KEEP_LINES)
            .raw("\"");
    }
    html.raw("></script>");
}

fn events_path(project: &ProjectName, belt: Option<BeltId>) -> String {
    let path = format!("/ui/projects/{}/belts/events", encode(project.as_str()));
    match belt {
        Some(id) => format!("{path}?belt={id}"),
        None => path,
    }
}
