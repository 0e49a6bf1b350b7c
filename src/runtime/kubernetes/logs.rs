//! Pod logs through the API server's log endpoint (docs/api.md#logs): `tailLines`, `sinceTime`,
//! `previous` and `timestamps=true` for a read; `follow=true` for a stream, one per pod, with a
//! pod of the Deployment that appears later joining it, and a restarted container's stream
//! opened again from the last line seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::LogParams;
use kube::Api;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::errors::{runtime_error, within};
use crate::domain::log_lines::stamp_of;
use crate::runtime::{LogLine, LogQuery, LogStream, RuntimeError};

/// How often a follow looks for new pods and for pods whose stream ended.
pub const FOLLOW_TICK: Duration = Duration::from_secs(1);

/// The pods to read: (their names, the belt's container).
pub struct Target {
    pub api: Api<Pod>,
    pub container: String,
    pub call_timeout: Duration,
}

/// `sinceTime` has whole seconds: the second the instant falls in, the exact filter is ours.
fn since_param(since: OffsetDateTime) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_second(since.unix_timestamp()).ok()
}

impl Target {
    fn params(&self, query: &LogQuery, follow: bool) -> LogParams {
        LogParams {
            // Named, so that an injected sidecar does not make the API ask which container.
            container: Some(self.container.clone()),
            follow,
            tail_lines: (query.lines != u32::MAX).then_some(query.lines.into()),
            since_time: query.since.and_then(since_param),
            previous: query.previous,
            timestamps: true,
            ..LogParams::default()
        }
    }

    /// The lines `query` asks for, of every pod in `names`.
    pub async fn select(
        &self,
        names: Vec<String>,
        query: &LogQuery,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        let params = self.params(query, false);
        let answers = join_all(
            names
                .iter()
                .map(|name| within(self.call_timeout, self.api.logs(name, &params))),
        )
        .await;
        let mut logs = BTreeMap::new();
        for (name, answer) in names.into_iter().zip(answers) {
            let lines = match answer {
                Ok(text) => text
                    .lines()
                    .filter(|line| query.admits(line))
                    .map(str::to_string)
                    .collect(),
                // 400: the container has not started (pulling, crash-loop back-off) or has no
                // previous run; 404: the pod went away since the reflector saw it. Neither has
                // lines to show.
                Err(kube::Error::Api(status)) if matches!(status.code, 400 | 404) => Vec::new(),
                Err(err) => return Err(runtime_error(err)),
            };
            logs.insert(name, lines);
        }
        Ok(logs)
    }
}

type Sender = mpsc::Sender<Result<LogLine, RuntimeError>>;

/// Follows every pod `pods()` names, until the stream is dropped.
pub fn follow(
    target: Target,
    pods: Box<dyn Fn() -> Vec<String> + Send>,
    query: LogQuery,
) -> LogStream {
    let (sender, receiver) = mpsc::channel(256);
    tokio::spawn(follow_pods(Arc::new(target), pods, query, sender));
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
    .boxed()
}

async fn follow_pods(
    target: Arc<Target>,
    pods: Box<dyn Fn() -> Vec<String> + Send>,
    query: LogQuery,
    sender: Sender,
) {
    let began = OffsetDateTime::now_utc();
    // Pod → the time of the last line sent; pods being followed are in `streams`.
    let mut seen: HashMap<String, Option<OffsetDateTime>> = HashMap::new();
    let mut streams = JoinSet::new();
    let mut following = std::collections::HashSet::new();
    // The pods of the first tick that has any get the caller's query; later ones are new.
    let mut initial = true;
    loop {
        while let Some(Ok((pod, last))) = streams.try_join_next() {
            following.remove(&pod);
            seen.insert(pod, last);
        }
        for pod in pods() {
            if following.contains(&pod) {
                continue;
            }
            let asked = match seen.get(&pod) {
                // Known before: again from the last line sent (a restarted container).
                Some(last) => LogQuery {
                    lines: u32::MAX,
                    since: Some(last.unwrap_or(began)),
                    previous: false,
                },
                // Present when the follow began: what the caller asked for.
                None if initial => query.clone(),
                // A new pod: all of it.
                None => LogQuery::last(u32::MAX),
            };
            let after = seen.get(&pod).copied().flatten();
            following.insert(pod.clone());
            streams.spawn(follow_pod(
                target.clone(),
                pod,
                asked,
                after,
                sender.clone(),
            ));
        }
        initial = initial && following.is_empty();
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_TICK) => {}
            _ = sender.closed() => {
                streams.abort_all();
                return;
            }
        }
    }
}

/// Streams one pod's log until the API ends it; answers the pod and the time of its last line.
async fn follow_pod(
    target: Arc<Target>,
    pod: String,
    query: LogQuery,
    mut after: Option<OffsetDateTime>,
    sender: Sender,
) -> (String, Option<OffsetDateTime>) {
    let params = target.params(&query, true);
    let opened = within(target.call_timeout, target.api.log_stream(&pod, &params)).await;
    let reader = match opened {
        Ok(reader) => reader,
        Err(err) => {
            // Not started yet, gone, or the API is busy: the next tick tries again.
            tracing::debug!(%pod, %err, "could not follow a pod's log");
            return (pod, after);
        }
    };
    let mut lines = reader.lines();
    while let Some(Ok(line)) = lines.next().await {
        let at = stamp_of(&line);
        if at.is_some_and(|at| after.is_some_and(|after| at <= after)) || !query.admits(&line) {
            continue;
        }
        after = at.or(after);
        if sender.send(Ok(LogLine::parse(&pod, &line))).await.is_err() {
            break;
        }
    }
    (pod, after)
}
