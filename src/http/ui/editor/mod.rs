//! The callback editor (docs/console.md): `/ui/projects/{p}/belts/new` creates a belt through the
//! create use case, `…/belts/{id}/edit` saves its next version through the replace use case with
//! the version the page showed as `If-Match`. Typing posts the form to `…/check`, which asks the
//! same use case for a dry run (nothing is kept) and answers the error at its field and line;
//! the test panel posts it to `…/invoke`, the test-invoke use case, with the editor's drafts (a
//! new belt's to `…/belts/invoke`, the same use case's draft of a belt not saved yet).
//! Every POST carries the session's CSRF token; the use cases check the roles.

mod check;
mod draft;
mod panel;
mod samples;
mod saved;
mod target;
mod view;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Map;

use self::check::{check_region, Checked};
use self::draft::Draft;
use self::panel::{panel_result, Ran};
use self::samples::kept_names;
pub use self::samples::{load as load_sample, save as save_sample};
use self::saved::Samples;

use self::view::{editor_page, Shown, Target};
use super::form::{CsrfForm, Form};
use super::guarded::stale_sentence;
use super::html::{encode, Html};
use super::page::{problem, respond};
use super::session::{Session, SignedIn};
use super::ui_error;
use crate::belts::{Access, Asked, BeltError, Caller, Edit, Replaced};
use crate::domain::{BeltId, Commit, ProjectName};
use crate::http::document::export;
use crate::http::error::ApiError;
use crate::http::scope::{BeltScope, ProjectScope};
use crate::http::state::AppState;

/// What a save, or its dry run, did.
enum Done {
    Saved(BeltId),
    /// The edit changed nothing; the belt stays at this version.
    Unchanged(BeltId, i64),
}

pub async fn new_page(signed_in: SignedIn, ProjectScope(project): ProjectScope) -> Response {
    let session = &signed_in.session;
    if let Err(err) = session.caller.require(&project, Access::Write) {
        return ui_error(err);
    }
    let page = editor_page(
        session,
        &Target::New(project),
        &Draft::blank(),
        Shown::default(),
    );
    respond(StatusCode::OK, page)
}

pub async fn edit_page(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
) -> Response {
    let session = &signed_in.session;
    if let Err(err) = session.caller.require(&scope.project, Access::Write) {
        return ui_error(err);
    }
    let belt = match state.belts.get(asked(session, &scope)).await {
        Ok(shown) => shown.belt,
        Err(err) => return ui_error(err),
    };
    let shown = Shown {
        samples: kept_names(&state, asked(session, &scope)).await,
        ..Shown::default()
    };
    let target = Target::Edit(scope.project, scope.id);
    let page = editor_page(session, &target, &Draft::of(&belt), shown);
    respond(StatusCode::OK, page)
}

pub async fn create(
    State(state): State<AppState>,
    CsrfForm(signed_in, ProjectScope(project), form): CsrfForm<ProjectScope>,
) -> Response {
    save(&state, &signed_in.session, Target::New(project), &form).await
}

pub async fn update(
    State(state): State<AppState>,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    save(&state, &signed_in.session, scope.into(), &form).await
}

pub async fn check_new(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(signed_in, ProjectScope(project), form): CsrfForm<ProjectScope>,
) -> Response {
    let target = Target::New(project);
    check(&state, &signed_in.session, target, &headers, &form).await
}

pub async fn check_edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    check(&state, &signed_in.session, scope.into(), &headers, &form).await
}

/// The create or replace use case with the editor's document, kept or only tried.
async fn attempt(
    state: &AppState,
    caller: &Caller,
    target: &Target,
    draft: &Draft,
    commit: Commit,
) -> Result<Done, BeltError> {
    let (project, id) = match target {
        Target::New(project) => {
            let body = draft.body(Map::new());
            let created = (state.belts)
                .create(caller, project.clone(), None, &body, Ok(commit))
                .await?;
            return Ok(Done::Saved(created.belt.id));
        }
        Target::Edit(project, id) => (project, *id),
    };
    let asked = Asked {
        caller,
        project,
        id,
    };
    // What the form does not show (labels, output types, resources…) is kept: the body starts
    // from the belt's own fields, as `?export=true` shows them.
    let current = state.belts.get(asked).await?;
    let base = export(&current.belt, state.belts.defaults());
    let edit = Edit {
        asked,
        expect: draft.precondition(),
        commit: Ok(commit),
    };
    match state.belts.replace(edit, &draft.body(base)).await? {
        Replaced::Changed(shown) => Ok(Done::Saved(shown.belt.id)),
        Replaced::Unchanged { version } => Ok(Done::Unchanged(id, version)),
    }
}

fn asked<'a>(session: &'a Session, scope: &'a BeltScope) -> Asked<'a> {
    scope.asked_for(&session.caller)
}

/// The samples saved with the belt an edit writes; none for a new belt.
async fn samples_for(state: &AppState, session: &Session, target: &Target) -> Samples {
    match target {
        Target::New(_) => Samples::default(),
        Target::Edit(project, id) => {
            let asked = Asked {
                caller: &session.caller,
                project,
                id: *id,
            };
            kept_names(state, asked).await
        }
    }
}

