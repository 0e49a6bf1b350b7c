//! `/ui/projects/{project}/belts`: a page of the project's belts, searched and filtered with the
//! same query rules as the API's list (`search`, `offset`, `pagesize`; `status` for the filter).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use time::OffsetDateTime;

use super::html::{encode, Html};
use super::live;
use super::page::{render, respond, Frame};
use super::session::SignedIn;
use super::sparkline::{sparkline, unavailable, Spark};
use super::{timing, ui_error};
use crate::belts::{Access, BeltError, Caller, Listed, Listing};
use crate::domain::lag_series::LagPoint;
use crate::domain::{Belt, BeltId, BeltStatus, Invalid, ProjectName};
use crate::http::query::Query;
use crate::http::scope::ProjectScope;
use crate::http::state::AppState;

fn listing_of(query: &Query) -> Result<Listing, Invalid> {
    let page = query.page()?;
    Ok(Listing {
        search: query.search()?.unwrap_or_default(),
        offset: page.offset,
        limit: page.limit,
        states: query.statuses("status")?,
        without_status: false,
    })
}

pub async fn page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ProjectScope(project): ProjectScope,
    query: Query,
) -> Response {
    let listing = listing_of(&query);
    let asked = listing.clone().unwrap_or_default();
    let caller = &signed_in.session.caller;
    let (listed, lag, lag_read_took) = match read(&state, caller, &project, listing).await {
        Ok(read) => read,
        Err(err) => return ui_error(err),
    };
    let title = format!("Belts of {}", project.as_str());
    let html = render(
        &title,
        Some(Frame::new(&signed_in.session, &project)),
        |html| {
            html.element("h1", &title);
            if caller.require(&project, Access::Write).is_ok() {
                html.raw("<p><a id=\"new-belt\" href=\"/ui/projects/")
                    .text(encode(project.as_str()))
                    .raw("/belts/new\">New belt</a></p>");
            }
            super::guarded::deleted_notice(html, &query);
            filters(html, &asked);
            table(html, &listed, &lag);
            paging(html, project.as_str(), &asked, &listed);
            live::list_script(html, &project, state.belts.lag_interval());
        },
    );
    let mut response = respond(StatusCode::OK, html);
    timing::part(&mut response, "lag", lag_read_took);
    response
}

/// `GET /ui/projects/{project}/belts/sparklines`: the sparklines of every belt of the page the
/// same query shows (`ui/live.js` asks with the page's own), and nothing else, so that a page
/// follows its belts' lag without a reload. The list's use case and role check, the list's
/// one read of the lag: another project's belts are never among them.
pub async fn sparklines(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ProjectScope(project): ProjectScope,
    query: Query,
) -> Response {
    let caller = &signed_in.session.caller;
    let (listed, lag, lag_read_took) =
        match read(&state, caller, &project, listing_of(&query)).await {
            Ok(read) => read,
            Err(err) => return ui_error(err),
        };
    let mut html = Html::default();
    for (belt, _) in &listed.items {
        for spark in Spark::BOTH {
            drawn(&mut html, spark, belt.id, &lag);
        }
    }
    let mut response = respond(StatusCode::OK, html);
    timing::part(&mut response, "lag", lag_read_took);
    response
}

/// The page's belts, and their lag all in one read, timed apart for `Server-Timing`.
async fn read(
    state: &AppState,
    caller: &Caller,
    project: &ProjectName,
    listing: Result<Listing, Invalid>,
) -> Result<(Listed, RecentLag, Duration), BeltError> {
    let listed = state.belts.list(caller, project, listing).await?;
    let lag_read = Instant::now();
    let belts: Vec<&Belt> = listed.items.iter().map(|(belt, _)| belt).collect();
    let lag = state.belts.recent_lag(caller, project, &belts).await;
    let took = lag_read.elapsed();
    Ok((listed, lag, took))
}

fn filters(html: &mut Html, asked: &Listing) {
    html.raw("<form class=\"filters\" method=\"get\" role=\"search\">")
        .raw("<div><label for=\"search\">Search by name</label>")
        .raw("<input id=\"search\" name=\"search\" type=\"search\" value=\"")
        .text(&asked.search)
        .raw("\"></div><div><label for=\"status\">Status</label>")
        .raw("<select id=\"status\" name=\"status\"><option value=\"\">any</option>");
    for status in BeltStatus::ALL {
        let chosen = asked.states.first() == Some(&status);
        html.raw("<option value=\"").text(status.as_str()).raw("\"");
        if chosen {
            html.raw(" selected");
        }
        html.raw(">").text(status.as_str()).raw("</option>");
    }
    html.raw("</select></div><div><button type=\"submit\">Show</button></div></form>");
}

