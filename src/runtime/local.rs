//! PLACEHOLDER: the local runtime (supervised child processes) is being written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;

use super::{Observed, Runtime, RuntimeError, StateDetails};
use crate::domain::replica::ReplicaSpec;
use crate::domain::BeltId;

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Work dirs live under `<data_dir>/belts/`.
    pub data_dir: PathBuf,
    /// Program and arguments of each replica; `None` = the bundled Python belt host.
    pub command: Option<Vec<String>>,
}

pub struct LocalRuntime {
    _config: LocalConfig,
}

impl LocalRuntime {
    pub fn new(config: LocalConfig) -> anyhow::Result<Self> {
        Ok(LocalRuntime { _config: config })
    }
}

fn missing() -> RuntimeError {
    RuntimeError::Other(anyhow::anyhow!("the local runtime is not built yet"))
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn name(&self) -> &'static str {
        "local"
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
