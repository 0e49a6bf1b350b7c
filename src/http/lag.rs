//! `GET …/belts/{id}/lag` (docs/api.md#lag-over-time): the belt's consumer lag over time, and the
//! records it consumed per second, from the samples the lag controller keeps for a day.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;

use super::caller::Caller;
use super::error::ApiResult;
use super::errors::ErrorBody;
use super::query::Query;
use super::scope::BeltScope;
use super::state::AppState;
use crate::domain::lag_series::LagPoint;
use crate::domain::timestamp::format_timestamp;

/// One measurement.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LagSamplePoint {
    #[schema(example = "2026-12-02T15:04:05.123Z")]
    pub time: String,
    /// Records waiting in the belt's input topics for its consumer group.
    #[schema(example = 120)]
    pub total_lag: i64,
    /// Records the group committed per second since the sample before; null for the first
    /// sample shown and after its offsets were moved back.
    #[schema(example = 41.5)]
    pub records_per_second: Option<f64>,
}

impl From<&LagPoint> for LagSamplePoint {
    fn from(point: &LagPoint) -> Self {
        LagSamplePoint {
            time: format_timestamp(point.at),
            total_lag: point.total_lag,
            records_per_second: point.records_per_second,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LagSeries {
    /// Oldest first, one per measurement (`BELT_KAFKA_LAG_INTERVAL_MS`, default 30 s) while the
    /// belt ran; none without a data plane.
    pub samples: Vec<LagSamplePoint>,
}

/// A belt's lag over time.
#[utoipa::path(
    get,
    path = "/projects/{project}/belts/{id}/lag",
    tag = "belts",
    params(
        ("project" = String, Path, description = "Project (Keycloak client)."),
        ("id" = i64, Path, description = "Belt id."),
        ("since" = Option<String>, Query, description = "Samples taken at or after this: an RFC 3339 time, or a duration before now (`30s`, `10m`, `2h`). Default: the last hour; samples are kept a day."),
    ),
    responses(
        (status = 200, description = "The belt's samples, oldest first.", body = LagSeries),
        (status = 400, description = "Bad `since`.", body = ErrorBody),
        (status = 404, description = "No such belt.", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn lag(
    State(state): State<AppState>,
    caller: Caller,
    scope: BeltScope,
    query: Query,
) -> ApiResult<Json<LagSeries>> {
    let since = query.since(OffsetDateTime::now_utc());
    let points = (state.belts)
        .lag_series(scope.asked_by(&caller), since)
        .await?;
    Ok(Json(LagSeries {
        samples: points.iter().map(LagSamplePoint::from).collect(),
    }))
}
