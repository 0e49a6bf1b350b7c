//! The in-memory view: reflectors on the Deployments and Pods this service manages (and on the
//! belts' KafkaUsers when it provisions them), so that status lookups (a list of 250 belts) never
//! call the API.

use std::fmt::Debug;
use std::future::{ready, Future};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::core::{ApiResource, DynamicObject};
use kube::runtime::reflector::{self, store::Writer, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::render::{LABEL_ID, MANAGED_SELECTOR};
use crate::domain::BeltId;
use crate::runtime::{PhaseEvents, RuntimeError};

pub struct View {
    namespace: String,
    deployments: Store<Deployment>,
    pods: Store<Pod>,
    /// Taken by the first `start`; the reflector tasks own them from then on.
    writers: Mutex<Option<(Writer<Deployment>, Writer<Pod>)>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    events: PhaseEvents,
    kafka_users: Option<KafkaUsers>,
}

/// The reflector of the belts' KafkaUsers (a custom resource, hence dynamic).
struct KafkaUsers {
    resource: ApiResource,
    store: Store<DynamicObject>,
    writer: Mutex<Option<Writer<DynamicObject>>>,
}

impl View {
    pub fn new(namespace: &str) -> Self {
        let (deployments, deployment_writer) = reflector::store();
        let (pods, pod_writer) = reflector::store();
        View {
            namespace: namespace.to_string(),
            deployments,
            pods,
            writers: Mutex::new(Some((deployment_writer, pod_writer))),
            tasks: Mutex::new(Vec::new()),
            events: PhaseEvents::default(),
            kafka_users: None,
        }
    }

    /// Also watches the KafkaUsers of `resource`, and waits for their first list in `start`.
    pub fn with_kafka_users(mut self, resource: ApiResource) -> Self {
        let writer = Writer::new(resource.clone());
        self.kafka_users = Some(KafkaUsers {
            resource,
            store: writer.as_reader(),
            writer: Mutex::new(Some(writer)),
        });
        self
    }

    /// Starts both reflectors once (later calls only wait) and waits until each has listed,
    /// so that the first reconcile sees what runs. On a timeout the reflectors keep trying.
    pub async fn start(&self, client: &Client, limit: Duration) -> Result<(), RuntimeError> {
        let writers = self
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((deployment_writer, pod_writer)) = writers {
            let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            tasks.push(tokio::spawn(reflect(
                Api::namespaced(client.clone(), &self.namespace),
                deployment_writer,
                self.events.clone(),
            )));
            tasks.push(tokio::spawn(reflect(
                Api::namespaced(client.clone(), &self.namespace),
                pod_writer,
                self.events.clone(),
            )));
            if let Some(users) = &self.kafka_users {
                let mut writer = users.writer.lock().unwrap_or_else(PoisonError::into_inner);
                let api = Api::namespaced_with(client.clone(), &self.namespace, &users.resource);
                if let Some(writer) = writer.take() {
                    tasks.push(tokio::spawn(reflect(api, writer, self.events.clone())));
                }
            }
        }
        let both_ready = async {
            self.deployments.wait_until_ready().await?;
            self.pods.wait_until_ready().await?;
            match &self.kafka_users {
                Some(users) => users.store.wait_until_ready().await,
                None => Ok(()),
            }
        };
        match tokio::time::timeout(limit, both_ready).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(stopped)) => Err(RuntimeError::Other(
                anyhow::Error::new(stopped).context("the Kubernetes watch stopped"),
            )),
            Err(_) => Err(RuntimeError::Unavailable(format!(
                "the Kubernetes API did not list the belts' Deployments and Pods{} within {limit:?}",
                if self.kafka_users.is_some() {
                    " and KafkaUsers (is Strimzi's KafkaUser resource installed?)"
                } else {
                    ""
                }
            ))),
        }
    }

    /// The belt's Deployment unless it is being deleted: a belt on its way out is stopped.
    pub fn deployment(&self, id: BeltId) -> Option<Arc<Deployment>> {
        self.deployment_in_any_state(id)
            .filter(|deployment| deployment.metadata.deletion_timestamp.is_none())
    }

    pub fn is_being_removed(&self, id: BeltId) -> bool {
        self.deployment_in_any_state(id)
            .is_some_and(|deployment| deployment.metadata.deletion_timestamp.is_some())
    }

    fn deployment_in_any_state(&self, id: BeltId) -> Option<Arc<Deployment>> {
        let key = ObjectRef::new(&id.kubernetes_name()).within(&self.namespace);
        self.deployments.get(&key)
    }

    /// Every belt with a Deployment that is not being deleted, ascending.
    pub fn deployed(&self) -> Vec<BeltId> {
        let mut ids: Vec<BeltId> = self
            .deployments
            .state()
            .iter()
            .filter(|deployment| deployment.metadata.deletion_timestamp.is_none())
            .filter_map(|deployment| belt_id_of_name(&deployment.name_any()))
            .collect();
        ids.sort();
        ids
    }

    /// The KafkaUser named `name`, when the view watches KafkaUsers and has seen it.
    pub fn kafka_user(&self, name: &str) -> Option<Arc<DynamicObject>> {
        let users = self.kafka_users.as_ref()?;
        let key = ObjectRef::new_with(name, users.resource.clone()).within(&self.namespace);
        users.store.get(&key)
    }

    /// Belts whose Deployment, Pods or KafkaUser the watch saw change.
    pub fn events(&self) -> &PhaseEvents {
        &self.events
    }

    /// The belt's pods (of every generation), sorted by name.
    pub fn pods(&self, id: BeltId) -> Vec<Arc<Pod>> {
        let id = id.to_string();
        let mut pods = self
            .pods
            .state_filter(|pod| pod.labels().get(LABEL_ID) == Some(&id));
        pods.sort_by_key(|pod| pod.name_any());
        pods
    }
}

