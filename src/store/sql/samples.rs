//! The samples saved with a belt (docs/api.md#saved-samples): one row per belt and name, written
//! under the belt's row lock so that the domain's limit holds however many save at once, and
//! removed with the belt by the cascading foreign key of `belt_samples`.

use super::writes::finish;
use crate::domain::belt::{epoch_millis, from_epoch_millis};
use crate::domain::samples::{Sample, SampleEvents, SampleName};
use crate::domain::{BeltId, Person, ProjectName};
use crate::store::{classify, AdmitSample, Commit, SampleSaved, SavedSamples, StoreError};

/// The belt a save is kept with, its row locked until the commit (with [`super::Dialect::LOCK_ROW`]).
const BELT: &str = "SELECT id FROM belts WHERE project = $1 AND id = $2 \
     AND desired_state <> 'DELETING'";

const KEPT_NAMES: &str = "SELECT name FROM belt_samples WHERE belt_id = $1";

const SAVE: &str = "INSERT INTO belt_samples \
     (belt_id, name, project, events, saved_by_name, saved_by_email, saved_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (belt_id, name) DO UPDATE SET \
     events = excluded.events, saved_by_name = excluded.saved_by_name, \
     saved_by_email = excluded.saved_by_email, saved_at_ms = excluded.saved_at_ms";

const COLUMNS: &str = "SELECT name, events, saved_by_name, saved_by_email, saved_at_ms \
     FROM belt_samples WHERE project = $1 AND belt_id = $2";

const DELETE: &str = "DELETE FROM belt_samples WHERE project = $1 AND belt_id = $2 AND name = $3";

#[derive(Debug, sqlx::FromRow)]
pub struct SampleRow {
    name: String,
    events: String,
    saved_by_name: String,
    saved_by_email: String,
    saved_at_ms: i64,
}

/// A stored row back to a sample; one that does not read is a bug or a corrupt store.
fn sample_of(row: SampleRow) -> Result<Sample, StoreError> {
    let corrupt = |why: String| anyhow::anyhow!("stored sample '{}': {why}", row.name);
    let name = SampleName::parse(&row.name, "name").map_err(|i| corrupt(i.message))?;
    let events = SampleEvents::from_json(&row.events).map_err(corrupt)?;
    Ok(Sample {
        name,
        events,
        saved_by: Person {
            name: row.saved_by_name,
            email: row.saved_by_email,
        },
        saved_at: from_epoch_millis(row.saved_at_ms),
    })
}

sql_impl! {
#[async_trait::async_trait]
impl SavedSamples {
    async fn samples(&self, project: &ProjectName, id: BeltId) -> Result<Vec<Sample>, StoreError> {
        let rows: Vec<SampleRow> = sqlx::query_as(COLUMNS)
            .bind(project.as_str())
            .bind(id.get())
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        let mut samples = rows.into_iter().map(sample_of).collect::<Result<Vec<_>, _>>()?;
        // Sorted here, not by `ORDER BY`: the databases' collations order text differently.
        samples.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(samples)
    }

    async fn sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        name: &SampleName,
    ) -> Result<Option<Sample>, StoreError> {
        let row: Option<SampleRow> = sqlx::query_as(&format!("{COLUMNS} AND name = $3"))
            .bind(project.as_str())
            .bind(id.get())
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
        row.map(sample_of).transpose()
    }

    async fn save_sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        sample: &Sample,
        admit: AdmitSample,
        commit: Commit,
    ) -> Result<SampleSaved, StoreError> {
        let mut tx = (self.pool).begin_with(DB::BEGIN_WRITE).await.map_err(classify)?;
        let belt: Option<(i64,)> = sqlx::query_as(&format!("{BELT}{}", DB::LOCK_ROW))
            .bind(project.as_str())
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify)?;
        if belt.is_none() {
            return Ok(SampleSaved::NotFound);
        }
        let kept: Vec<(String,)> = sqlx::query_as(KEPT_NAMES)
            .bind(id.get())
            .fetch_all(&mut *tx)
            .await
            .map_err(classify)?;
        let kept: Vec<SampleName> = (kept.into_iter())
            .map(|(name,)| SampleName::parse(&name, "name"))
            .collect::<Result<_, _>>()
            .map_err(|invalid| anyhow::anyhow!("stored sample name: {invalid}"))?;
        let saving = match admit(&kept) {
            Ok(saving) => saving,
            Err(refused) => return Ok(SampleSaved::Refused(refused)),
        };
        sqlx::query(SAVE)
            .bind(id.get())
            .bind(sample.name.as_str())
            .bind(project.as_str())
            .bind(sample.events.as_json())
            .bind(sample.saved_by.name.as_str())
            .bind(sample.saved_by.email.as_str())
            .bind(epoch_millis(sample.saved_at))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        finish(tx, commit).await?;
        Ok(SampleSaved::Saved(saving))
    }

    async fn delete_sample(
        &self,
        project: &ProjectName,
        id: BeltId,
        name: &SampleName,
        commit: Commit,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(classify)?;
        let done = sqlx::query(DELETE)
            .bind(project.as_str())
            .bind(id.get())
            .bind(name.as_str())
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
        finish(tx, commit).await?;
        Ok(DB::rows_affected(&done) > 0)
    }
}
}
