//! The event log and the watch streams (docs/api.md#history, docs/api.md#watch).

use std::time::Duration;

use clap::Args;

use crate::belts::{StreamLimits, WatchSettings};

#[derive(Debug, Clone, Args)]
pub struct EventsConfig {
    /// Events kept, of all projects together; older ones are pruned, and a watch that asks to
    /// resume before them is told to resync (410).
    #[arg(long, env = "BELT_EVENT_RETENTION", default_value_t = 100_000)]
    pub event_retention: u64,

    /// How often the event log is pruned to `BELT_EVENT_RETENTION`.
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
    /// `closing` turns `true` when the service stops.
    pub fn watch(&self, closing: tokio::sync::watch::Receiver<bool>) -> WatchSettings {
        WatchSettings {
            buffer: self.watch_buffer.max(1),
            stall: Duration::from_millis(self.watch_stall_ms),
            closing,
        }
    }

    pub fn stream_limits(&self) -> StreamLimits {
        StreamLimits {
            per_caller: self.streams_per_caller,
            per_server: self.streams_per_server,
            ..StreamLimits::default()
        }
    }
}
