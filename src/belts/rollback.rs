//! Rollback (docs/api.md#revisions-and-rollback), as `kubectl rollout undo`: a kept version's
//! content stored as a new version, exactly as a PUT of that content would be (parsed and checked
//! again, 304 when it is the current content, `If-Match` and `dryRun` honoured), remembering which
//! version it restored.

use anyhow::Context;

use super::replace::NewSpec;
use super::{Asked, BeltError, Belts, Edit, Replaced};
use crate::domain::belt::now_millis;
use crate::domain::input::parse_body;
use crate::domain::Invalid;
use crate::domain::Revision;

impl Belts {
    /// `body` is empty or `{"version": n}`; without a version, the newest kept one older than the
    /// current version is restored.
    pub async fn rollback(&self, edit: Edit<'_>, body: &[u8]) -> Result<Replaced, BeltError> {
        let (expect, commit) = edit.permit()?;
        let asked = edit.asked;
        let Asked {
            caller,
            project,
            id,
        } = asked;
        let wanted = version_of(body)?;
        let current = self.load(project, id).await?;
        let revision = match wanted {
            Some(version) => self.kept_revision(asked, version).await?,
            None => self.previous_revision(asked, current.version).await?,
        };
        let content = serde_json::to_vec(&revision.belt.spec).context("serializing a revision")?;
        let (_, spec) = self.accepted_spec(caller, project, &content).await?;
        let new = NewSpec {
            spec,
            by: caller.person(),
            at: now_millis(),
            rollback_of: Some(revision.belt.version),
        };
        self.write_spec(asked, expect, commit, new).await
    }

    /// The newest kept revision older than `current`.
    async fn previous_revision(
        &self,
        asked: Asked<'_>,
        current: i64,
    ) -> Result<Revision, BeltError> {
        let page = self.store.revisions(asked.project, asked.id, 0, 2).await?;
        let older = page.items.iter().find(|r| r.version < current);
        match older {
            Some(summary) => self.kept_revision(asked, summary.version).await,
            None => Err(BeltError::NoOlderRevision {
                id: asked.id,
                current,
            }),
        }
    }
}

/// The `version` of a rollback body: a positive integer, or a string of one (the document writes
/// versions as strings); an empty body or none named means "the previous one".
fn version_of(body: &[u8]) -> Result<Option<i64>, Invalid> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let map = parse_body(body)?;
    let value = match map.get("version") {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let parsed = match value {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match parsed {
        Some(version) if version >= 1 => Ok(Some(version)),
        _ => Err(Invalid::field_message(
            "version",
            format!("Parameter 'version' must be a positive integer but is '{value}'."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::version_of;

    #[test]
    fn a_rollback_body_names_a_version_or_none() {
        assert_eq!(version_of(b"").unwrap(), None);
        assert_eq!(version_of(b" \n").unwrap(), None);
        assert_eq!(version_of(b"{}").unwrap(), None);
        assert_eq!(version_of(br#"{"version": 3}"#).unwrap(), Some(3));
        assert_eq!(version_of(br#"{"version": "4"}"#).unwrap(), Some(4));
        for bad in [
            r#"{"version": 0}"#,
            r#"{"version": -1}"#,
            r#"{"version": "x"}"#,
            r#"{"version": 1.5}"#,
            r#"{"version": []}"#,
        ] {
            let err = version_of(bad.as_bytes()).unwrap_err().to_string();
            assert!(
                err.starts_with("Parameter 'version' must be a positive integer"),
                "{bad}: {err}"
            );
        }
        assert!(version_of(b"[1]").is_err(), "not an object");
    }
}
