//! Test-invoke on Kubernetes (docs/workload-policy.md#test-invoke-pods): each invocation runs in
//! a short-lived pod of the belt's image in the belts' namespace, under a replica's restricted
//! policy, never inside belt-api's own pod (next to its service-account token and database
//! credentials). The pod and its request Secret are deleted once the answer is read, also when
//! the run failed or the request was abandoned; what a crash leaves carries its expiry in a label,
//! after which any belt-api removes it ([`PodInvoker::sweep`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{LogParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::errors::{runtime_error, within};
use super::invoke_outcome::{self, PodState};
use super::invoke_render::{self as objects, PodLimits};
use super::{guard, KubernetesRuntime};
use crate::domain::policy::WorkloadPolicy;
use crate::domain::Invalid;
use crate::invoke::{
    Invoke, InvokeError, InvokeReport, InvokeRequest, RemoteEnd, RemoteRun, Slots,
};
use crate::runtime::RuntimeError;

mod leftover;
mod sweep;
use leftover::Leftover;

/// After its deadline, how long a pod may still be around before a sweep takes it as left over.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// After the pod's deadline, how long belt-api still waits for the kubelet to end it.
const WAIT_MARGIN: Duration = Duration::from_secs(15);
/// Sweeps run with an invocation, at most this often.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// How much of the pod's log is read: the report line and nothing much more.
const LOG_CAP: i64 = 32 * 1024 * 1024;

/// How invocations are bounded (`BELT_INVOKE_*`).
#[derive(Debug, Clone)]
pub struct PodInvokeSettings {
    pub timeout: Duration,
    pub requirements_timeout: Duration,
    pub memory_bytes: u64,
    pub cpu_seconds: u64,
    /// The size of a run's work dir (its virtualenv among it).
    pub disk_bytes: u64,
    pub concurrency: usize,
    pub project_concurrency: usize,
}

pub struct PodInvoker {
    pods: Api<Pod>,
    secrets: Api<Secret>,
    call_timeout: Duration,
    /// How often the pod's status is read while it runs.
    poll: Duration,
    policy: WorkloadPolicy,
    settings: PodInvokeSettings,
    slots: Arc<Slots>,
    last_sweep: Mutex<Option<Instant>>,
}

impl KubernetesRuntime {
    /// Test-invoke in pods of this runtime's namespace, under its workload policy and call bound.
    pub fn pod_invoker(&self, settings: PodInvokeSettings) -> PodInvoker {
        PodInvoker::new(self.client.clone(), &self.namespace, settings)
            .with_policy(self.policy.clone())
            .with_call_timeout(self.call_timeout)
    }
}

fn unix_now() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map(|d| d.as_secs()).unwrap_or_default()
}

/// `grnry-belt-invoke-<id>-<8 hex>` (`grnry-belt-invoke-draft-<8 hex>` for a draft): never a
/// belt's own `grnry-belt-<id>`, and never one pod's name for two runs.
fn pod_name(request: &InvokeRequest) -> Result<String, InvokeError> {
    let mut bytes = [0u8; 4];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for a test-invoke pod's name"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "grnry-belt-invoke-{}-{hex}",
        objects::invoke_of(request)
    ))
}

/// An answer of the cluster that is not understood: refused as the runtime being unavailable
/// (503, like a registry answer not understood), never a success and never a 500 of ours.
fn not_understood(why: &str) -> InvokeError {
    tracing::warn!(
        reason = why,
        "refusing a test-invoke answer that is not understood"
    );
    InvokeError::Unavailable(why.to_string())
}

fn invoke_error(err: RuntimeError) -> InvokeError {
    match err {
        RuntimeError::Unavailable(reason) => InvokeError::Unavailable(reason),
        other => InvokeError::Failed(anyhow::Error::new(other)),
    }
}

fn kube_error(err: kube::Error) -> InvokeError {
    invoke_error(runtime_error(err))
}

