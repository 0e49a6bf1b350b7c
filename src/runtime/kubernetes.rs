//! The Kubernetes runtime: a belt is a ConfigMap (its code) and a Deployment, both named
//! `grnry-belt-<id>`, and, when belt-api provisions Kafka identities, a Strimzi KafkaUser;
//! applied server-side with one field manager. Status comes from reflectors that `recover()`
//! starts, so reading it never calls the API.

mod details;
mod errors;
mod guard;
mod identity;
mod invoke_outcome;
mod invoke_pod;
mod invoke_render;
mod kafka_ca;
mod kafka_user;
mod kafka_users;
mod logs;
mod phase;
mod refusals;
mod render;
mod secrets;
mod traced_client;
mod view;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use super::{LogQuery, LogStream, Observed, ReplicaLogs, Runtime, RuntimeError, StateDetails};
use crate::domain::policy::WorkloadPolicy;
use crate::domain::replica::ReplicaSpec;
use crate::domain::state_details::PodEvent;
use crate::domain::BeltId;
use errors::{is_not_found, runtime_error, within};
use refusals::Refusals;
use view::View;

pub use identity::{MISSING, NOT_READY, NOT_UNDERSTOOD, PENDING};
pub use invoke_pod::{PodInvokeSettings, PodInvoker};
pub use invoke_render::{INVOKE_SELECTOR, LABEL_EXPIRES, LABEL_INVOKE_OF, REPORT_MARKER};
pub use kafka_ca::{CA_KEY, CA_VARIABLE};
pub use kafka_user::{KafkaIdentities, StrimziUsers, IDENTITY_VARIABLES, SASL_MECHANISM};
pub use refusals::REFUSED_REASON;
pub use render::{render, render_for, RenderError, Rendered, FIELD_MANAGER};

/// How long one API call may take: `BELT_DEPENDENCY_TIMEOUT_MS`'s default.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `recover()` waits for the first list of Deployments and Pods.
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// `BELT_K8S_NAMESPACE`; `None` = the in-cluster namespace, else `default`.
    pub namespace: Option<String>,
}

pub struct KubernetesRuntime {
    client: Client,
    namespace: String,
    view: View,
    call_timeout: Duration,
    ready_timeout: Duration,
    policy: WorkloadPolicy,
    /// The last apply of each belt that the workload policy refused, until one succeeds: the
    /// belt is FAILED with the reason in its state, and is not retried until its next START.
    refusals: Refusals,
    identities: KafkaIdentities,
}

/// The belts' namespace: the configured one, else kube's default (the pod's own in-cluster, the
/// kubeconfig context's, else `default`).
pub fn belt_namespace(configured: Option<&str>, client: &Client) -> String {
    configured
        .filter(|namespace| !namespace.trim().is_empty())
        .map_or_else(|| client.default_namespace().to_string(), str::to_string)
}

impl KubernetesRuntime {
    /// Connects with the in-cluster config or the kubeconfig, as kube-rs finds it.
    pub async fn connect(config: KubernetesConfig) -> anyhow::Result<Self> {
        let client = traced_client::connect()
            .await
            .context("connecting to Kubernetes (in-cluster service account or kubeconfig)")?;
        let namespace = belt_namespace(config.namespace.as_deref(), &client);
        Ok(Self::with_client(client, &namespace))
    }

    /// Uses `client` as given (tests hand in a mock service). Nothing is called before `recover()`.
    pub fn with_client(client: Client, namespace: &str) -> Self {
        KubernetesRuntime {
            client,
            namespace: namespace.to_string(),
            view: View::new(namespace),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            ready_timeout: DEFAULT_READY_TIMEOUT,
            policy: WorkloadPolicy::default(),
            refusals: Refusals::default(),
            identities: KafkaIdentities::None,
        }
    }

    /// Gives each belt its own Kafka principal (a KafkaUser), and holds a belt back from RUNNING
    /// until that principal is ready. Call before `recover()`: the view then watches KafkaUsers.
    pub fn with_kafka_identities(mut self, identities: KafkaIdentities) -> Self {
        if identities.strimzi().is_some() {
            self.view = View::new(&self.namespace).with_kafka_users(kafka_user::api_resource());
        }
        self.identities = identities;
        self
    }

