//! The rows a belt's stored versions are read from (docs/api.md#revisions-and-rollback).

use super::row::BeltRow;
use crate::domain::belt::from_epoch_millis;
use crate::domain::revision::{Revision, RevisionSummary};
use crate::domain::{Belt, Person};

#[derive(Debug, sqlx::FromRow)]
pub struct RevisionSummaryRow {
    pub version: i64,
    pub modified_by_name: String,
    pub modified_by_email: String,
    pub modified_at_ms: i64,
    pub rollback_of: Option<i64>,
}

impl From<RevisionSummaryRow> for RevisionSummary {
    fn from(row: RevisionSummaryRow) -> Self {
        RevisionSummary {
            version: row.version,
            modified_by: Person {
                name: row.modified_by_name,
                email: row.modified_by_email,
            },
            modified_at: from_epoch_millis(row.modified_at_ms),
            rollback_of: row.rollback_of,
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct RevisionRow {
    pub belt_id: i64,
    pub project: String,
    pub version: i64,
    pub spec: String,
    pub created_by_name: String,
    pub created_by_email: String,
    pub created_at_ms: i64,
    pub modified_by_name: String,
    pub modified_by_email: String,
    pub modified_at_ms: i64,
    pub rollback_of: Option<i64>,
}

impl TryFrom<RevisionRow> for Revision {
    type Error = anyhow::Error;

    fn try_from(row: RevisionRow) -> Result<Self, Self::Error> {
        let rollback_of = row.rollback_of;
        // A revision reads like the belt row it was copied from, with no wish of its own.
        let belt = Belt::try_from(BeltRow {
            id: row.belt_id,
            project: row.project,
            version: row.version,
            spec: row.spec,
            created_by_name: row.created_by_name,
            created_by_email: row.created_by_email,
            created_at_ms: row.created_at_ms,
            modified_by_name: row.modified_by_name,
            modified_by_email: row.modified_by_email,
            modified_at_ms: row.modified_at_ms,
            desired_state: "STOPPED".into(),
            deployed_version: None,
            deployed_spec: None,
            generation: 0,
        })?;
        Ok(Revision { belt, rollback_of })
    }
}
