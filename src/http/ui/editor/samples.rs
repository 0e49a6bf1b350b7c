//! The test panel's saved samples (docs/console.md): a select of the samples saved with the belt
//! and "Load", which fills the sample's textarea with one; "Save as…", which saves the textarea's
//! sample under a name through the same use case as `PUT …/samples/{name}`. With htmx both answer
//! the samples region, the textarea in it; without, the whole editor, the drafts kept.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::draft::Draft;
use super::saved::{region, Note, Samples};
use super::view::{editor_page, Shown, Target};
use super::{asked, from_htmx};
use crate::belts::{Access, Asked, BeltError};
use crate::domain::samples::{SampleEvent, SampleName, Saving};
use crate::domain::Commit;
use crate::http::error::ApiError;
use crate::http::scope::BeltScope;
use crate::http::state::AppState;
use crate::http::ui::form::CsrfForm;
use crate::http::ui::html::Html;
use crate::http::ui::page::respond;
use crate::http::ui::session::Session;
use crate::http::ui::ui_error;

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
    headers: HeaderMap,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    let session = &signed_in.session;
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
    headers: HeaderMap,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    let session = &signed_in.session;
    let mut draft = Draft::read(&form);
    let name = SampleName::parse(&draft.sample_name, "sampleName");
    let saved = match draft.sample_body() {
        Ok(body) => (state.belts)
            .save_sample(asked(session, &scope), Ok(Commit::Yes), name, &body)
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
