//! Each rendered object read as its k8s-openapi type, strictly: the types ignore fields they do
//! not know, so the object is written back and compared with what was read, and a misspelled or
//! misplaced field (`replica: 3`, `readOnlyRootFileSystem`) fails instead of vanishing.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub const SERVICE_MONITOR_API_VERSION: &str = "monitoring.coreos.com/v1";

/// The kinds deploy/ may hold; anything else is refused.
#[derive(Debug)]
pub enum Object {
    Namespace(Namespace),
    ConfigMap(ConfigMap),
    Deployment(Box<Deployment>),
    Service(Service),
    PodDisruptionBudget(PodDisruptionBudget),
    PersistentVolumeClaim(PersistentVolumeClaim),
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    NetworkPolicy(NetworkPolicy),
    /// A Prometheus Operator CRD, which k8s-openapi has no type for: checked field by field in
    /// `service_monitor`.
    ServiceMonitor(Value),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::Namespace(_) => Namespace::KIND,
            Object::ConfigMap(_) => ConfigMap::KIND,
            Object::Deployment(_) => Deployment::KIND,
            Object::Service(_) => Service::KIND,
            Object::PodDisruptionBudget(_) => PodDisruptionBudget::KIND,
            Object::PersistentVolumeClaim(_) => PersistentVolumeClaim::KIND,
            Object::ServiceAccount(_) => ServiceAccount::KIND,
            Object::Role(_) => Role::KIND,
            Object::RoleBinding(_) => RoleBinding::KIND,
            Object::NetworkPolicy(_) => NetworkPolicy::KIND,
            Object::ServiceMonitor(_) => "ServiceMonitor",
        }
    }
}

/// `value` as its type, chosen by `apiVersion` and `kind` together (a `policy/v1beta1` budget is
/// not a `policy/v1` one).
pub fn parse(value: &Value) -> Result<Object, String> {
    let api_version = value["apiVersion"].as_str().unwrap_or("");
    let kind = value["kind"].as_str().unwrap_or("");
    let is = |v: &str, k: &str| api_version == v && kind == k;
    Ok(match () {
        () if is(Namespace::API_VERSION, Namespace::KIND) => Object::Namespace(strict(value)?),
        () if is(ConfigMap::API_VERSION, ConfigMap::KIND) => Object::ConfigMap(strict(value)?),
        () if is(Deployment::API_VERSION, Deployment::KIND) => {
            Object::Deployment(Box::new(strict(value)?))
        }
        () if is(Service::API_VERSION, Service::KIND) => Object::Service(strict(value)?),
        () if is(PodDisruptionBudget::API_VERSION, PodDisruptionBudget::KIND) => {
            Object::PodDisruptionBudget(strict(value)?)
        }
        () if is(
            PersistentVolumeClaim::API_VERSION,
            PersistentVolumeClaim::KIND,
        ) =>
        {
            Object::PersistentVolumeClaim(strict(value)?)
        }
        () if is(ServiceAccount::API_VERSION, ServiceAccount::KIND) => {
            Object::ServiceAccount(strict(value)?)
        }
        () if is(Role::API_VERSION, Role::KIND) => Object::Role(strict(value)?),
        () if is(RoleBinding::API_VERSION, RoleBinding::KIND) => {
            Object::RoleBinding(strict(value)?)
        }
        () if is(NetworkPolicy::API_VERSION, NetworkPolicy::KIND) => {
            Object::NetworkPolicy(strict(value)?)
        }
        () if is(SERVICE_MONITOR_API_VERSION, "ServiceMonitor") => {
            service_monitor(value)?;
            Object::ServiceMonitor(value.clone())
        }
        () => return Err(format!("unknown kind {api_version} {kind}")),
    })
}

/// `value` as `T`, refused when writing `T` back loses or changes anything.
fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let written = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut differences = Vec::new();
    compare("", value, &written, &mut differences);
    if differences.is_empty() {
        Ok(typed)
    } else {
        Err(format!(
            "fields the type does not know or reads differently: {differences:?}"
        ))
    }
}

/// The paths where `read` and `written` differ.
fn compare(path: &str, read: &Value, written: &Value, differences: &mut Vec<String>) {
    match (read, written) {
        (Value::Object(read), Value::Object(written)) => {
            for (key, value) in read {
                let here = format!("{path}.{key}");
                match written.get(key) {
                    Some(other) => compare(&here, value, other, differences),
                    None => differences.push(format!("{here} (dropped)")),
                }
            }
            for key in written.keys().filter(|key| !read.contains_key(*key)) {
                differences.push(format!("{path}.{key} (added)"));
            }
        }
        (Value::Array(read), Value::Array(written)) if read.len() == written.len() => {
            for (index, (a, b)) in read.iter().zip(written).enumerate() {
                compare(&format!("{path}[{index}]"), a, b, differences);
            }
        }
        _ if read == written => {}
        _ => differences.push(format!("{path}: {read} became {written}")),
    }
}

/// The fields of a ServiceMonitor that deploy/ uses, each with its shape; any other is refused,
/// as a typed object would drop it.
fn service_monitor(value: &Value) -> Result<(), String> {
    only_keys(value, "", &["apiVersion", "kind", "metadata", "spec"])?;
    only_keys(
        &value["metadata"],
        "metadata",
        &["name", "namespace", "labels"],
    )?;
    let spec = &value["spec"];
    only_keys(spec, "spec", &["selector", "endpoints"])?;
    only_keys(&spec["selector"], "spec.selector", &["matchLabels"])?;
    let endpoints = spec["endpoints"]
        .as_array()
        .filter(|endpoints| !endpoints.is_empty())
        .ok_or("spec.endpoints is not a non-empty list")?;
    for (index, endpoint) in endpoints.iter().enumerate() {
        let path = format!("spec.endpoints[{index}]");
        only_keys(
            endpoint,
            &path,
            &["port", "path", "interval", "scrapeTimeout"],
        )?;
        for key in ["port", "path", "interval", "scrapeTimeout"] {
            if !endpoint[key].is_string() {
                return Err(format!("{path}.{key} is not a string"));
            }
        }
    }
    Ok(())
}

fn only_keys(value: &Value, path: &str, allowed: &[&str]) -> Result<(), String> {
    let object = value
        .as_object()
        .ok_or_else(|| format!("{path} is not a mapping"))?;
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!("{path}.{key} is not a field deploy/ expects here")),
        None => Ok(()),
    }
}
