//! Create a belt (docs/api.md#paths): the body parsed into a valid spec, its event and output
//! types checked by the registry when one is configured, then stored (or, in a dry run, stored and rolled back).

use super::{Access, BeltError, Belts, Caller, Shown};
use crate::domain::belt::now_millis;
use crate::domain::fields::refuse_nul_in_body;
use crate::domain::input::{parse_body, parse_spec};
use crate::domain::{BeltId, BeltSpec, Commit, Invalid, ProjectName};
use crate::store::NewBelt;

impl Belts {
    /// `path_id`: the id the path names (`POST …/belts/{id}`); a body `id` must agree with it.
    /// Without one, the body's `id` is taken, or the store assigns one. `commit` is handed in as
    /// parsed, so the role check answers first.
    pub async fn create(
        &self,
        caller: &Caller,
        project: ProjectName,
        path_id: Option<BeltId>,
        body: &[u8],
        commit: Result<Commit, Invalid>,
    ) -> Result<Shown, BeltError> {
        let commit = caller.permit(&project, Access::Write, commit)?;
        let (body_id, spec) = self.accepted_spec(caller, &project, body).await?;
        let id = match path_id {
            Some(path_id) => {
                if let Some(body_id) = body_id.filter(|body_id| *body_id != path_id) {
                    return Err(Invalid::field_message(
                        "id",
                        format!("Parameter 'id' is '{body_id}' in the body but '{path_id}' in the path."),
                    )
                    .into());
                }
                Some(path_id)
            }
            None => body_id,
        };
        let new = NewBelt {
            id,
            project,
            spec,
            author: caller.person(),
            at: now_millis(),
        };
        let belt = self.store.create(new, commit).await?;
        match commit {
            Commit::Yes => tracing::info!(belt = %belt.id, project = %belt.project, "belt created"),
            Commit::DryRun => tracing::debug!(belt = %belt.id, "create tried (dry run)"),
        }
        Ok(self.show(belt))
    }

    /// Parses a create/replace body and, when a registry is configured, checks its event types
    /// (to consume) and output types (to produce).
    pub(super) async fn accepted_spec(
        &self,
        caller: &Caller,
        project: &ProjectName,
        body: &[u8],
    ) -> Result<(Option<BeltId>, BeltSpec), BeltError> {
        let map = parse_body(body)?;
        refuse_nul_in_body(&map)?;
        let input = parse_spec(&map, &self.defaults)?;
        if let Some(registry) = &self.registry {
            let outputs: Vec<String> = input
                .spec
                .output_types
                .iter()
                .flatten()
                .map(|output| output.name.clone())
                .collect();
            registry
                .check_belt(
                    project,
                    &input.spec.event_types,
                    &outputs,
                    &caller.token,
                    &caller.claims,
                )
                .await?;
        }
        Ok((input.id, input.spec))
    }
}
