//! A belt's consumer lag over time (docs/api.md#lag-over-time): the samples the lag controller
//! keeps at every measurement, and the points the API and the console show. Records per second are
//! the growth of the group's committed offsets between two samples: they come from the same
//! measurement as the lag, so the two always agree.

use time::OffsetDateTime;

use super::offsets::{total_lag, PartitionPosition};

/// How long samples are kept: a day at the lag interval (2,880 at the default 30 s).
pub const RETENTION: time::Duration = time::Duration::hours(24);

/// One measurement of a belt's consumer group over all partitions of its input topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagSample {
    pub at: OffsetDateTime,
    /// Records waiting: the sum over partitions of log end − committed (or − log start).
    pub total_lag: i64,
    /// The sum of the group's committed offsets (a partition without one counts its log start):
    /// how far the belt has come, which only a reset of the offsets moves back.
    pub committed: i64,
}

impl LagSample {
    pub fn measured(at: OffsetDateTime, positions: &[PartitionPosition]) -> LagSample {
        let committed = positions
            .iter()
            .map(|p| p.committed.unwrap_or(p.log_start))
            .sum();
        LagSample {
            at,
            total_lag: total_lag(positions),
            committed,
        }
    }
}

/// A point of the series as shown: the lag, and the records the belt consumed per second since
/// the sample before (`None` for the first, and after a reset moved its offsets back).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagPoint {
    pub at: OffsetDateTime,
    pub total_lag: i64,
    pub records_per_second: Option<f64>,
}

/// The points of `samples` (oldest first).
pub fn points(samples: &[LagSample]) -> Vec<LagPoint> {
    let mut before: Option<&LagSample> = None;
    samples
        .iter()
        .map(|sample| {
            let rate = before.and_then(|b| rate_between(b, sample));
            before = Some(sample);
            LagPoint {
                at: sample.at,
                total_lag: sample.total_lag,
                records_per_second: rate,
            }
        })
        .collect()
}

/// At most `at_most` of `samples` (oldest first; samples or the points made of them), evenly
/// spread over them: the last of each of `at_most` equal runs, so the newest is always kept and a
/// sparkline's last value is the one last measured.
pub fn downsample<T: Copy>(samples: &[T], at_most: usize) -> Vec<T> {
    let count = samples.len();
    if count <= at_most {
        return samples.to_vec();
    }
    (1..=at_most)
        .map(|run| samples[run * count / at_most - 1])
        .collect()
}

fn rate_between(before: &LagSample, after: &LagSample) -> Option<f64> {
    let seconds = (after.at - before.at).as_seconds_f64();
    let consumed = after.committed - before.committed;
    (seconds > 0.0 && consumed >= 0).then(|| consumed as f64 / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(committed: Option<i64>, log_start: i64, log_end: i64) -> PartitionPosition {
        PartitionPosition {
            topic: "grnry_data_in_a".into(),
            partition: 0,
            committed,
            log_start,
            log_end,
        }
    }

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(1_800_000_000 + seconds)
    }

    #[test]
    fn a_sample_sums_the_partitions_and_counts_a_partition_without_a_commit_from_its_start() {
        let sample = LagSample::measured(at(0), &[position(Some(10), 0, 15), position(None, 4, 9)]);
        assert_eq!(sample.total_lag, 5 + 5);
        assert_eq!(sample.committed, 10 + 4);
    }

    #[test]
    fn the_rate_is_the_committed_growth_per_second_and_a_reset_has_none() {
        let samples = [
            LagSample {
                at: at(0),
                total_lag: 100,
                committed: 0,
            },
            LagSample {
                at: at(10),
                total_lag: 60,
                committed: 200,
            },
            LagSample {
                at: at(20),
                total_lag: 60,
                committed: 200,
            },
            LagSample {
                at: at(30),
                total_lag: 300,
                committed: 50,
            },
        ];
        let shown: Vec<_> = points(&samples)
            .iter()
            .map(|p| (p.total_lag, p.records_per_second))
            .collect();
        assert_eq!(
            shown,
            [(100, None), (60, Some(20.0)), (60, Some(0.0)), (300, None)]
        );
    }

    #[test]
    fn downsampling_keeps_at_most_the_asked_number_evenly_spread_and_the_newest() {
        let samples: Vec<LagSample> = (0..120)
            .map(|i| LagSample {
                at: at(i * 30),
                total_lag: i,
                committed: 0,
            })
            .collect();
        let lags = |kept: &[LagSample]| kept.iter().map(|s| s.total_lag).collect::<Vec<_>>();
        let kept = downsample(&samples, 30);
        assert_eq!(kept.len(), 30);
        assert_eq!(
            lags(&kept[..3]),
            [3, 7, 11],
            "every fourth, the last of each run"
        );
        assert_eq!(kept.last(), samples.last(), "the newest is kept");
        assert!(kept.windows(2).all(|w| w[0].at < w[1].at), "oldest first");
        let odd = downsample(&samples[..7], 3);
        assert_eq!(lags(&odd), [1, 3, 6]);
        assert_eq!(
            downsample(&samples[..5], 30),
            samples[..5],
            "fewer: all of them"
        );
        assert!(downsample::<LagSample>(&[], 30).is_empty());
    }
}
