//! The revisions page's diff: two kept versions chosen with a GET form (default: the one before
//! the current version, and the current one), shown as line diffs of the document and of its
//! callback, each line marked `+`, `-` or blank in its own column and named in words for screen
//! readers, so the change never rests on colour.

use super::diff::{lines, Line};
use super::html::Html;
use crate::belts::{Asked, BeltError, Paging};
use crate::domain::{BeltSpec, Invalid, Revision, RevisionPage};
use crate::http::query::Query;
use crate::http::state::AppState;

/// The two versions being compared, with their documents.
pub struct Pair {
    pub old: Revision,
    pub new: Revision,
}

impl Pair {
    /// The pair `from` / `to` of the query names, `to` defaulting to the current version and
    /// `from` to the kept one before `to`; `None` when no kept version is older (nothing to
    /// compare).
    pub async fn asked(
        query: &Query,
        state: &AppState,
        asked: Asked<'_>,
        current: i64,
    ) -> Result<Option<Pair>, BeltError> {
        let to = version(query, "to")?.unwrap_or(current);
        let from = match version(query, "from")? {
            Some(from) => from,
            None => match older_than(state, asked, to).await? {
                Some(older) => older,
                None => return Ok(None),
            },
        };
        let old = state.belts.revision(asked, Ok(from)).await?;
        let new = state.belts.revision(asked, Ok(to)).await?;
        Ok(Some(Pair { old, new }))
    }

    /// The query that keeps this pair on another page of the list.
    pub fn query(&self) -> String {
        format!(
            "&from={}&to={}",
            self.old.belt.version, self.new.belt.version
        )
    }
}

/// The newest kept version older than `to`, read newest first a page at a time: the form's
/// default is the version before the current one, on the first page.
async fn older_than(state: &AppState, asked: Asked<'_>, to: i64) -> Result<Option<i64>, BeltError> {
    let mut paging = Paging {
        offset: 0,
        limit: 50,
    };
    loop {
        let page = state.belts.revisions(asked, Ok(paging)).await?;
        if let Some(older) = page.items.iter().find(|r| r.version < to) {
            return Ok(Some(older.version));
        }
        paging.offset += paging.limit;
        if page.items.is_empty() || paging.offset >= page.total {
            return Ok(None);
        }
    }
}

fn version(query: &Query, name: &str) -> Result<Option<i64>, Invalid> {
    query.value(name, "a positive integer (a belt version)", |text| {
        text.trim().parse::<i64>().ok().filter(|v| *v >= 1)
    })
}

/// The form choosing two versions and, when there are two, their diffs.
pub fn compare(html: &mut Html, page: &RevisionPage, pair: Option<&Pair>) {
    html.raw("<section aria-labelledby=\"compare\"><h2 id=\"compare\">Compare versions</h2>");
    let Some(pair) = pair else {
        html.raw("<p>No kept version is older: there is nothing to compare.</p></section>");
        return;
    };
    let (old, new) = (&pair.old.belt, &pair.new.belt);
    let mut versions: Vec<i64> = page.items.iter().map(|r| r.version).collect();
    versions.extend([old.version, new.version]);
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions.dedup();
    html.raw("<form class=\"filters\" method=\"get\">");
    select(html, "from", "Older version", &versions, old.version);
    select(html, "to", "Newer version", &versions, new.version);
    html.raw("<div><button type=\"submit\" id=\"compare-button\">Compare</button></div></form>");
    html.raw("<p>From version ")
        .text(old.version)
        .raw(" to version ")
        .text(new.version)
        .raw(": lines marked <strong>-</strong> are only in version ")
        .text(old.version)
        .raw(", lines marked <strong>+</strong> only in version ")
        .text(new.version)
        .raw(".</p>");
    let document = |spec: &BeltSpec| serde_json::to_string_pretty(spec).unwrap_or_default();
    diff_table(
        html,
        "document",
        "The document",
        &document(&old.spec),
        &document(&new.spec),
    );
    let (old_fn, new_fn) = (&old.spec.extractor_fn, &new.spec.extractor_fn);
    diff_table(html, "extractor", "extractorFn", old_fn, new_fn);
    html.raw("</section>");
}

fn select(html: &mut Html, name: &'static str, label: &'static str, versions: &[i64], chosen: i64) {
    html.raw("<div><label for=\"")
        .raw(name)
        .raw("\">")
        .raw(label)
        .raw("</label><select id=\"")
        .raw(name)
        .raw("\" name=\"")
        .raw(name)
        .raw("\">");
    for version in versions {
        html.raw("<option value=\"").text(version).raw("\"");
        if *version == chosen {
            html.raw(" selected");
        }
        html.raw(">version ").text(version).raw("</option>");
    }
    html.raw("</select></div>");
}

fn diff_table(html: &mut Html, id: &'static str, caption: &'static str, old: &str, new: &str) {
    let diff = lines(old, new);
    html.raw("<h3>").raw(caption).raw("</h3>");
    if diff.iter().all(|line| matches!(line, Line::Same(_))) {
        html.raw("<p>No difference.</p>");
        return;
    }
    html.raw("<table class=\"diff\" id=\"diff-")
        .raw(id)
        .raw("\"><caption class=\"sr-only\">")
        .raw(caption)
        .raw(", line by line</caption><thead class=\"sr-only\"><tr><th scope=\"col\">Change</th>")
        .raw("<th scope=\"col\">Line</th></tr></thead><tbody>");
    for line in &diff {
        html.raw("<tr class=\"")
            .text(line.word())
            .raw("\"><td class=\"marker\"><span aria-hidden=\"true\">")
            .text(line.marker())
            .raw("</span><span class=\"sr-only\">")
            .text(line.word())
            .raw("</span></td><td><code>")
            .text(line.text())
            .raw("</code></td></tr>");
    }
    html.raw("</tbody></table>");
}
