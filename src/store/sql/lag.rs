//! A belt's lag over time (docs/api.md#lag-over-time): the lag controller's samples, one row per
//! measurement, found by the belt's project, id and creation time (a belt that takes a deleted
//! belt's id starts a series of its own), and pruned by age.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::domain::belt::{epoch_millis, from_epoch_millis};
use crate::domain::lag_series::LagSample;
use crate::domain::{Belt, BeltId, ProjectName};
use crate::store::{classify, LagLog, StoreError};

const RECORD: &str = "INSERT INTO lag_samples \
     (project, belt_id, belt_created_ms, at_ms, total_lag, committed) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING";

const SERIES: &str = "SELECT at_ms, total_lag, committed FROM lag_samples \
     WHERE project = $1 AND belt_id = $2 AND belt_created_ms = $3 AND at_ms >= $4 \
     ORDER BY at_ms";

/// The samples of several belts of a project: `$1` the project, `$2` the oldest time, then one
/// placeholder per belt id (the primary key's prefix); the rows of a deleted belt whose id was
/// taken again are told apart by their creation time afterwards.
fn several(belts: usize) -> String {
    let ids: Vec<String> = (0..belts).map(|i| format!("${}", i + 3)).collect();
    format!(
        "SELECT belt_id, belt_created_ms, at_ms, total_lag, committed FROM lag_samples \
         WHERE project = $1 AND at_ms >= $2 AND belt_id IN ({}) ORDER BY belt_id, at_ms",
        ids.join(", ")
    )
}

const PRUNE: &str = "DELETE FROM lag_samples WHERE at_ms < $1";

sql_impl! {
#[async_trait::async_trait]
impl LagLog {
    async fn record_lag(&self, belt: &Belt, sample: LagSample) -> Result<(), StoreError> {
        sqlx::query(RECORD)
            .bind(belt.project.as_str())
            .bind(belt.id.get())
            .bind(epoch_millis(belt.created_at))
            .bind(epoch_millis(sample.at))
            .bind(sample.total_lag)
            .bind(sample.committed)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn lag_samples(
        &self,
        belt: &Belt,
        since: OffsetDateTime,
    ) -> Result<Vec<LagSample>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(SERIES)
            .bind(belt.project.as_str())
            .bind(belt.id.get())
            .bind(epoch_millis(belt.created_at))
            .bind(epoch_millis(since))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
        Ok(rows
            .into_iter()
            .map(|(at, total_lag, committed)| LagSample {
                at: from_epoch_millis(at),
                total_lag,
                committed,
            })
            .collect())
    }

    async fn lag_samples_of(
        &self,
        project: &ProjectName,
        belts: &[&Belt],
        since: OffsetDateTime,
    ) -> Result<HashMap<BeltId, Vec<LagSample>>, StoreError> {
        let created: HashMap<i64, (BeltId, i64)> = (belts.iter())
            .filter(|belt| belt.project == *project)
            .map(|belt| (belt.id.get(), (belt.id, epoch_millis(belt.created_at))))
            .collect();
        if created.is_empty() {
            return Ok(HashMap::new());
        }
        let select = several(created.len());
        let mut query = sqlx::query_as(&select)
            .bind(project.as_str())
            .bind(epoch_millis(since));
        for id in created.keys() {
            query = query.bind(*id);
        }
        let rows: Vec<(i64, i64, i64, i64, i64)> =
            query.fetch_all(&self.pool).await.map_err(classify)?;
        let mut series: HashMap<BeltId, Vec<LagSample>> = HashMap::new();
        for (id, created_ms, at, total_lag, committed) in rows {
            let Some(&(belt, _)) = created.get(&id).filter(|(_, ms)| *ms == created_ms) else {
                continue;
            };
            series.entry(belt).or_default().push(LagSample {
                at: from_epoch_millis(at),
                total_lag,
                committed,
            });
        }
        Ok(series)
    }

    async fn prune_lag(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(PRUNE)
            .bind(epoch_millis(before))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(DB::rows_affected(&done))
    }
}
}
