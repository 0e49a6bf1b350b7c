//! Saved samples (docs/api.md#saved-samples): sample events kept with a belt under a name, for
//! test-invoke to replay (`"sample": "<name>"`). Handlers extract, call one use case, render.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::document::{Link, SelfLinks};
use super::dry_run::{DryRun, DryRunParam};
use super::error::{ApiError, ApiResult};
use super::errors::ErrorBody;
use super::links::BaseUrl;
use super::render::belt_path;
use super::scope::BeltScope;
use super::state::AppState;
use crate::domain::samples::{Sample, SampleEvent, SampleName, Saving};
use crate::domain::timestamp::format_timestamp;
use crate::domain::{Invalid, Person};

/// A saved sample as the API answers it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SampleItem {
    #[schema(example = "order-7")]
    pub name: String,
    /// The events, as test-invoke's `events` takes them.
    pub events: Vec<SampleEvent>,
    /// Who saved this content, and when.
    pub saved_by: Person,
    #[schema(example = "2021-09-24T08:38:50.848Z")]
    pub saved_at: String,
    #[serde(rename = "_links")]
    pub links: SelfLinks,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SampleList {
    /// Samples the belt keeps (at most 20), all of them here.
    pub total_count: u64,
    /// By name.
    pub items: Vec<SampleItem>,
}

/// The `{name}` of `…/samples/{name}`, as parsed: the role check answers before its refusal.
pub struct SampleNameParam(pub Result<SampleName, Invalid>);

impl<S: Send + Sync> FromRequestParts<S> for SampleNameParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, &())
            .await
            .map_err(|_| ApiError::BadParameter("Path parameters are not valid UTF-8.".into()))?;
        let name = raw.iter().find(|(k, _)| *k == "name").map(|(_, v)| v);
        Ok(SampleNameParam(SampleName::parse(
            name.unwrap_or_default(),
            "name",
        )))
    }
}

fn sample_path(scope: &BeltScope, name: &SampleName) -> String {
    format!("{}/samples/{name}", belt_path(&scope.project, scope.id))
}

fn item(sample: Sample, scope: &BeltScope, base: &BaseUrl) -> SampleItem {
    SampleItem {
        links: SelfLinks {
            self_: Link {
                href: base.href(&sample_path(scope, &sample.name)),
            },
        },
        name: sample.name.to_string(),
        events: sample.events.into_events(),
        saved_by: sample.saved_by,
        saved_at: format_timestamp(sample.saved_at),
    }
}

/// The samples saved with a belt, by name.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/samples",
    tag = "samples",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
    ),
    responses(
        (status = 200, description = "Every sample the belt keeps, by name.", body = SampleList),
        (status = 404, description = "No such belt.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list_samples(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    base: BaseUrl,
) -> ApiResult<Json<SampleList>> {
    let samples = state.belts.samples(scope.asked_by(&caller)).await?;
    Ok(Json(SampleList {
        total_count: samples.len() as u64,
        items: (samples.into_iter())
            .map(|sample| item(sample, &scope, &base))
            .collect(),
    }))
}

/// One sample saved with a belt.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/samples/{name}",
    tag = "samples",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("name" = String, Path, description = "`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`"),
    ),
    responses(
        (status = 200, description = "The sample.", body = SampleItem),
        (status = 400, description = "Bad id or name.", body = ErrorBody),
        (status = 404, description = "No such belt, or it keeps no sample of this name.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get_sample(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    SampleNameParam(name): SampleNameParam,
    base: BaseUrl,
) -> ApiResult<Json<SampleItem>> {
    let sample = state.belts.sample(scope.asked_by(&caller), name).await?;
    Ok(Json(item(sample, &scope, &base)))
}

/// Save a sample under a name, or replace the one of that name.
#[utoipa::path(
    put,
    path = "/projects/{project}/belts/{id}/samples/{name}",
    tag = "samples",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("name" = String, Path, description = "`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`"),
        DryRunParam,
    ),
    request_body(content = Object, description = "`events`: 1–100 sample events as test-invoke \
        takes them, at most 64 KiB as JSON.",
        example = json!({"events": [{"headers": {"grnry-correlation-id": "c-1"}, "event": {"id": 7}}]})),
    responses(
        (status = 200, description = "Replaced the sample of this name (with `dryRun=true`: would have; nothing was).", body = SampleItem),
        (status = 201, description = "Saved a new sample (with `dryRun=true`: would have; nothing was).", body = SampleItem,
            headers(("Location" = String, description = "The sample's URL."))),
        (status = 400, description = "Bad name or events (the message names the field), or the belt already keeps 20 samples (`name`).", body = ErrorBody),
        (status = 403, description = "Missing roles (saving needs `editor`).", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_sample(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    SampleNameParam(name): SampleNameParam,
    base: BaseUrl,
    DryRun(commit): DryRun,
    body: Bytes,
) -> ApiResult<Response> {
    let asked = scope.asked_by(&caller);
    let saved = state.belts.save_sample(asked, commit, name, &body).await?;
    let (sample, saving) = saved;
    let href = base.href(&sample_path(&scope, &sample.name));
    let status = match saving {
        Saving::Created => StatusCode::CREATED,
        Saving::Replaced => StatusCode::OK,
    };
    let mut response = (status, Json(item(sample, &scope, &base))).into_response();
    if let (Saving::Created, Ok(location)) = (saving, HeaderValue::from_str(&href)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Forget a saved sample.
#[utoipa::path(
    delete,
    path = "/projects/{project}/belts/{id}/samples/{name}",
    tag = "samples",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("name" = String, Path, description = "`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`"),
        DryRunParam,
    ),
    responses(
        (status = 204, description = "Deleted (with `dryRun=true`: could be; nothing was)."),
        (status = 400, description = "Bad id or name.", body = ErrorBody),
        (status = 403, description = "Missing roles (deleting needs `editor`).", body = ErrorBody),
        (status = 404, description = "No such belt, or it keeps no sample of this name.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete_sample(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    SampleNameParam(name): SampleNameParam,
    DryRun(commit): DryRun,
) -> ApiResult<StatusCode> {
    let asked = scope.asked_by(&caller);
    state.belts.delete_sample(asked, commit, name).await?;
    Ok(StatusCode::NO_CONTENT)
}
