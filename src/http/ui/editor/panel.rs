//! The test panel's answer: what the invoke use case reported for the sample event (its updates,
//! or the traceback), or why it could not run (the use case's own sentence: no sandbox on this
//! machine, every slot busy, a sample that is not JSON).

use crate::http::ui::html::Html;
use crate::invoke::{InvokeReport, UserError};

/// What a run of the test panel answered.
#[derive(Debug)]
pub enum Ran {
    Report(Box<InvokeReport>),
    /// The run did not happen: why, in the API's words.
    Refused(String),
}

/// `<div id="ran">`, which htmx replaces with the next run's.
pub fn panel_result(html: &mut Html, ran: Option<&Ran>) {
    html.raw("<div id=\"ran\" class=\"ran\">");
    match ran {
        None => {
            html.raw("<p class=\"hint\">No run yet.</p>");
        }
        Some(Ran::Refused(why)) => {
            html.raw("<p class=\"problem\" data-ran=\"refused\">The callback did not run: ")
                .text(why)
                .raw("</p>");
        }
        Some(Ran::Report(report)) => report_of(html, report),
    }
    html.raw("</div>");
}

fn report_of(html: &mut Html, report: &InvokeReport) {
    let outcome = serde_json::to_value(report.outcome)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    html.raw("<p data-ran=\"")
        .text(&outcome)
        .raw("\">Outcome: <strong>")
        .text(&outcome)
        .raw("</strong> in ")
        .text(report.duration_ms)
        .raw(" ms.</p>");
    if let Some(error) = &report.import_error {
        html.raw("<h3>The callback did not import</h3>");
        user_error(html, error);
    }
    if report.requirements.failed() {
        html.raw("<h3>requirementsPy could not be installed</h3>")
            .raw("<pre class=\"log\" tabindex=\"0\">")
            .text(report.requirements.output.as_deref().unwrap_or_default())
            .raw("</pre>");
    }
    for result in &report.results {
        if let Some(updates) = &result.updates {
            html.raw("<h3>Updates (")
                .text(updates.len())
                .raw(")</h3><pre class=\"updates\" tabindex=\"0\">")
                .text(serde_json::to_string_pretty(updates).unwrap_or_default())
                .raw("</pre>");
        }
        if let Some(error) = &result.error {
            html.raw("<h3>The event raised</h3>");
            user_error(html, error);
        }
        printed(html, "Printed while handling the event", &result.stdout);
        printed(
            html,
            "Errors printed while handling the event",
            &result.stderr,
        );
    }
    printed(html, "Printed outside the event", &report.stdout);
    printed(html, "Errors printed outside the event", &report.stderr);
}

fn user_error(html: &mut Html, error: &UserError) {
    html.raw("<p class=\"problem\">")
        .text(&error.kind)
        .raw(": ")
        .text(&error.message);
    if let Some(line) = error.line {
        html.raw(" (line ").text(line).raw(")");
    }
    html.raw("</p>");
    if let Some(traceback) = &error.traceback {
        html.raw("<pre class=\"log traceback\" tabindex=\"0\">")
            .text(traceback)
            .raw("</pre>");
    }
}

fn printed(html: &mut Html, what: &'static str, text: &str) {
    if !text.is_empty() {
        html.raw("<h3>")
            .raw(what)
            .raw("</h3><pre class=\"log\" tabindex=\"0\">")
            .text(text)
            .raw("</pre>");
    }
}
