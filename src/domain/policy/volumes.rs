//! The workload policy's rules for the Kubernetes objects a belt names: volumes, mounts and
//! environment variables (docs/workload-policy.md).

use serde_json::{Map, Value};

use super::{WorkloadPolicy, OWN_OBJECT_PREFIX};

/// Sources a `projected` volume may combine. `serviceAccountToken` is not among them: it would
/// hand the pod the token that `automountServiceAccountToken: false` keeps away.
const PROJECTED_SOURCES: [&str; 3] = ["configMap", "secret", "downwardAPI"];

impl WorkloadPolicy {
    /// Kubernetes `Volume` objects (canonical JSON). `own_config_map` is the belt's own code
    /// ConfigMap, which only the renderer adds.
    pub fn check_volumes(
        &self,
        volumes: &[Value],
        own_config_map: Option<&str>,
    ) -> Result<(), String> {
        for (index, volume) in volumes.iter().enumerate() {
            let object = volume
                .as_object()
                .ok_or_else(|| format!("item {index} is not a Volume object"))?;
            let kind = self.volume_kind(object, index)?;
            let source = object.get(kind).unwrap_or(&Value::Null);
            match kind {
                "secret" => secret_name(&source["secretName"], index)?,
                "configMap" => config_map_name(&source["name"], index, own_config_map)?,
                "projected" => check_projected(source, index, own_config_map)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The volume's one source, which the policy must allow.
    fn volume_kind<'v>(
        &self,
        object: &'v Map<String, Value>,
        index: usize,
    ) -> Result<&'v str, String> {
        let sources: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|key| *key != "name")
            .collect();
        // A volume naming no source is an emptyDir to the API server.
        let kind = match sources.as_slice() {
            [] => "emptyDir",
            [one] => *one,
            _ => return Err(format!("item {index} names more than one volume source")),
        };
        if kind == "hostPath" {
            return Err(format!(
                "item {index} is a 'hostPath' volume, which the workload policy never allows"
            ));
        }
        if !self.volume_types.contains(kind) {
            return Err(format!(
                "item {index} is a '{kind}' volume, which the workload policy does not allow (allowed: {})",
                self.volume_types.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(kind)
    }
}

/// A `projected` volume's sources: only [`PROJECTED_SOURCES`], each naming what it may.
fn check_projected(
    source: &Value,
    index: usize,
    own_config_map: Option<&str>,
) -> Result<(), String> {
    for (at, projection) in source["sources"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let keys: Vec<&String> = projection
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        match keys.as_slice() {
            [key] if PROJECTED_SOURCES.contains(&key.as_str()) => {}
            _ => {
                return Err(format!(
                    "item {index} projects source {at}, which is not one of {} (a service-account token is never projected)",
                    PROJECTED_SOURCES.join(", ")
                ))
            }
        }
        match keys[0].as_str() {
            "secret" => secret_name(&projection["secret"]["name"], index)?,
            "configMap" => {
                config_map_name(&projection["configMap"]["name"], index, own_config_map)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// `Bidirectional` propagation needs a privileged container, which the restricted standard forbids.
pub fn check_volume_mounts(mounts: &[Value]) -> Result<(), String> {
    match mounts
        .iter()
        .position(|m| m["mountPropagation"].as_str() == Some("Bidirectional"))
    {
        Some(index) => Err(format!(
            "item {index} asks for 'Bidirectional' mount propagation, which needs a privileged container"
        )),
        None => Ok(()),
    }
}

/// Kubernetes `EnvVar` objects (canonical JSON): Secrets named by `secretKeyRef` are checked at
/// deploy time (whether the project may use them); here only that they are names, and that no
/// variable reads another belt's code.
pub fn check_env(env: &[Value], own_config_map: Option<&str>) -> Result<(), String> {
    for (index, var) in env.iter().enumerate() {
        let from = &var["valueFrom"];
        if !from["secretKeyRef"].is_null() {
            secret_name(&from["secretKeyRef"]["name"], index)?;
        }
        if !from["configMapKeyRef"].is_null() {
            config_map_name(&from["configMapKeyRef"]["name"], index, own_config_map)?;
        }
    }
    Ok(())
}

fn secret_name(name: &Value, index: usize) -> Result<(), String> {
    match name.as_str() {
        Some(name) if is_object_name(name) => Ok(()),
        _ => Err(format!("item {index} must name a Secret")),
    }
}

fn config_map_name(name: &Value, index: usize, own: Option<&str>) -> Result<(), String> {
    match name.as_str() {
        Some(name) if own == Some(name) => Ok(()),
        Some(name) if name.starts_with(OWN_OBJECT_PREFIX) => Err(format!(
            "item {index} names ConfigMap '{name}', which holds another belt's code"
        )),
        Some(name) if is_object_name(name) => Ok(()),
        _ => Err(format!("item {index} must name a ConfigMap")),
    }
}

/// A Kubernetes object name (RFC 1123 subdomain).
pub fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}