    /// The workload policy every apply is held to; without it, the default configuration's.
    pub fn with_policy(mut self, policy: WorkloadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How long one API call (apply, delete, logs, events) may take before it is `Unavailable`;
    /// give it `BELT_DEPENDENCY_TIMEOUT_MS`.
    pub fn with_call_timeout(mut self, limit: Duration) -> Self {
        self.call_timeout = limit;
        self
    }

    /// How long `recover()` waits for the first list of Deployments and Pods.
    pub fn with_ready_timeout(mut self, limit: Duration) -> Self {
        self.ready_timeout = limit;
        self
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pod_names(&self, id: BeltId) -> Vec<String> {
        self.view
            .pods(id)
            .iter()
            .map(|pod| pod.name_any())
            .collect()
    }

    fn log_target(&self, id: BeltId) -> logs::Target {
        logs::Target {
            api: self.api::<Pod>(),
            container: id.kubernetes_name(),
            call_timeout: self.call_timeout,
        }
    }

    /// Refuses to touch a Deployment of the belt's name that belt-api did not create (someone's
    /// hand-made object, another tool's): overwriting or deleting it would destroy their work.
    /// The view only holds our own objects, so only an object missing from it is read.
    async fn ensure_not_foreign(&self, id: BeltId) -> Result<(), RuntimeError> {
        if self.view.deployment(id).is_some() {
            return Ok(());
        }
        let name = id.kubernetes_name();
        let existing = within(self.call_timeout, self.api::<Deployment>().get_opt(&name))
            .await
            .map_err(runtime_error)?;
        let ours = |deployment: &Deployment| {
            deployment
                .labels()
                .get(render::LABEL_MANAGED_BY)
                .map(String::as_str)
                == Some(FIELD_MANAGER)
        };
        match existing {
            Some(deployment) if !ours(&deployment) => Err(RuntimeError::InUse(format!(
                "Deployment '{name}' in namespace '{}' exists but is not managed by belt-api",
                self.namespace
            ))),
            _ => Ok(()),
        }
    }

    /// Server-side applies `object` as belt-api's field manager, taking over fields it sets.
    async fn patch<K, P>(&self, api: Api<K>, name: &str, object: &P) -> Result<(), RuntimeError>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
        P: serde::Serialize + std::fmt::Debug,
    {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        within(
            self.call_timeout,
            api.patch(name, &params, &Patch::Apply(object)),
        )
        .await
        .map(drop)
        .map_err(runtime_error)
    }

    /// Deletes one object; one that is already gone is what was wanted.
    async fn delete<K>(&self, name: &str, params: &DeleteParams) -> Result<(), RuntimeError>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match within(self.call_timeout, self.api::<K>().delete(name, params)).await {
            Ok(_) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(err) => Err(runtime_error(err)),
        }
    }

    /// The pod's Events, newest last. Details are for a human reading why a belt failed, so a
    /// cluster that refuses or does not answer costs the Events, not the whole answer.
    async fn pod_events(&self, pod: String) -> Vec<PodEvent> {
        let params = ListParams::default().fields(&format!(
            "involvedObject.kind=Pod,involvedObject.name={pod}"
        ));
        match within(self.call_timeout, self.api::<Event>().list(&params)).await {
            Ok(list) => details::pod_events(list.items),
            Err(err) => {
                tracing::warn!(%pod, error = %err, "reading the pod's Events failed; answering without them");
                Vec::new()
            }
        }
    }
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    /// Starts the reflectors (once) and waits until they have listed what runs. Nothing else to
    /// clear: belts outlive the API on Kubernetes, and `deployed()` shows the reconciler orphans.
    async fn recover(&self) -> Result<(), RuntimeError> {
        self.view.start(&self.client, self.ready_timeout).await
    }

    #[tracing::instrument(skip_all, fields(belt = %spec.belt_id, version = spec.version, generation = spec.generation))]
    async fn apply(&self, spec: &ReplicaSpec) -> Result<(), RuntimeError> {
        // Applying to a Deployment under foreground deletion would be lost when the deletion
        // completes; the reconciler retries once it is gone.
        if self.view.is_being_removed(spec.belt_id) {
            return Err(RuntimeError::Unavailable(format!(
                "{} is still being removed",
                spec.name
            )));
        }
        let rendered = match render_for(spec, &self.policy, &self.identities) {
            Ok(objects) => objects,
            Err(RenderError::Refused(reason)) => return Err(self.refusals.refuse(spec, reason)),
            Err(RenderError::Invalid(err)) => return Err(RuntimeError::Other(err)),
        };
        self.ensure_not_foreign(spec.belt_id).await?;
        let pod = rendered
            .deployment
            .spec
            .as_ref()
            .and_then(|d| d.template.spec.as_ref())
            .ok_or_else(|| RuntimeError::Other(anyhow::anyhow!("rendered without a pod")))?;
        // Nothing is applied unless every Secret passes.
        let user = rendered
            .kafka_user
            .as_ref()
            .map(|_| kafka_user::user_name(spec));
        let secrets = self.api();
        // The Secrets belt-api itself gives the pod: its Kafka credentials and the cluster's CA.
        let ca = self
            .identities
            .strimzi()
            .and_then(|u| u.ca_secret.as_deref());
        let platform: Vec<&str> = user.as_deref().into_iter().chain(ca).collect();
        let pod = (pod, platform.as_slice());
        let refused = secrets::refused(&secrets, self.call_timeout, &self.namespace, spec, pod);
        if let Some(reason) = refused.await? {
            return Err(self.refusals.refuse(spec, reason));
        }
        // The code first, so that the new pods find it; the identity before the pods that need
        // its Secret.
        self.patch(self.api::<ConfigMap>(), &spec.name, &rendered.config_map)
            .await?;
        if let (Some(object), Some(name)) = (&rendered.kafka_user, &user) {
            self.patch(self.kafka_users(), name, object).await?;
        }
        self.patch(self.api::<Deployment>(), &spec.name, &rendered.deployment)
            .await?;
        self.refusals.forget(spec.belt_id);
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(belt = %id))]
    async fn remove(&self, id: BeltId) -> Result<(), RuntimeError> {
        let name = id.kubernetes_name();
        self.ensure_not_foreign(id).await?;
        self.refusals.forget(id);
        // The identity first: whatever fails after, no live principal of the belt is left.
        self.remove_kafka_users(id).await?;
        // Foreground: the Deployment stays (marked deleting) until its pods are gone, so a START
        // right after a STOP cannot run the old and new pods side by side.
        self.delete::<Deployment>(&name, &DeleteParams::foreground())
            .await?;
        self.delete::<ConfigMap>(&name, &DeleteParams::default())
            .await
    }

