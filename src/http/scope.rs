//! The project and belt a path names. Paths without `/projects/{project}` mean project `global`.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;

use super::caller::Caller;
use super::error::ApiError;
use crate::belts::{Asked, Edit};
use crate::domain::{BeltId, ProjectName};
use crate::domain::{Commit, Invalid, Precondition};

/// `/projects/{project}/belts` or `/belts`.
pub struct ProjectScope(pub ProjectName);

/// `…/belts/{id}`.
pub struct BeltScope {
    pub project: ProjectName,
    pub id: BeltId,
}

impl BeltScope {
    /// This belt, asked about by `caller`.
    pub fn asked_by<'a>(&'a self, caller: &'a Caller) -> Asked<'a> {
        self.asked_for(&caller.0)
    }

    /// This belt, asked about by the caller a console session stands for.
    pub fn asked_for<'a>(&'a self, caller: &'a crate::belts::Caller) -> Asked<'a> {
        Asked {
            caller,
            project: &self.project,
            id: self.id,
        }
    }
}

impl BeltScope {
    /// A change to this belt asked for by `caller`, on the versions `expect` names.
    pub fn edit_by<'a>(
        &'a self,
        caller: &'a Caller,
        expect: Result<Precondition, Invalid>,
    ) -> Edit<'a> {
        Edit {
            asked: self.asked_by(caller),
            expect,
            commit: Ok(Commit::Yes),
        }
    }
}

async fn params(parts: &mut Parts) -> Result<Vec<(String, String)>, ApiError> {
    let raw = RawPathParams::from_request_parts(parts, &())
        .await
        .map_err(|_| ApiError::BadParameter("Path parameters are not valid UTF-8.".into()))?;
    Ok(raw
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn project_of(params: &[(String, String)]) -> Result<ProjectName, ApiError> {
    match params.iter().find(|(k, _)| k == "project") {
        Some((_, name)) => Ok(ProjectName::parse(name)?),
        None => Ok(ProjectName::global()),
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ProjectScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(ProjectScope(project_of(&params(parts).await?)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BeltScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let params = params(parts).await?;
        let project = project_of(&params)?;
        let id = params
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        Ok(BeltScope {
            project,
            id: BeltId::parse(id, "beltId")?,
        })
    }
}
