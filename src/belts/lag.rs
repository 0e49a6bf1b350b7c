//! A belt's lag over time (docs/api.md#lag-over-time): the samples the lag controller kept, as
//! points with the records consumed per second between them.

use time::OffsetDateTime;

use super::{Access, Asked, BeltError, Belts};
use crate::domain::lag_series::{points, LagPoint};
use crate::domain::Invalid;

/// How far back a series goes when the caller does not say.
pub const DEFAULT_WINDOW: time::Duration = time::Duration::hours(1);

impl Belts {
    /// The belt's points since `since` (default: the last hour), oldest first; a viewer's to
    /// read, as the belt's state is. `since` is handed in as parsed, so the role check answers
    /// first.
    pub async fn lag_series(
        &self,
        asked: Asked<'_>,
        since: Result<Option<OffsetDateTime>, Invalid>,
    ) -> Result<Vec<LagPoint>, BeltError> {
        let since = asked.permit(Access::Read, since)?;
        let belt = self.load(asked.project, asked.id).await?;
        let since = since.unwrap_or_else(|| OffsetDateTime::now_utc() - DEFAULT_WINDOW);
        let samples = self.store.lag_samples(&belt, since).await?;
        Ok(points(&samples))
    }
}
