//! Replace a belt's spec (docs/api.md#put-etag-and-if-match): omitted fields get their defaults,
//! an unchanged spec writes nothing, a changed one is version + 1 (a dry run rolls it back).

use super::locked::{write_locked, Written};
use super::{Asked, BeltError, Belts, Edit, Shown};
use crate::domain::belt::now_millis;
use crate::domain::transition::{self, Request};
use crate::domain::{Belt, BeltSpec, Commit, Person, Precondition};

/// A spec to store as the next version, and who asks for it.
pub(super) struct NewSpec {
    pub spec: BeltSpec,
    pub by: Person,
    pub at: time::OffsetDateTime,
    /// The version whose content a rollback restores.
    pub rollback_of: Option<i64>,
}

/// What a replace did.
#[derive(Debug)]
pub enum Replaced {
    Changed(Box<Shown>),
    /// Nothing to change; the belt stays at `version`.
    Unchanged {
        version: i64,
    },
}

impl Belts {
    pub async fn replace(&self, edit: Edit<'_>, body: &[u8]) -> Result<Replaced, BeltError> {
        let (expect, commit) = edit.permit()?;
        let Asked {
            caller, project, ..
        } = edit.asked;
        let (_, spec) = self.accepted_spec(caller, project, body).await?;
        let new = NewSpec {
            spec,
            by: caller.person(),
            at: now_millis(),
            rollback_of: None,
        };
        self.write_spec(edit.asked, expect, commit, new).await
    }

    /// Stores `new` as the belt's next version, as a PUT does (and a rollback, which restores an
    /// old version's content): nothing when it equals the current spec; the `replaced` event in
    /// the same transaction.
    pub(super) async fn write_spec(
        &self,
        asked: Asked<'_>,
        expect: Precondition,
        commit: Commit,
        new: NewSpec,
    ) -> Result<Replaced, BeltError> {
        let (project, id) = (asked.project, asked.id);
        let runtime = self.runtime.clone();
        let NewSpec {
            spec,
            by,
            at,
            rollback_of,
        } = new;
        let ask = Request { expect, by, at };
        // Without `If-Match` the last writer wins and every writer gets its own version; with it,
        // exactly one writer sees the version it names.
        let decide = move |current: &Belt| {
            let observed = runtime.observe(id);
            match rollback_of {
                Some(restores) => transition::rollback(current, &ask, spec, restores, observed),
                None => transition::replace(current, &ask, spec, observed),
            }
        };
        match write_locked(self.store.as_ref(), project, id, decide, commit).await? {
            Written::Changed(transition) => {
                if commit == Commit::Yes {
                    log_written(&transition.next, rollback_of);
                }
                Ok(Replaced::Changed(Box::new(self.show(transition.next))))
            }
            Written::Unchanged(belt) => Ok(Replaced::Unchanged {
                version: belt.version,
            }),
        }
    }
}

fn log_written(belt: &Belt, rollback_of: Option<i64>) {
    match rollback_of {
        Some(restored) => {
            tracing::info!(belt = %belt.id, version = belt.version, restored, "belt rolled back")
        }
        None => tracing::info!(belt = %belt.id, version = belt.version, "belt updated"),
    }
}
