//! The OpenAPI 3.1 document, generated from the handlers, and the Swagger UI served from the binary.

use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{AnyOfBuilder, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Belt API",
        description = "Stores belt definitions per project, deploys them and reports their state. \
            Every path under `/projects/{project}` also answers without that prefix, for project `global`."
    ),
    paths(
        super::list::list,
        super::belts::get,
        super::belts::create,
        super::belts::create_with_id,
        super::belts::update,
        super::belts::delete,
        super::running::get_state,
        super::running::change_state,
        super::logs::logs,
        super::revisions::list_revisions,
        super::revisions::get_revision,
        super::revisions::rollback,
        super::bulk::change_states,
        super::history::history,
        super::lag::lag,
        super::watch::watch,
        super::invoke::invoke,
        super::invoke::invoke_draft,
        super::samples::list_samples,
        super::samples::get_sample,
        super::samples::put_sample,
        super::samples::delete_sample,
        super::offsets::get_offsets,
        super::offsets::put_offsets,
        super::offsets::delete_offsets,
        super::service::health,
        super::service::ready,
        super::service::metrics,
        super::whoami::whoami,
    ),
    components(schemas(super::errors::ErrorBody, super::streams::EndLine)),
    modifiers(&Security, &CommonAnswers, &ExportAnswer, &LegacyPaths),
    tags(
        (name = "belts", description = "The Belt Store"),
        (name = "revisions", description = "Kept versions of a belt, and rollback"),
        (name = "samples", description = "Sample events saved with a belt, replayed by test-invoke"),
        (name = "service", description = "Liveness, readiness, metrics"),
        (name = "identity", description = "Who the token names, and its projects"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Keycloak access token; also accepted as `Authentication: <jwt>`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Answers every operation of a kind can give, whichever handler code path produces them: the
/// caller extractor (401, 403, 400 for a token it cannot use, 503 when the keys cannot be
/// fetched), the path extractors (400 for a bad project or id), the body limit (413) and the
/// database (503). Added where the handler's own list lacks them, so the document names every
/// status the service can answer (the fuzz run in `scripts/fuzz.sh` holds it to that).
struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names_a_belt = path.contains("{id}");
            for operation in operations(item) {
                if operation.security.is_none() {
                    continue;
                }
                let mut answers = vec![
                    ("400", "Invalid parameter, header or field (the message names it)."),
                    ("401", "Token invalid or missing."),
                    ("403", "Missing roles."),
                    (
                        "503",
                        "The database, identity provider, registry or runtime did not answer; nothing was changed.",
                    ),
                ];
                if names_a_belt {
                    answers.push(("404", "No such belt in this project."));
                }
                if operation.request_body.is_some() {
                    answers.push(("413", "Body over 1 MiB."));
                }
                for (status, description) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_answer(description));
                }
            }
        }
    }
}

/// `GET …/belts/{id}?export=true` answers only what a POST needs (the shape of `BeltBody`), so the
/// 200 of that operation is either document.
struct ExportAnswer;

impl Modify for ExportAnswer {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let Some(get) = openapi
            .paths
            .paths
            .get_mut("/projects/{project}/belts/{id}")
            .and_then(|item| item.get.as_mut())
        else {
            return;
        };
        let Some(RefOr::T(ok)) = get.responses.responses.get_mut("200") else {
            return;
        };
        if let Some(json) = ok.content.get_mut("application/json") {
            json.schema = Some(RefOr::T(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(Ref::from_schema_name("BeltDocument"))
                    .item(Ref::from_schema_name("BeltBody"))
                    .build(),
            )));
        }
    }
}

fn error_answer(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// Paths of the v2 API that have no legacy twin at the root.
const PROJECT_ONLY: [&str; 10] = [
    "/projects/{project}/belts/state",
    "/projects/{project}/belts/invoke",
    "/projects/{project}/belts/{id}/revisions",
    "/projects/{project}/belts/{id}/revisions/{version}",
    "/projects/{project}/belts/{id}/rollback",
    "/projects/{project}/belts/{id}/history",
    "/projects/{project}/belts/{id}/lag",
    "/projects/{project}/belts/{id}/samples",
    "/projects/{project}/belts/{id}/samples/{name}",
    "/projects/{project}/watch",
];

/// Documents the legacy paths: each `/projects/{project}/belts…` again without the prefix, but
/// for the paths only the v2 API has.
struct LegacyPaths;

impl Modify for LegacyPaths {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let scoped: Vec<(String, utoipa::openapi::PathItem)> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with("/projects/{project}/"))
            .filter(|(path, _)| !PROJECT_ONLY.contains(&path.as_str()))
            .map(|(path, item)| (path.clone(), item.clone()))
            .collect();
        for (path, mut item) in scoped {
            let legacy = path.trim_start_matches("/projects/{project}").to_string();
            for operation in operations(&mut item) {
                if let Some(parameters) = operation.parameters.as_mut() {
                    parameters.retain(|p: &Parameter| {
                        !(p.name == "project" && p.parameter_in == ParameterIn::Path)
                    });
                }
                operation.operation_id = operation
                    .operation_id
                    .take()
                    .map(|id| format!("{id}_global"));
                operation.tags = Some(vec!["belts (legacy, project global)".into()]);
            }
            openapi.paths.paths.insert(legacy, item);
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<&mut utoipa::openapi::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn document() -> OpenApiDoc {
    ApiDoc::openapi()
}

/// `/docs` (Swagger UI, vendored: no CDN) and `/openapi.json`.
pub fn swagger_ui() -> axum::Router<AppState> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", document())
        .into()
}
