//! The editor page: a plain form of labelled fields and textareas that saves without JavaScript;
//! with htmx, typing posts the form to the check route and the answer replaces the check region
//! (the error at its line, the highlighted view), and "Run" posts it to the test panel's route.

use super::check::{check_region, Checked};
use super::draft::Draft;
use super::panel::{panel_result, Ran};
use super::saved::{region, Samples};
pub use super::target::Target;
use crate::http::ui::html::Html;
use crate::http::ui::page::{render, Frame};
use crate::http::ui::session::Session;

/// What the page shows besides the draft: the last check's answer and the last run's, and the
/// samples saved with the belt.
#[derive(Default)]
pub struct Shown {
    pub checked: Option<Checked>,
    pub ran: Option<Ran>,
    pub samples: Samples,
}

pub fn editor_page(session: &Session, target: &Target, draft: &Draft, shown: Shown) -> Html {
    let title = match target {
        Target::New(_) => "New belt".to_owned(),
        Target::Edit(..) => format!("Edit {}", draft.name),
    };
    render(
        &title,
        Some(Frame::new(session, target.project())),
        |html| {
            html.element("h1", &title);
            html.raw("<form id=\"editor\" class=\"editor\" method=\"post\" action=\"")
                .text(target.save_path())
                .raw("\">")
                .hidden("csrf", &session.csrf);
            if let Some(version) = &draft.version {
                html.hidden("version", version);
            }
            fields(html, draft);
            callback(html, target, draft, shown.checked.as_ref());
            html.raw("<div class=\"field\"><label for=\"requirementsPy\">requirementsPy</label>")
                .raw("<textarea id=\"requirementsPy\" name=\"requirementsPy\" rows=\"3\" ")
                .raw("spellcheck=\"false\" autocapitalize=\"off\">")
                .text(&draft.requirements_py)
                .raw("</textarea></div><p class=\"actions\">")
                .raw("<button type=\"submit\" class=\"primary\" id=\"save\">")
                .raw(match target {
                    Target::New(_) => "Create belt",
                    Target::Edit(..) => "Save",
                })
                .raw("</button> <button type=\"submit\" id=\"check-now\" formaction=\"")
                .text(target.check_path())
                .raw("\">Check</button></p>");
            test_panel(html, session, target, draft, &shown);
            html.raw("</form>");
        },
    )
}

fn fields(html: &mut Html, draft: &Draft) {
    let input = |html: &mut Html, id: &'static str, label: &'static str, value: &str| {
        html.raw("<div class=\"field\"><label for=\"")
            .raw(id)
            .raw("\">")
            .raw(label)
            .raw("</label><input id=\"")
            .raw(id)
            .raw("\" name=\"")
            .raw(id)
            .raw("\" value=\"")
            .text(value)
            .raw("\"></div>");
    };
    html.raw("<div class=\"meta\">");
    input(html, "name", "Name", &draft.name);
    input(html, "description", "Description", &draft.description);
    input(
        html,
        "eventTypes",
        "Event types (separated by commas)",
        &draft.event_types,
    );
    input(
        html,
        "replicas",
        "Replicas (blank for the default)",
        &draft.replicas,
    );
    html.raw("</div>");
}

/// The callback's textarea and, beside it, the check region: the error at its line and the
/// highlighted, numbered view of what was checked. Typing anywhere in the form posts it to the
/// check from this region, not from the form: htmx sends a form's requests to the `formaction` of
/// the button last clicked in it while that button has the focus, so a check fired just after
/// "Run" would run the draft a second time and answer it into the check region.
fn callback(html: &mut Html, target: &Target, draft: &Draft, checked: Option<&Checked>) {
    let rows = draft.extractor_fn.lines().count().clamp(8, 40) + 1;
    html.raw("<div class=\"code-editor\"><div class=\"field\">")
        .raw("<label for=\"extractorFn\">extractorFn (Python)</label>")
        .raw("<textarea id=\"extractorFn\" name=\"extractorFn\" class=\"code\" rows=\"")
        .text(rows)
        .raw("\" wrap=\"off\" spellcheck=\"false\" autocapitalize=\"off\" ")
        .raw("aria-describedby=\"check-message\">")
        .text(&draft.extractor_fn)
        .raw("</textarea></div><div class=\"check-live\" aria-live=\"polite\" hx-post=\"")
        .text(target.check_path())
        .raw("\" hx-trigger=\"input from:closest form delay:600ms\" hx-target=\"#check\" ")
        .raw("hx-swap=\"outerHTML\">");
    check_region(html, &draft.extractor_fn, checked);
    html.raw("</div></div>");
}

fn test_panel(html: &mut Html, session: &Session, target: &Target, draft: &Draft, shown: &Shown) {
    html.raw("<section class=\"test-panel\" aria-labelledby=\"test-panel\">")
        .raw("<h2 id=\"test-panel\">Test panel</h2>");
    html.raw("<p>Runs the callback and requirements as they stand in the editor (not saved) ")
        .raw("on the sample, as a replica would. ")
        .raw(match target {
            // No belt yet, so nothing to keep samples with: they can be saved once it exists.
            Target::New(_) => "Samples can be saved with the belt once it is created.</p>",
            Target::Edit(..) => {
                "Samples saved with the belt are kept for everyone who edits it.</p>"
            }
        });
    region(html, session, target, draft, &shown.samples);
    html.raw("<p><button type=\"submit\" id=\"run\" formaction=\"")
        .text(target.invoke_path())
        .raw("\" hx-post=\"")
        .text(target.invoke_path())
        .raw("\" hx-target=\"#ran\" hx-swap=\"outerHTML\">Run</button></p>")
        .raw("<div aria-live=\"polite\">");
    panel_result(html, shown.ran.as_ref());
    html.raw("</div></section>");
}
