//! The workload policy on the objects as they will be sent (docs/workload-policy.md): what the
//! create/replace check already refused must not reach the cluster by another road (a belt
//! stored before the policy, a store written by hand, a bug in the renderer). Pure.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde::Serialize;
use serde_json::Value;

use crate::domain::policy::{self, WorkloadPolicy};
use crate::domain::replica::{ReplicaSpec, REQUIREMENTS_FILE};

/// Refuses a pod that breaks the restricted Pod Security Standard or `policy`; the reason names
/// the part of the pod.
pub fn enforce(policy: &WorkloadPolicy, spec: &ReplicaSpec, pod: &PodSpec) -> Result<(), String> {
    restricted(pod)?;
    let own = Some(spec.name.as_str());
    policy
        .check_volumes(&values(pod.volumes.as_deref()), own)
        .map_err(|reason| format!("volumes: {reason}"))?;
    if let Some(requirements) = spec.files.get(REQUIREMENTS_FILE) {
        policy
            .check_requirements(requirements)
            .map_err(|reason| format!("{REQUIREMENTS_FILE}: {reason}"))?;
    }
    for container in containers(pod) {
        let image = container.image.as_deref().unwrap_or_default();
        policy
            .check_image_name(image_name(image)?)
            .map_err(|reason| format!("container '{}' {reason}", container.name))?;
        policy::check_volume_mounts(&values(container.volume_mounts.as_deref()))
            .map_err(|reason| format!("volumeMounts: {reason}"))?;
        policy::check_env(&values(container.env.as_deref()), own)
            .map_err(|reason| format!("env: {reason}"))?;
        for source in container.env_from.iter().flatten() {
            if let Some(config_map) = &source.config_map_ref {
                if config_map.name.starts_with(policy::OWN_OBJECT_PREFIX) {
                    return Err(format!("envFrom names ConfigMap '{}'", config_map.name));
                }
            }
        }
    }
    // Every Secret must be a name before it becomes part of an API path.
    match secrets_of(pod)
        .into_iter()
        .find(|name| !policy::is_object_name(name))
    {
        Some(name) => Err(format!("'{name}' is not a Secret name")),
        None => Ok(()),
    }
}

/// Every Secret the pod's containers can read: secret volumes, projected secret sources,
/// `secretKeyRef`s and `envFrom`. Image pull secrets are not among them: only the kubelet uses
/// them, and only to pull images the policy allows anyway.
pub fn secrets_of(pod: &PodSpec) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for volume in pod.volumes.iter().flatten() {
        if let Some(secret) = &volume.secret {
            names.insert(secret.secret_name.clone().unwrap_or_default());
        }
        let projections = volume.projected.as_ref().and_then(|p| p.sources.as_ref());
        for projection in projections.into_iter().flatten() {
            if let Some(secret) = &projection.secret {
                names.insert(secret.name.clone());
            }
        }
        if let Some(csi) = &volume.csi {
            if let Some(secret) = &csi.node_publish_secret_ref {
                names.insert(secret.name.clone());
            }
        }
    }
    for container in containers(pod) {
        for var in container.env.iter().flatten() {
            if let Some(selector) = var
                .value_from
                .as_ref()
                .and_then(|v| v.secret_key_ref.as_ref())
            {
                names.insert(selector.name.clone());
            }
        }
        for source in container.env_from.iter().flatten() {
            if let Some(secret) = &source.secret_ref {
                names.insert(secret.name.clone());
            }
        }
    }
    names
}

/// The restricted Pod Security Standard (Kubernetes 1.33), as far as a pod spec can break it.
fn restricted(pod: &PodSpec) -> Result<(), String> {
    let refuse = |what: &str| {
        Err(format!(
            "the pod {what}, which the restricted Pod Security Standard forbids"
        ))
    };
    if pod.automount_service_account_token != Some(false) {
        return refuse("would mount a service-account token");
    }
    if [pod.host_network, pod.host_pid, pod.host_ipc].contains(&Some(true)) {
        return refuse("shares a host namespace");
    }
    let pod_context = pod.security_context.as_ref();
    if pod_context.and_then(|c| c.run_as_non_root) != Some(true) {
        return refuse("may run as root");
    }
    if pod_context.and_then(|c| c.run_as_user) == Some(0) {
        return refuse("runs as uid 0");
    }
    let seccomp = pod_context
        .and_then(|c| c.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    if seccomp != Some("RuntimeDefault") {
        return refuse("runs without the RuntimeDefault seccomp profile");
    }
    for container in containers(pod) {
        let Some(context) = &container.security_context else {
            return refuse("has a container without a security context");
        };
        if context.allow_privilege_escalation != Some(false) {
            return refuse("allows privilege escalation");
        }
        if context.privileged == Some(true) {
            return refuse("has a privileged container");
        }
        let capabilities = context.capabilities.as_ref();
        let drops_all = capabilities
            .and_then(|c| c.drop.as_ref())
            .is_some_and(|drop| drop.iter().any(|c| c == "ALL"));
        let adds = capabilities
            .and_then(|c| c.add.as_ref())
            .is_some_and(|add| add.iter().any(|c| c != "NET_BIND_SERVICE"));
        if !drops_all || adds {
            return refuse("keeps Linux capabilities");
        }
        if context.run_as_non_root == Some(false) || context.run_as_user == Some(0) {
            return refuse("has a container that may run as root");
        }
        if context
            .seccomp_profile
            .as_ref()
            .is_some_and(|p| p.type_ != "RuntimeDefault" && p.type_ != "Localhost")
        {
            return refuse("has a container without a seccomp profile");
        }
        if container
            .ports
            .iter()
            .flatten()
            .any(|p| p.host_port.is_some_and(|port| port != 0))
        {
            return refuse("uses a host port");
        }
    }
    Ok(())
}

fn containers(pod: &PodSpec) -> impl Iterator<Item = &Container> {
    pod.containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
}

fn values<T: Serialize>(items: Option<&[T]>) -> Vec<Value> {
    items
        .unwrap_or_default()
        .iter()
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect()
}

/// `<name>:<tag>` → `<name>`. A digest (`@sha256:…`) is refused: a belt's image is a name and
/// its `extractorVersion`.
fn image_name(reference: &str) -> Result<&str, String> {
    if reference.contains('@') {
        return Err(format!("image '{reference}' is pinned by digest"));
    }
    Ok(match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_lose_only_the_tag() {
        assert_eq!(image_name("grnry-belt:0.8.0"), Ok("grnry-belt"));
        assert_eq!(
            image_name("registry:5000/belts/x:1"),
            Ok("registry:5000/belts/x")
        );
        assert_eq!(
            image_name("registry:5000/belts/x"),
            Ok("registry:5000/belts/x")
        );
        assert!(image_name("grnry-belt@sha256:00").is_err());
    }
}