impl PodInvoker {
    pub fn new(client: Client, namespace: &str, settings: PodInvokeSettings) -> PodInvoker {
        PodInvoker {
            pods: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client, namespace),
            call_timeout: super::DEFAULT_CALL_TIMEOUT,
            poll: Duration::from_millis(250),
            policy: WorkloadPolicy::default(),
            slots: Slots::new(settings.concurrency, settings.project_concurrency),
            settings,
            last_sweep: Mutex::new(None),
        }
    }

    pub fn with_policy(mut self, policy: WorkloadPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_call_timeout(mut self, limit: Duration) -> Self {
        self.call_timeout = limit;
        self
    }

    /// How often a running pod's status is read (tests make it short).
    pub fn with_poll(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    fn limits(&self, request: &InvokeRequest) -> PodLimits {
        PodLimits {
            timeout: self.settings.timeout,
            requirements_timeout: objects::has_requirements(&request.requirements)
                .then_some(self.settings.requirements_timeout),
            memory_bytes: self.settings.memory_bytes,
            cpu_seconds: self.settings.cpu_seconds,
            disk_bytes: self.settings.disk_bytes,
        }
    }

    /// Creates the pod, then its Secret owned by it. From the pod's creation on, `Leftover`
    /// deletes both, whatever happens next.
    async fn start(
        &self,
        request: &InvokeRequest,
        limits: &PodLimits,
    ) -> Result<Leftover, InvokeError> {
        let files = objects::request_files(request)?;
        let size: usize = files
            .iter()
            .map(|(name, text)| name.len() + text.len())
            .sum();
        if size > objects::SECRET_CAP {
            let reason = format!("hold {size} bytes with the code and the runner, more than a test-invoke pod's Secret may ({} bytes)", objects::SECRET_CAP);
            return Err(Invalid::field("events", reason).into());
        }
        let expires_at = unix_now() + (limits.deadline() + EXPIRY_MARGIN).as_secs();
        let pod = objects::pod(&pod_name(request)?, request, limits, expires_at);
        guard::enforce(&self.policy, &request.replica, &objects::as_checked(&pod)).map_err(
            |reason| {
                Invalid::field(
                    "image",
                    format!("the test-invoke pod is refused by the workload policy: {reason}"),
                )
            },
        )?;
        let post = PostParams::default();
        let created = within(self.call_timeout, self.pods.create(&post, &pod));
        let created = created.await.map_err(kube_error)?;
        let leftover = Leftover::new(&self.pods, &self.secrets, pod.name_any(), self.call_timeout);
        let Some(uid) = created.metadata.uid.as_deref() else {
            leftover.remove().await;
            return Err(not_understood(
                "the API server answered the test-invoke pod without a uid",
            ));
        };
        let secret = objects::secret(&pod, uid, files);
        let made = within(self.call_timeout, self.secrets.create(&post, &secret));
        if let Err(err) = made.await {
            leftover.remove().await;
            return Err(kube_error(err));
        }
        Ok(leftover)
    }

    /// Reads the pod's status until it ended, could never start, or was not understood.
    async fn wait(&self, name: &str, limits: &PodLimits) -> Result<PodState, InvokeError> {
        let bound = Instant::now() + limits.deadline() + WAIT_MARGIN;
        loop {
            let pod = within(self.call_timeout, self.pods.get(name)).await;
            match invoke_outcome::state(&pod.map_err(kube_error)?) {
                PodState::Starting | PodState::Running if Instant::now() < bound => {
                    tokio::time::sleep(self.poll).await;
                }
                PodState::Starting => {
                    let waited = (limits.deadline() + WAIT_MARGIN).as_secs();
                    return Ok(PodState::CannotStart(format!(
                        "it did not start within {waited} s"
                    )));
                }
                // The kubelet should have ended it at its deadline: it ran out of time.
                PodState::Running => return Ok(PodState::DeadlineExceeded),
                ended => return Ok(ended),
            }
        }
    }

    async fn log(&self, name: &str) -> Result<String, InvokeError> {
        let params = LogParams {
            container: Some(objects::CONTAINER.into()),
            limit_bytes: Some(LOG_CAP),
            ..LogParams::default()
        };
        within(self.call_timeout, self.pods.logs(name, &params))
            .await
            .map_err(kube_error)
    }

    /// The answer from how the pod ended: its report, read strictly; refused when not understood.
    /// A run that left no output of its own: how it ended is all there is to say.
    fn bare(&self, request: &InvokeRequest, end: RemoteEnd, memory_exceeded: bool) -> RemoteRun {
        RemoteRun {
            end,
            memory_exceeded,
            stdout: String::new(),
            stderr: String::new(),
            lines: Vec::new(),
            events: request.events.len(),
            timeout: self.settings.timeout,
            requirements: crate::invoke::RequirementsReport {
                virtualenv: "none".into(),
                duration_ms: None,
                output: None,
            },
        }
    }

    /// The answer from how the pod ended; refused when not understood.
    async fn answer(
        &self,
        name: &str,
        state: PodState,
        request: &InvokeRequest,
        started: Instant,
    ) -> Result<InvokeReport, InvokeError> {
        match state {
            PodState::Ended {
                exit_code,
                oom_killed,
            } => {
                self.ended(name, (exit_code, oom_killed), request, started)
                    .await
            }
            PodState::DeadlineExceeded => Ok(self
                .bare(request, RemoteEnd::TimedOut, false)
                .report(started.elapsed())),
            PodState::CannotStart(why) => Err(InvokeError::Unavailable(format!(
                "the test-invoke pod of image '{}' cannot run: {why}",
                request.replica.image
            ))),
            PodState::NotUnderstood(why) => Err(not_understood(&format!(
                "the test-invoke pod's status is not understood: {why}"
            ))),
            // `wait` answers neither.
            PodState::Starting | PodState::Running => {
                Err(not_understood("the test-invoke pod did not end"))
            }
        }
    }

    /// The answer of a pod whose container ended: its report line, read strictly.
    async fn ended(
        &self,
        name: &str,
        (exit_code, oom_killed): (i32, bool),
        request: &InvokeRequest,
        started: Instant,
    ) -> Result<InvokeReport, InvokeError> {
        let log = self.log(name).await;
        let report = log
            .map_err(|err| err.to_string())
            .and_then(|log| invoke_outcome::report(&log));
        let report = match report {
            Ok(report) => report,
            // The kernel killed the bootstrap itself for memory: no report, and none is needed.
            Err(_) if oom_killed => {
                let killed = self.bare(request, RemoteEnd::Signalled(9), true);
                return Ok(killed.report(started.elapsed()));
            }
            Err(why) => {
                return Err(not_understood(&format!(
                    "the test-invoke pod ended (exit code {exit_code}) without a report that \
                     can be read: {why}"
                )))
            }
        };
        let Some(end) = report.end else {
            return Ok(RemoteRun::requirements_failed(
                report.requirements,
                request.events.len(),
                started.elapsed(),
            ));
        };
        let remote = RemoteRun {
            stdout: report.stdout,
            stderr: report.stderr,
            lines: report.lines,
            requirements: report.requirements,
            ..self.bare(request, end, oom_killed)
        };
        Ok(remote.report(started.elapsed()))
    }
}

#[async_trait]
impl Invoke for PodInvoker {
    async fn invoke(&self, request: InvokeRequest) -> Result<InvokeReport, InvokeError> {
        // A draft's pod is a pod of its own like any run's, in the project's share of the
        // slots: the cluster, not a uid, keeps it apart from every other run.
        let _slot = self
            .slots
            .take_or_busy(&request.project, self.settings.timeout)?;
        self.sweep_now_and_then().await;
        let started = Instant::now();
        let limits = self.limits(&request);
        let leftover = self.start(&request, &limits).await?;
        let name = leftover.name().to_string();
        let answer = match self.wait(&name, &limits).await {
            Ok(state) => self.answer(&name, state, &request, started).await,
            Err(err) => Err(err),
        };
        leftover.remove().await;
        answer
    }
}
