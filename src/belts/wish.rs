//! START and STOP (docs/api.md#start-and-stop): the wish is stored under the belt's lock, then the
//! reconciler is woken to carry it out. Nothing runs yet when the answer leaves. A dry run checks
//! the transition and stores the wish under the same lock, then rolls it back and wakes no one.

use super::locked::write_locked;
use super::status::transition;
use super::{BeltError, Belts, Edit};
use crate::domain::belt::now_millis;
use crate::domain::fields::refuse_nul_in_body;
use crate::domain::input::parse_body;
use crate::domain::lifecycle::status_of;
use crate::domain::{Action, Belt, BeltStatus, Commit, EventAction, EventDraft, Invalid};
use crate::store::{Decided, LockedWrite};

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
        let by = asked.caller.person();
        let decide = move |belt: &Belt| {
            expect.check(id, belt.version)?;
            let current = status_of(belt, runtime.observe(belt.id));
            let (change, status) = transition(belt, current, action)?;
            let kind = match action {
                Action::Start => EventAction::Started,
                Action::Stop => EventAction::Stopped,
            };
            let event = EventDraft::by(&by, kind, now_millis(), Some(current), Some(status));
            let write = LockedWrite::Wish(change);
            let event = Some(event);
            Ok((Decided { write, event }, status))
        };
        let store = self.store.as_ref();
        let (written, status) = write_locked(store, asked.project, id, decide, commit).await?;
        if commit == Commit::DryRun {
            return Ok(status);
        }
        let stored = written.belt();
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
