//! The test panel's saved samples (docs/console.md): a select of the samples saved with the belt
//! and "Load", which fills the sample's textarea with one; "Save as…", which saves the textarea's
//! sample under a name through the same use case as `PUT …/samples/{name}`. With htmx both answer
//! the samples region, the textarea in it; without, the whole editor, the drafts kept.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::draft::Draft;
use super::view::{editor_page, Shown, Target};
use super::{asked, from_htmx};
use crate::belts::{Access, Asked, BeltError};
use crate::domain::samples::{SampleEvent, SampleName, Saving};
use crate::http::error::ApiError;
use crate::http::scope::BeltScope;
use crate::http::state::AppState;
use crate::http::ui::form::Form;
use crate::http::ui::html::Html;
use crate::http::ui::page::respond;
use crate::http::ui::session::{Session, SignedIn};
use crate::http::ui::ui_error;

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

/// The textarea's text for a saved sample: the event alone when it is one event without headers
/// or profile (as the panel's own samples are), else the API's `{"events": [...]}`.
pub fn sample_text(events: &[SampleEvent]) -> String {
    let pretty =
        |value: &serde_json::Value| serde_json::to_string_pretty(value).unwrap_or_default();
    match events {
        [only] if only.headers.is_empty() && only.profile.is_none() => pretty(&only.event),
        events => pretty(&serde_json::json!({ "events": events })),
    }
}

/// The names of the samples the belt keeps, for the select; none when they cannot be read (the
/// page still works, and says so).
pub async fn kept_names(state: &AppState, asked: Asked<'_>) -> Samples {
    match state.belts.samples(asked).await {
        Ok(samples) => Samples {
            names: samples.into_iter().map(|s| s.name.to_string()).collect(),
            note: None,
        },
        Err(err) => Samples {
            names: Vec::new(),
            note: Some(Note::Problem(format!(
                "The saved samples could not be read: {}",
                ApiError::from(err)
            ))),
        },
    }
}

/// "Load": the sample the select names, into the textarea.
pub async fn load(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = &signed_in.session;
    let form = Form::parse(&body);
    if let Some(refused) = form.csrf_refusal(session) {
        return refused;
    }
    let mut draft = Draft::read(&form);
    let note = if draft.saved.is_empty() {
        Note::Problem("Choose a saved sample to load.".to_owned())
    } else {
        let name = SampleName::parse(&draft.saved, "saved");
        match state.belts.sample(asked(session, &scope), name).await {
            Ok(sample) => {
                draft.sample = sample_text(sample.events.events());
                draft.sample_name = sample.name.to_string();
                Note::Done(format!("Loaded '{}'.", sample.name))
            }
            Err(BeltError::Forbidden) => return ui_error(BeltError::Forbidden),
            Err(err) => Note::Problem(ApiError::from(err).to_string()),
        }
    };
    answer(
        &state,
        session,
        scope,
        &headers,
        &draft,
        note,
        StatusCode::OK,
    )
    .await
}

/// "Save as…": the textarea's sample saved under the name typed beside it.
pub async fn save(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = &signed_in.session;
    let form = Form::parse(&body);
    if let Some(refused) = form.csrf_refusal(session) {
        return refused;
    }
    let mut draft = Draft::read(&form);
    let name = SampleName::parse(&draft.sample_name, "sampleName");
    let saved = match draft.sample_body() {
        Ok(body) => (state.belts)
            .save_sample(asked(session, &scope), name, &body)
            .await
            .map_err(ApiError::from),
        Err(invalid) => match session.caller.require(&scope.project, Access::Write) {
            Ok(()) => Err(ApiError::from(invalid)),
            Err(forbidden) => Err(ApiError::from(forbidden)),
        },
    };
    let (note, status) = match saved {
        Ok((sample, saving)) => {
            draft.saved = sample.name.to_string();
            let done = match saving {
                Saving::Created => format!("Saved '{}'.", sample.name),
                Saving::Replaced => format!("Replaced '{}'.", sample.name),
            };
            (Note::Done(done), StatusCode::OK)
        }
        Err(ApiError::Forbidden) => return ui_error(BeltError::Forbidden),
        Err(err) => (Note::Problem(err.to_string()), StatusCode::BAD_REQUEST),
    };
    answer(&state, session, scope, &headers, &draft, note, status).await
}

/// The samples region for htmx (200, so that it swaps in whatever it says), else the editor.
async fn answer(
    state: &AppState,
    session: &Session,
    scope: BeltScope,
    headers: &HeaderMap,
    draft: &Draft,
    note: Note,
    status: StatusCode,
) -> Response {
    let mut samples = kept_names(state, asked(session, &scope)).await;
    samples.note = samples.note.or(Some(note));
    let target = Target::Edit(scope.project, scope.id);
    if from_htmx(headers) {
        let mut html = Html::default();
        region(&mut html, session, &target, draft, &samples);
        return respond(StatusCode::OK, html);
    }
    let shown = Shown {
        samples,
        ..Shown::default()
    };
    respond(status, editor_page(session, &target, draft, shown))
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
    let (load, save) = (target.samples_path("load"), target.samples_path("save"));
    html.raw("<div id=\"samples\" class=\"samples\"><div class=\"field inline\">")
        .raw("<label for=\"saved\">Saved samples</label> <select id=\"saved\" name=\"saved\">")
        .raw("<option value=\"\">")
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
    if session
        .caller
        .require(target.project(), Access::Write)
        .is_ok()
    {
        html.raw(
            "<div class=\"field inline\"><label for=\"sampleName\">Save the sample as</label> ",
        )
        .raw("<input id=\"sampleName\" name=\"sampleName\" maxlength=\"63\" ")
        .raw("pattern=\"[A-Za-z0-9][A-Za-z0-9._\\-]{0,62}\" value=\"")
        .text(&draft.sample_name)
        .raw("\"> <button type=\"submit\" id=\"save-sample\" formaction=\"")
        .text(&save)
        .raw("\" hx-post=\"")
        .text(&save)
        .raw("\" hx-target=\"#samples\" hx-swap=\"outerHTML\">Save as…</button></div>");
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
