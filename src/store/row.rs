//! The row shape both databases share, and its way back to a `Belt`.

use anyhow::Context;

use crate::domain::belt::from_epoch_millis;
use crate::domain::{Belt, BeltId, Person, ProjectName};

/// Columns in the order every `SELECT`/`RETURNING` of the stores lists them (a macro, so that
/// `concat!` builds each statement at compile time).
macro_rules! belt_columns {
    () => {
        "id, project, version, spec, created_by_name, created_by_email, created_at_ms, \
         modified_by_name, modified_by_email, modified_at_ms"
    };
}
pub(crate) use belt_columns;

#[derive(Debug, sqlx::FromRow)]
pub struct BeltRow {
    pub id: i64,
    pub project: String,
    pub version: i64,
    pub spec: String,
    pub created_by_name: String,
    pub created_by_email: String,
    pub created_at_ms: i64,
    pub modified_by_name: String,
    pub modified_by_email: String,
    pub modified_at_ms: i64,
}

impl TryFrom<BeltRow> for Belt {
    type Error = anyhow::Error;

    fn try_from(row: BeltRow) -> Result<Self, Self::Error> {
        Ok(Belt {
            id: BeltId::new(row.id).context("stored belt id is not positive")?,
            project: ProjectName::parse(&row.project)
                .map_err(|_| anyhow::anyhow!("stored project name is invalid"))?,
            version: row.version,
            spec: serde_json::from_str(&row.spec)
                .with_context(|| format!("stored spec of belt {} does not parse", row.id))?,
            created_by: Person {
                name: row.created_by_name,
                email: row.created_by_email,
            },
            created_at: from_epoch_millis(row.created_at_ms),
            modified_by: Person {
                name: row.modified_by_name,
                email: row.modified_by_email,
            },
            modified_at: from_epoch_millis(row.modified_at_ms),
        })
    }
}

pub fn spec_json(spec: &crate::domain::BeltSpec) -> Result<String, anyhow::Error> {
    serde_json::to_string(spec).context("serializing a belt spec")
}
