//! PLACEHOLDER: the Kubernetes runtime (kube-rs) is being written.

mod render;

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{Observed, Runtime, RuntimeError, StateDetails};
use crate::domain::replica::ReplicaSpec;
use crate::domain::BeltId;

pub use render::{render, FIELD_MANAGER};

#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// `BELT_K8S_NAMESPACE`; `None` = the in-cluster namespace, else `default`.
    pub namespace: Option<String>,
}

pub struct KubernetesRuntime {
    _config: KubernetesConfig,
}

impl KubernetesRuntime {
    /// Connects with the in-cluster config or the kubeconfig, as kube-rs finds it.
    pub async fn connect(config: KubernetesConfig) -> anyhow::Result<Self> {
        Ok(KubernetesRuntime { _config: config })
    }
}

fn missing() -> RuntimeError {
    RuntimeError::Other(anyhow::anyhow!("the Kubernetes runtime is not built yet"))
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn name(&self) -> &'static str {
        "kubernetes"
    }
    async fn recover(&self) -> Result<(), RuntimeError> {
        Ok(())
    }
    async fn apply(&self, _spec: &ReplicaSpec) -> Result<(), RuntimeError> {
        Err(missing())
    }
    async fn remove(&self, _id: BeltId) -> Result<(), RuntimeError> {
        Ok(())
    }
    fn observe(&self, _id: BeltId) -> Option<Observed> {
        None
    }
    fn deployed(&self) -> Vec<BeltId> {
        Vec::new()
    }
    async fn details(&self, _id: BeltId) -> Result<Option<StateDetails>, RuntimeError> {
        Ok(None)
    }
    async fn logs(
        &self,
        _id: BeltId,
        _lines: u32,
    ) -> Result<BTreeMap<String, Vec<String>>, RuntimeError> {
        Ok(BTreeMap::new())
    }
    async fn shutdown(&self) {}
}
