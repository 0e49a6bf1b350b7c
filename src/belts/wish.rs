//! START and STOP (docs/api.md#start-and-stop): the wish is stored under the belt's lock, then the
//! reconciler is woken to carry it out. Nothing runs yet when the answer leaves. A dry run checks
//! the transition and stores the wish under the same lock, then rolls it back and wakes no one.

use super::locked::{write_locked, Written};
use super::{BeltError, Belts, Edit};
use crate::domain::belt::now_millis;
use crate::domain::fields::refuse_nul_in_body;
use crate::domain::input::parse_body;
use crate::domain::transition::{self, Request};
use crate::domain::{Action, Belt, BeltStatus, Commit, Invalid};

impl Belts {
    /// `body` is `{"action": "START"|"STOP"}`; answers the status the action leads to.
    pub async fn change_state(&self, edit: Edit<'_>, body: &[u8]) -> Result<BeltStatus, BeltError> {
        let (expect, commit) = edit.permit()?;
        let asked = edit.asked;
        let action = action_of(body)?;
        let id = asked.id;
        // Validated against the belt as it stands under its lock: a START or STOP without
        // `If-Match` never fails because another got in first; it queues, then sees that status.
        let runtime = self.runtime.clone();
        let ask = Request {
            expect,
            by: asked.caller.person(),
            at: now_millis(),
        };
        let decide = move |belt: &Belt| {
            let observed = runtime.observe(belt.id);
            transition::change_state(belt, &ask, action, observed).map(Some)
        };
        let store = self.store.as_ref();
        let Written::Changed(written) =
            write_locked(store, asked.project, id, decide, commit).await?
        else {
            return Err(anyhow::anyhow!("a START or STOP of belt {id} wrote nothing").into());
        };
        // The status the action leads to is the one its event states.
        let status = (written.event.to).ok_or_else(|| {
            anyhow::anyhow!("the {} event of belt {id} names no status", action.as_str())
        })?;
        if commit == Commit::DryRun {
            return Ok(status);
        }
        let stored = &written.next;
        tracing::info!(
            belt = %stored.id,
            action = action.as_str(),
            generation = stored.wish.generation,
            "wish stored"
        );
        self.reconciler.wake_belt(stored.id);
        Ok(status)
    }
}

pub(super) fn action_of(body: &[u8]) -> Result<Action, Invalid> {
    let map = parse_body(body)?;
    refuse_nul_in_body(&map)?;
    match map.get("action") {
        Some(serde_json::Value::String(text)) => Action::parse(text),
        Some(other) => Action::parse(&other.to_string()),
        None => Action::parse(""),
    }
}
