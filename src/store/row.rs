//! The row shape both databases share, and its way back to a `Belt`.

use anyhow::Context;

use crate::domain::belt::from_epoch_millis;
use crate::domain::{Belt, BeltId, Deployed, DesiredState, Person, ProjectName, Wish};

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
    pub desired_state: String,
    pub deployed_version: Option<i64>,
    pub deployed_spec: Option<String>,
    pub generation: i64,
}

impl TryFrom<BeltRow> for Belt {
    type Error = anyhow::Error;

    fn try_from(row: BeltRow) -> Result<Self, Self::Error> {
        let deployed = match (row.deployed_version, &row.deployed_spec) {
            (Some(version), Some(spec)) => Some(Deployed {
                version,
                spec: serde_json::from_str(spec).with_context(|| {
                    format!("stored deployed spec of belt {} does not parse", row.id)
                })?,
            }),
            _ => None,
        };
        let wish = Wish {
            desired: DesiredState::parse(&row.desired_state)
                .with_context(|| format!("stored desired state of belt {} is unknown", row.id))?,
            deployed,
            generation: row.generation,
        };
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
            wish,
        })
    }
}

pub fn spec_json(spec: &crate::domain::BeltSpec) -> Result<String, anyhow::Error> {
    serde_json::to_string(spec).context("serializing a belt spec")
}

/// `(id, project, version, desired_state, generation, deployed_version)`: a belt's wish as the
/// reconciler's resync reads it, without spec or document.
pub type SummaryRow = (i64, String, i64, String, i64, Option<i64>);

pub fn summary(
    (id, project, version, desired, generation, deployed_version): SummaryRow,
) -> Result<crate::store::WishSummary, anyhow::Error> {
    Ok(crate::store::WishSummary {
        id: BeltId::new(id).context("stored belt id is not positive")?,
        project: ProjectName::parse(&project)
            .map_err(|_| anyhow::anyhow!("stored project name is invalid"))?,
        version,
        desired: DesiredState::parse(&desired)
            .with_context(|| format!("stored desired state of belt {id} is unknown"))?,
        generation,
        deployed_version,
    })
}
