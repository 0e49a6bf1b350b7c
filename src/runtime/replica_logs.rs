//! Replicas' logs: the last lines, narrowed by a query, and followed as they are written. Every
//! [`super::Runtime`] is one; a use case that only reads logs could take this alone.

use std::collections::BTreeMap;

use async_trait::async_trait;
use futures::StreamExt;

use super::{LogLine, LogQuery, LogStream, RuntimeError};
use crate::domain::BeltId;

#[async_trait]
pub trait ReplicaLogs: Send + Sync + 'static {
    /// The last `lines` lines of each replica, timestamp-prefixed, keyed by pod/process name.
    async fn logs(
        &self,
        id: BeltId,
        lines: u32,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError>;

    /// As `logs`, narrowed by `query`: `since` keeps the lines at or after it, `previous` reads
    /// each replica's previous run instead (none: an empty list). A runtime that cannot tell runs
    /// apart answers no previous lines.
    async fn logs_matching(
        &self,
        id: BeltId,
        query: &LogQuery,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        let mut logs = self.logs(id, query.lines).await?;
        for lines in logs.values_mut() {
            if query.previous {
                lines.clear();
            }
            lines.retain(|line| query.admits(line));
        }
        Ok(logs)
    }

    /// First the lines `logs_matching` would give (without `previous`), then every new line as
    /// replicas write it, across restarts and new replicas, for as long as the stream is held.
    /// The stream never decides that the belt stopped: its caller does. A runtime that cannot
    /// follow gives its current lines and ends.
    fn follow_logs(self: std::sync::Arc<Self>, id: BeltId, query: LogQuery) -> LogStream {
        let current = async move {
            match self.logs_matching(id, &query).await {
                Ok(logs) => logs
                    .into_iter()
                    .flat_map(|(pod, lines)| {
                        lines.into_iter().map(move |l| Ok(LogLine::parse(&pod, &l)))
                    })
                    .collect(),
                Err(err) => vec![Err(err)],
            }
        };
        futures::stream::once(current)
            .flat_map(futures::stream::iter)
            .boxed()
    }
}