impl Drop for View {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().unwrap_or_else(PoisonError::into_inner) {
            task.abort();
        }
    }
}

/// `grnry-belt-<id>` back to the id; anything else is not a belt's object.
fn belt_id_of_name(name: &str) -> Option<BeltId> {
    let id = BeltId::new(name.strip_prefix("grnry-belt-")?.parse().ok()?)?;
    (id.kubernetes_name() == name).then_some(id)
}

/// The belt a Deployment or Pod belongs to, by its id label.
fn belt_id_of<K: Resource>(object: &K) -> Option<BeltId> {
    BeltId::new(object.labels().get(LABEL_ID)?.parse().ok()?)
}

/// Keeps `writer`'s store in step with the cluster until aborted. Errors are retried with kube's
/// default backoff; managed fields are dropped because nothing here reads them and they are about
/// half of each object.
fn reflect<K>(api: Api<K>, writer: Writer<K>, changes: PhaseEvents) -> impl Future<Output = ()>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let kind = api
        .resource_url()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let events = watcher(api, watcher::Config::default().labels(MANAGED_SELECTOR))
        .default_backoff()
        .modify(|object| object.managed_fields_mut().clear());
    reflector::reflector(writer, events).for_each(move |event| {
        match event {
            Ok(watcher::Event::Apply(object) | watcher::Event::Delete(object)) => {
                if let Some(id) = belt_id_of(&object) {
                    changes.changed(id);
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(kind = %kind, error = %err, "watching Kubernetes failed; retrying")
            }
        }
        ready(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_belt_names_are_belts() {
        assert_eq!(belt_id_of_name("grnry-belt-161"), BeltId::new(161));
        for other in [
            "grnry-belt-0",
            "grnry-belt-007",
            "grnry-belt-x",
            "other-161",
        ] {
            assert_eq!(belt_id_of_name(other), None, "{other}");
        }
    }
}
