//! `/ui/projects/{project}/belts/{id}/export`: the belt as YAML of only what differs from the
//! server's defaults (the API's `?export=true` view, as `belt export` writes it), a file to keep
//! in git and `belt apply -f` again. A read: viewers may take it too.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::page::problem;
use super::session::SignedIn;
use super::ui_error;
use crate::http::document::export;
use crate::http::scope::BeltScope;
use crate::http::state::AppState;

pub async fn download(
    State(state): State<AppState>,
    signed_in: SignedIn,
    scope: BeltScope,
) -> Response {
    let asked = scope.asked_for(&signed_in.session.caller);
    let shown = match state.belts.get(asked).await {
        Ok(shown) => shown,
        Err(err) => return ui_error(err),
    };
    let view = export(&shown.belt, state.belts.defaults());
    let yaml = match serde_yaml::to_string(&view) {
        Ok(yaml) => yaml,
        Err(err) => {
            tracing::warn!(error = %err, "a belt's export did not render as YAML");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The export could not be written.",
            );
        }
    };
    let file = format!("attachment; filename=\"belt-{}.yaml\"", shown.belt.id);
    (
        [
            (
                header::CONTENT_TYPE,
                "application/yaml; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, file),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        yaml,
    )
        .into_response()
}