fn belt_page(project: &ProjectName, id: BeltId) -> String {
    format!("/ui/projects/{}/belts/{id}", encode(project.as_str()))
}

async fn save(state: &AppState, session: &Session, target: Target, form: &Form) -> Response {
    let draft = Draft::read(form);
    match attempt(state, &session.caller, &target, &draft, Commit::Yes).await {
        Ok(Done::Saved(id) | Done::Unchanged(id, _)) => {
            Redirect::to(&belt_page(target.project(), id)).into_response()
        }
        // The user's text stays: the same editor again, with the refusal at its field and line.
        Err(BeltError::Invalid(invalid)) => {
            let shown = Shown {
                checked: Some(Checked::Refused(invalid)),
                samples: samples_for(state, session, &target).await,
                ..Shown::default()
            };
            respond(
                StatusCode::BAD_REQUEST,
                editor_page(session, &target, &draft, shown),
            )
        }
        Err(BeltError::VersionMismatch { current, .. }) => {
            problem(StatusCode::PRECONDITION_FAILED, &stale_sentence(current))
        }
        Err(err) => ui_error(err),
    }
}

/// Whether htmx asked (it answers a fragment to swap in) or a browser without JavaScript did
/// (the whole editor again, the answer in place).
fn from_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

async fn check(
    state: &AppState,
    session: &Session,
    target: Target,
    headers: &HeaderMap,
    form: &Form,
) -> Response {
    let draft = Draft::read(form);
    let checked = match attempt(state, &session.caller, &target, &draft, Commit::DryRun).await {
        Ok(Done::Saved(_)) => Checked::Fine(match target {
            Target::New(_) => "No problems found: saving creates the belt.".to_owned(),
            Target::Edit(..) => "No problems found: saving stores a new version.".to_owned(),
        }),
        Ok(Done::Unchanged(_, version)) => Checked::Fine(format!(
            "No problems found, and no change: the belt stays at version {version}."
        )),
        Err(BeltError::Invalid(invalid)) => Checked::Refused(invalid),
        Err(BeltError::VersionMismatch { current, .. }) => Checked::Failed(stale_sentence(current)),
        Err(BeltError::Forbidden) => return ui_error(BeltError::Forbidden),
        Err(err) => Checked::Failed(ApiError::from(err).to_string()),
    };
    if from_htmx(headers) {
        let mut html = Html::default();
        check_region(&mut html, &draft.extractor_fn, Some(&checked));
        return respond(StatusCode::OK, html);
    }
    let shown = Shown {
        checked: Some(checked),
        samples: samples_for(state, session, &target).await,
        ..Shown::default()
    };
    respond(StatusCode::OK, editor_page(session, &target, &draft, shown))
}

/// The test panel's "Run": the editor's callback and requirements as drafts on the sample.
pub async fn invoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(signed_in, scope, form): CsrfForm<BeltScope>,
) -> Response {
    run(&state, &signed_in.session, scope.into(), &headers, &form).await
}

/// "Run" in the editor of a belt not saved yet: the draft alone, through the same use case as
/// `POST /projects/{p}/belts/invoke`.
pub async fn invoke_new(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm(signed_in, ProjectScope(project), form): CsrfForm<ProjectScope>,
) -> Response {
    let target = Target::New(project);
    run(&state, &signed_in.session, target, &headers, &form).await
}

/// The test-invoke use case on the form's draft: a stored belt's with the drafts over it, or a
/// new belt's draft alone. The panel's answer, or the whole editor without htmx.
async fn run(
    state: &AppState,
    session: &Session,
    target: Target,
    headers: &HeaderMap,
    form: &Form,
) -> Response {
    let draft = Draft::read(form);
    let ran = match draft.invoke_body() {
        Err(invalid) => Ran::Refused(invalid.message),
        Ok(bytes) => {
            let invocations = &state.invocations;
            let report = match &target {
                Target::New(project) => {
                    (invocations.invoke_draft(&session.caller, project, &bytes)).await
                }
                Target::Edit(project, id) => {
                    let asked = Asked {
                        caller: &session.caller,
                        project,
                        id: *id,
                    };
                    invocations.invoke(asked, &bytes).await
                }
            };
            match report {
                Ok(report) => Ran::Report(Box::new(report)),
                Err(BeltError::Forbidden) => return ui_error(BeltError::Forbidden),
                Err(err) => Ran::Refused(ApiError::from(err).to_string()),
            }
        }
    };
    if from_htmx(headers) {
        let mut html = Html::default();
        panel_result(&mut html, Some(&ran));
        return respond(StatusCode::OK, html);
    }
    let shown = Shown {
        ran: Some(ran),
        samples: samples_for(state, session, &target).await,
        ..Shown::default()
    };
    respond(StatusCode::OK, editor_page(session, &target, &draft, shown))
}
