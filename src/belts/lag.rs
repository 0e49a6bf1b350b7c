//! A belt's lag over time (docs/api.md#lag-over-time): the samples the lag controller kept, as
//! points with the records consumed per second between them.

use std::collections::HashMap;
use std::time::Duration;

use time::OffsetDateTime;

use super::{Access, Asked, BeltError, Belts, Caller};
use crate::domain::lag_series::{downsample, points, LagPoint};
use crate::domain::{Belt, BeltId, Invalid, ProjectName};

/// How far back a series goes when the caller does not say.
pub const DEFAULT_WINDOW: time::Duration = time::Duration::hours(1);

/// The most samples of one belt a sparkline of the list draws (120 are kept an hour at the
/// default 30 s interval): enough for its shape, few enough for a page of 250.
pub const SPARKLINE_POINTS: usize = 30;

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

    /// The last hour's lag points of a page of `project`'s belts, at most [`SPARKLINE_POINTS`]
    /// each, read in one query, keyed by belt (a belt without samples has no entry); a viewer's
    /// to read. Only `project`'s belts are read: the role checked is that project's.
    ///
    /// Records per second are made from every sample before the points are thinned out, so each
    /// point kept says what the series of `GET …/lag` (and the belt page's chart) says at that
    /// time, not an average over the samples dropped around it.
    pub async fn recent_lag(
        &self,
        caller: &Caller,
        project: &ProjectName,
        belts: &[&Belt],
    ) -> Result<HashMap<BeltId, Vec<LagPoint>>, BeltError> {
        caller.require(project, Access::Read)?;
        let since = OffsetDateTime::now_utc() - DEFAULT_WINDOW;
        let series = self.store.lag_samples_of(project, belts, since).await?;
        Ok((series.into_iter())
            .map(|(id, samples)| (id, downsample(&points(&samples), SPARKLINE_POINTS)))
            .collect())
    }

    /// How often the lag controller measures a running belt (`BELT_KAFKA_LAG_INTERVAL_MS`):
    /// nothing new can be drawn sooner, so the console asks for new sparklines no more often.
    pub fn lag_interval(&self) -> Duration {
        self.lag_interval
    }
}