type RecentLag = Result<HashMap<BeltId, Vec<LagPoint>>, BeltError>;

fn table(html: &mut Html, listed: &Listed, lag: &RecentLag) {
    html.raw("<p>").text(listed.total).raw(" belts match.</p>");
    if listed.items.is_empty() {
        html.raw("<p>No belts on this page.</p>");
        return;
    }
    if let Err(err) = lag {
        html.raw("<p class=\"problem\">Lag unavailable: ")
            .text(err)
            .raw("</p>");
    }
    html.raw("<table><caption class=\"wide\">Belts, ascending id</caption><thead><tr>")
        .raw("<th scope=\"col\">Name</th><th scope=\"col\">Status</th>")
        .raw("<th scope=\"col\" class=\"wide\">Lag, last hour</th>")
        .raw("<th scope=\"col\" class=\"wide\"><abbr title=\"records consumed per second\">")
        .raw("Records/s</abbr>, last hour</th>")
        .raw("<th scope=\"col\" class=\"wide\">Replicas</th><th scope=\"col\" class=\"wide\">Age</th>")
        .raw("</tr></thead><tbody>");
    for (belt, status) in &listed.items {
        row(html, belt, *status, lag);
    }
    html.raw("</tbody></table>");
}

fn row(html: &mut Html, belt: &Belt, status: Option<BeltStatus>, lag: &RecentLag) {
    html.raw("<tr><td><a href=\"/ui/projects/")
        .text(encode(belt.project.as_str()))
        .raw("/belts/")
        .text(belt.id)
        .raw("\">")
        .text(&belt.spec.name)
        .raw("</a></td><td aria-live=\"polite\">");
    badge(html, belt.id, status);
    for spark in Spark::BOTH {
        html.raw("</td><td class=\"wide\">");
        drawn(html, spark, belt.id, lag);
    }
    html.raw("</td><td class=\"wide\">")
        .text(belt.spec.replicas)
        .raw("</td><td class=\"wide\">")
        .text(age(belt.created_at))
        .raw("</td></tr>");
}

/// Belt `id`'s sparkline of `spark`, or its dash when the lag could not be read.
fn drawn(html: &mut Html, spark: Spark, id: BeltId, lag: &RecentLag) {
    match lag {
        Ok(lag) => sparkline(html, spark, id, lag.get(&id).map_or(&[], Vec::as_slice)),
        Err(_) => unavailable(html, spark, id),
    }
}

/// The status as text in a badge; its colour only repeats what the text says. `data-belt` is
/// what the live updates (`ui/live.js`) find it by.
pub fn badge(html: &mut Html, id: BeltId, status: Option<BeltStatus>) {
    let text = status.map_or("UNKNOWN", BeltStatus::as_str);
    html.raw("<span class=\"badge ")
        .text(text)
        .raw("\" data-belt=\"")
        .text(id)
        .raw("\" data-status=\"")
        .text(text)
        .raw("\">")
        .text(text)
        .raw("</span>");
}

/// How long ago, in the largest whole unit.
pub fn age(since: OffsetDateTime) -> String {
    let seconds = (OffsetDateTime::now_utc() - since).whole_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn paging(html: &mut Html, project: &str, asked: &Listing, listed: &Listed) {
    let link = |html: &mut Html, offset: u64, label: &'static str| {
        let status = asked.states.first().map_or("", |s| s.as_str());
        html.raw("<a href=\"/ui/projects/")
            .text(encode(project))
            .raw("/belts?search=")
            .text(encode(&asked.search))
            .raw("&status=")
            .text(status)
            .raw("&pagesize=")
            .text(asked.limit)
            .raw("&offset=")
            .text(offset)
            .raw("\">")
            .raw(label)
            .raw("</a>");
    };
    html.raw("<nav class=\"paging\" aria-label=\"Pages\">");
    if asked.offset > 0 {
        link(
            html,
            asked.offset.saturating_sub(asked.limit),
            "Previous page",
        );
    }
    if asked.offset.saturating_add(listed.fetched) < listed.total && listed.fetched > 0 {
        link(html, asked.offset + asked.limit, "Next page");
    }
    html.raw("</nav>");
}
