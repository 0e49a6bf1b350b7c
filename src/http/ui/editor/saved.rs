//! The test panel's samples region (docs/console.md): the select of the samples saved with the
//! belt and "Load", the name and "Save as…" (for who may save; neither for a belt not saved yet),
//! the last load's or save's note, and the sample's textarea. The editor page writes it in its test panel; `samples.rs` answers it
//! alone to htmx.

use super::draft::Draft;
use super::target::Target;
use crate::belts::Access;
use crate::http::ui::html::Html;
use crate::http::ui::session::Session;

/// What the last load or save said, shown in the samples region.
#[derive(Debug)]
pub enum Note {
    Done(String),
    Problem(String),
}

/// The samples region as the page shows it: the names the belt keeps, and the last note.
#[derive(Debug, Default)]
pub struct Samples {
    pub names: Vec<String>,
    pub note: Option<Note>,
}

/// `<div id="samples">`: the select and "Load", "Save as…" (for who may save), the last note,
/// and the sample's textarea, which "Run" sends.
pub fn region(
    html: &mut Html,
    session: &Session,
    target: &Target,
    draft: &Draft,
    samples: &Samples,
) {
    html.raw("<div id=\"samples\" class=\"samples\">");
    // A belt not saved yet keeps no samples: nothing to load, nothing to save them with.
    let can_save = (session.caller)
        .require(target.project(), Access::Write)
        .is_ok();
    if let Target::Edit(..) = target {
        picker(html, target, draft, samples);
        if can_save {
            save_as(html, target, draft);
        }
    }
    match &samples.note {
        None => {}
        Some(Note::Done(said)) => {
            html.raw("<p class=\"hint\" role=\"status\">")
                .text(said)
                .raw("</p>");
        }
        Some(Note::Problem(said)) => {
            html.raw("<p class=\"problem\" role=\"alert\">")
                .text(said)
                .raw("</p>");
        }
    }
    html.raw("<div class=\"field\"><label for=\"sample\">Sample event (JSON), or ")
        .raw("<code>{\"events\": [...]}</code> as the API takes them</label>")
        .raw("<textarea id=\"sample\" name=\"sample\" class=\"code\" rows=\"6\" ")
        .raw("spellcheck=\"false\">")
        .text(&draft.sample)
        .raw("</textarea></div></div>");
}

/// The select of the saved samples, the one the draft names selected, and "Load".
fn picker(html: &mut Html, target: &Target, draft: &Draft, samples: &Samples) {
    let load = target.samples_path("load");
    html.raw("<div class=\"field inline\"><label for=\"saved\">Saved samples</label> ")
        .raw("<select id=\"saved\" name=\"saved\"><option value=\"\">")
        .text(match samples.names.len() {
            0 => "(none saved yet)",
            _ => "(choose one)",
        })
        .raw("</option>");
    for name in &samples.names {
        html.raw("<option");
        if *name == draft.saved {
            html.raw(" selected");
        }
        html.raw(">").text(name).raw("</option>");
    }
    html.raw("</select> <button type=\"submit\" id=\"load\" formaction=\"")
        .text(&load)
        .raw("\" hx-post=\"")
        .text(&load)
        .raw("\" hx-target=\"#samples\" hx-swap=\"outerHTML\">Load</button></div>");
}

/// The name to save the sample under, and "Save as…".
fn save_as(html: &mut Html, target: &Target, draft: &Draft) {
    let save = target.samples_path("save");
    html.raw("<div class=\"field inline\"><label for=\"sampleName\">Save the sample as</label> ")
        .raw("<input id=\"sampleName\" name=\"sampleName\" maxlength=\"63\" ")
        .raw("pattern=\"[A-Za-z0-9][A-Za-z0-9._\\-]{0,62}\" value=\"")
        .text(&draft.sample_name)
        .raw("\"> <button type=\"submit\" id=\"save-sample\" formaction=\"")
        .text(&save)
        .raw("\" hx-post=\"")
        .text(&save)
        .raw("\" hx-target=\"#samples\" hx-swap=\"outerHTML\">Save as…</button></div>");
}
