//! Replace a belt's spec (docs/api.md#put-etag-and-if-match): omitted fields get their defaults,
//! an unchanged spec writes nothing, a changed one is version + 1 (a dry run rolls it back).

use super::locked::{write_locked, Written};
use super::{Asked, BeltError, Belts, Edit, Shown};
use crate::domain::belt::now_millis;
use crate::domain::lifecycle::status_of;
use crate::domain::{Commit, EventAction, EventDraft};
use crate::store::{Decided, LockedWrite};

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
            caller,
            project,
            id,
        } = edit.asked;
        let (_, spec) = self.accepted_spec(caller, project, body).await?;
        let (by, at) = (caller.person(), now_millis());
        let runtime = self.runtime.clone();
        // Without `If-Match` the last writer wins and every writer gets its own version; with it,
        // exactly one writer sees the version it names.
        let decide = move |current: &crate::domain::Belt| {
            expect.check(id, current.version)?;
            if current.spec == spec {
                return Ok((LockedWrite::Nothing.into(), ()));
            }
            let observed = runtime.observe(id);
            let mut after = current.clone();
            after.version += 1;
            let (from, to) = (status_of(current, observed), status_of(&after, observed));
            let event = EventDraft::by(&by, EventAction::Replaced, at, Some(from), Some(to));
            let write = LockedWrite::Replace {
                spec: Box::new(spec),
                by,
                at,
            };
            let event = Some(event);
            Ok((Decided { write, event }, ()))
        };
        match write_locked(self.store.as_ref(), project, id, decide, commit)
            .await?
            .0
        {
            Written::Changed(belt) => {
                if commit == Commit::Yes {
                    tracing::info!(belt = %belt.id, version = belt.version, "belt updated");
                }
                Ok(Replaced::Changed(Box::new(self.show(belt))))
            }
            Written::Unchanged(belt) => Ok(Replaced::Unchanged {
                version: belt.version,
            }),
        }
    }
}