    fn observe(&self, id: BeltId) -> Option<Observed> {
        // The last apply was refused: whatever still runs is not what was asked for.
        if let Some(refusal) = self.refusals.get(id) {
            return Some(Observed {
                version: refusal.version,
                generation: refusal.generation,
                phase: super::Phase::Failed,
            });
        }
        let deployment = self.view.deployment(id)?;
        let observed = phase::observed(&deployment, &self.view.pods(id));
        Some(identity::held_back(observed, &self.identity(&deployment)))
    }

    fn deployed(&self) -> Vec<BeltId> {
        self.view.deployed()
    }

    /// Pods outlive their Deployment while they terminate, and log until they are gone.
    fn runs_replicas(&self, id: BeltId) -> bool {
        self.view.deployment(id).is_some() || !self.view.pods(id).is_empty()
    }

    async fn details(&self, id: BeltId) -> Result<Option<StateDetails>, RuntimeError> {
        let refusal = self.refusals.get(id);
        let Some(deployment) = self.view.deployment(id) else {
            return Ok(refusal.map(|refusal| StateDetails {
                deployment_replicas: refusal.replicas.to_string(),
                deployment_events: vec![refusal.condition()],
                pod_status: Vec::new(),
            }));
        };
        let pods = self.view.pods(id);
        let mut details = details::details(&deployment, &pods);
        if let Some(condition) = self.identity(&deployment).condition() {
            details.deployment_events.insert(0, condition);
        }
        let events = join_all(pods.iter().map(|pod| self.pod_events(pod.name_any()))).await;
        for (status, events) in details.pod_status.iter_mut().zip(events) {
            status.events = events;
        }
        if let Some(refusal) = refusal {
            details.deployment_events.insert(0, refusal.condition());
        }
        Ok(Some(details))
    }

    /// What the reflectors see change: a Deployment or Pod of a belt added, changed or gone.
    fn phase_events(&self) -> Option<tokio::sync::broadcast::Receiver<BeltId>> {
        Some(self.view.events().subscribe())
    }

    /// Nothing: on Kubernetes, belts keep running without the API.
    async fn shutdown(&self) {}
}

#[async_trait]
impl ReplicaLogs for KubernetesRuntime {
    async fn logs(
        &self,
        id: BeltId,
        lines: u32,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        self.logs_matching(id, &LogQuery::last(lines)).await
    }
    async fn logs_matching(
        &self,
        id: BeltId,
        query: &LogQuery,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        let names = self.pod_names(id);
        self.log_target(id).select(names, query).await
    }
    fn follow_logs(self: std::sync::Arc<Self>, id: BeltId, query: LogQuery) -> LogStream {
        let target = self.log_target(id);
        logs::follow(target, Box::new(move || self.pod_names(id)), query)
    }
}
