//! The log lines of every replica (docs/api.md#logs): the last ones, those since an instant, a
//! replica's previous run, or a stream that follows them. A stopped belt has none, and the
//! runtime is not asked.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::broadcast;
use tokio::time::{Instant, Interval};

use super::streams::{bounded, BoundedStream};
use super::{Access, Asked, BeltError, Belts};
use crate::domain::log_lines::{LogLine, LogQuery};
use crate::domain::{BeltId, DesiredState, Invalid, ProjectName};
use crate::runtime::{LogStream, Runtime, RuntimeError};
use crate::store::BeltStore;

/// The most lines per replica a caller may ask for, and what it gets without asking.
pub const MAX_LOG_LINES: u32 = 500;

/// How often a follow checks whether the belt still wants to run, when the runtime does not
/// announce its phase changes.
const STILL_WANTED: Duration = Duration::from_secs(1);
/// How often it checks anyway when the runtime does announce them: a missed announcement
/// delays the end of a follow by at most this, and a quiet follow wakes this rarely.
const STILL_WANTED_ANNOUNCED: Duration = Duration::from_secs(30);
/// Once the belt is stopped and no replica remains, the follow ends after this long without a
/// line: the last lines of stopping replicas still reach the caller.
const LAST_WORDS: Duration = Duration::from_millis(1500);

/// Followed lines; the stream ends when the belt is stopped or deleted and no replica remains,
/// or when the caller's token expires (docs/api.md#streams).
pub type FollowedLogs = BoundedStream<Result<LogLine, BeltError>>;

impl Belts {
    /// `query` is handed in as parsed, refusal included, so the role check answers first.
    /// `None`: the belt is stopped. Without `since` and `previous` the runtime is asked exactly
    /// as it always was.
    pub async fn logs(
        &self,
        asked: Asked<'_>,
        query: Result<LogQuery, Invalid>,
    ) -> Result<Option<BTreeMap<String, Vec<String>>>, BeltError> {
        let query = asked.permit(Access::Write, query)?;
        let belt = self.load(asked.project, asked.id).await?;
        if belt.wish.desired == DesiredState::Stopped {
            return Ok(None);
        }
        if query == LogQuery::last(query.lines) {
            return Ok(Some(self.runtime.logs(belt.id, query.lines).await?));
        }
        Ok(Some(self.runtime.logs_matching(belt.id, &query).await?))
    }

    /// The lines `query` selects, then new ones as replicas write them; `previous` is ignored.
    pub async fn follow_logs(
        &self,
        asked: Asked<'_>,
        query: Result<LogQuery, Invalid>,
    ) -> Result<FollowedLogs, BeltError> {
        let query = asked.permit(Access::Write, query)?;
        let belt = self.load(asked.project, asked.id).await?;
        let slot = self.streams.take(asked.caller)?;
        // A previous run has ended: there is nothing of it to follow.
        let query = LogQuery {
            previous: false,
            ..query
        };
        // Subscribed before the first check, so no phase change after it passes unseen.
        let changes = self.runtime.phase_events();
        let every = match changes {
            Some(_) => STILL_WANTED_ANNOUNCED,
            None => STILL_WANTED,
        };
        let lines = self.runtime.clone().follow_logs(belt.id, query);
        let follow = Follow {
            lines,
            belt: Wanted {
                store: self.store.clone(),
                runtime: self.runtime.clone(),
                project: asked.project.clone(),
                id: belt.id,
            },
            changes,
            check: tokio::time::interval(every),
            ending: None,
        };
        let lines = futures::stream::unfold(follow, Follow::next);
        Ok(bounded(
            lines,
            asked.caller,
            slot,
            self.watch.closing.clone(),
        ))
    }
}

/// What tells whether a followed belt is gone.
struct Wanted {
    store: Arc<dyn BeltStore>,
    runtime: Arc<dyn Runtime>,
    project: ProjectName,
    id: BeltId,
}

impl Wanted {
    /// Stopped or deleted, and no replica left. The store is read only once the runtime runs
    /// nothing, so a running belt's follow costs no query.
    async fn gone(&self) -> bool {
        if self.runtime.runs_replicas(self.id) {
            return false;
        }
        match self.store.get(&self.project, self.id).await {
            // A deleting belt never runs again: its row goes once the replicas are gone.
            Ok(Some(belt)) => belt.wish.desired != DesiredState::Running,
            Ok(None) => true,
            // Unknown: keep following; the next check asks again.
            Err(_) => false,
        }
    }
}

struct Follow {
    lines: LogStream,
    belt: Wanted,
    /// The runtime's phase changes: the belt is checked when one names it.
    changes: Option<broadcast::Receiver<BeltId>>,
    check: Interval,
    /// Set once the belt is gone: the stream ends when no line came until then.
    ending: Option<Instant>,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<LogLine, BeltError>, Follow)> {
        loop {
            let deadline = self.ending;
            tokio::select! {
                line = self.lines.next() => {
                    let line = line?.map_err(|err: RuntimeError| BeltError::from(err));
                    if let Some(ending) = self.ending.as_mut() {
                        *ending = Instant::now() + LAST_WORDS;
                    }
                    return Some((line, self));
                }
                () = time_to_look(&mut self.check, &mut self.changes, self.belt.id), if deadline.is_none() => {
                    if self.belt.gone().await {
                        self.ending = Some(Instant::now() + LAST_WORDS);
                    }
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    return None;
                }
            }
        }
    }
}

/// Resolves when the follow should look whether its belt is gone: at the next check, or when
/// the runtime announces a phase change of the belt.
async fn time_to_look(
    check: &mut Interval,
    changes: &mut Option<broadcast::Receiver<BeltId>>,
    id: BeltId,
) {
    tokio::select! {
        _ = check.tick() => {}
        () = change_of(changes, id) => {}
    }
}

/// Resolves when the runtime announces a phase change of `id`, or lost count of them; never
/// when it announces nothing.
async fn change_of(changes: &mut Option<broadcast::Receiver<BeltId>>, id: BeltId) {
    let Some(receiver) = changes.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(changed) if changed == id => return,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => {
                *changes = None;
                return std::future::pending().await;
            }
        }
    }
}
