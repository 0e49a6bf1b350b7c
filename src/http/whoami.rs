//! `GET /whoami` (docs/api.md#who-am-i): who the token names, and each project it grants a role
//! in, as `kubectl auth whoami` answers. Only what the caller's own verified token says: no store,
//! no other caller, no project the token does not name.

use axum::Json;
use serde::Serialize;

use super::caller::Caller;
use super::errors::ErrorBody;

/// The caller, as their token names them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Whoami {
    /// The token's `name`, else `preferred_username`, else `sub`: what a write records as its
    /// author.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// The token's `email` ("" without one).
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// The token's `sub`, when it has one.
    #[schema(example = "f3b1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d")]
    pub subject: Option<String>,
    /// Every project the token grants `editor` or `viewer` in, `global` first, then by name.
    pub projects: Vec<ProjectRole>,
}

/// A project and the caller's strongest role there.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProjectRole {
    #[schema(example = "global")]
    pub project: String,
    /// `editor` (read and write) or `viewer` (read).
    #[schema(example = "editor")]
    pub role: String,
}

/// Who the token names, and its projects.
#[utoipa::path(
    get,
    path = "/whoami",
    tag = "identity",
    responses(
        (status = 200, description = "The caller and the projects their token grants a role in (none is an empty list).", body = Whoami),
        (status = 401, description = "Token invalid or missing.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn whoami(Caller(caller): Caller) -> Json<Whoami> {
    let projects = (caller.projects().into_iter())
        .map(|granted| ProjectRole {
            project: granted.project.to_string(),
            role: granted.role.to_string(),
        })
        .collect();
    Json(Whoami {
        name: caller.claims.display_name(),
        email: caller.claims.email(),
        subject: caller.claims.sub.clone(),
        projects,
    })
}
