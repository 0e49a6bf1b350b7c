//! The event log and the watch streams (docs/api.md#history, docs/api.md#watch).

use clap::Args;

use crate::domain::EventRetention;

#[derive(Debug, Clone, Args)]
pub struct EventsConfig {
    /// Events kept per project, its belts together; older ones are pruned (but see
    /// `BELT_EVENT_FLOOR_PER_BELT`), and a watch that asks to resume before them is told to resync
    /// (410). Another project's activity never prunes them.
    #[arg(
        long,
        env = "BELT_EVENT_RETENTION_PER_PROJECT",
        default_value_t = 100_000
    )]
    pub event_retention_per_project: u64,

    /// The newest events of each belt, kept even beyond its project's retention: a busy belt does
    /// not erase a quiet one's history.
    #[arg(long, env = "BELT_EVENT_FLOOR_PER_BELT", default_value_t = 100)]
    pub event_floor_per_belt: u64,

    /// How often the event log is pruned to its retention.
    #[arg(long, env = "BELT_EVENT_PRUNE_INTERVAL_MS", default_value_t = 60_000)]
    pub event_prune_interval_ms: u64,

    /// Events a watch stream holds for its reader before it waits for the reader to take some.
    #[arg(long, env = "BELT_WATCH_BUFFER", default_value_t = 256)]
    pub watch_buffer: usize,

    /// How long a watch waits for a reader whose buffer is full before it ends the stream with a
    /// `resync` line: a reader that far behind must re-list.
    #[arg(long, env = "BELT_WATCH_STALL_MS", default_value_t = 30_000)]
    pub watch_stall_ms: u64,

    /// Streams (watches and log follows) one caller, the token's issuer and subject, may hold
    /// open at once; one more answers 429 with `Retry-After`.
    #[arg(long, env = "BELT_STREAMS_PER_CALLER", default_value_t = 16)]
    pub streams_per_caller: usize,

    /// Streams all callers together may hold open on this server; one more answers 429.
    #[arg(long, env = "BELT_STREAMS_PER_SERVER", default_value_t = 1024)]
    pub streams_per_server: usize,
}

impl EventsConfig {
    pub fn retention(&self) -> EventRetention {
        EventRetention::new(self.event_retention_per_project, self.event_floor_per_belt)
    }
}
