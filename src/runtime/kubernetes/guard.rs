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
    restricted_pod(pod)
        .and_then(|()| containers(pod).try_for_each(restricted_container))
        .map_err(|what| {
            format!("the pod {what}, which the restricted Pod Security Standard forbids")
        })
}

/// The pod-level part of [`restricted`]; `Err` says what the pod does.
fn restricted_pod(pod: &PodSpec) -> Result<(), &'static str> {
    if pod.automount_service_account_token != Some(false) {
        return Err("would mount a service-account token");
    }
    if [pod.host_network, pod.host_pid, pod.host_ipc].contains(&Some(true)) {
        return Err("shares a host namespace");
    }
    let pod_context = pod.security_context.as_ref();
    if pod_context.and_then(|c| c.run_as_non_root) != Some(true) {
        return Err("may run as root");
    }
    if pod_context.and_then(|c| c.run_as_user) == Some(0) {
        return Err("runs as uid 0");
    }
    let seccomp = pod_context
        .and_then(|c| c.seccomp_profile.as_ref())
        .map(|p| p.type_.as_str());
    if seccomp != Some("RuntimeDefault") {
        return Err("runs without the RuntimeDefault seccomp profile");
    }
    Ok(())
}

/// The per-container part of [`restricted`]; `Err` says what the pod does.
fn restricted_container(container: &Container) -> Result<(), &'static str> {
    let Some(context) = &container.security_context else {
        return Err("has a container without a security context");
    };
    if context.allow_privilege_escalation != Some(false) {
        return Err("allows privilege escalation");
    }
    if context.privileged == Some(true) {
        return Err("has a privileged container");
    }
    let capabilities = context.capabilities.as_ref();
    let drops_all = capabilities
        .and_then(|c| c.drop.as_ref())
        .is_some_and(|drop| drop.iter().any(|c| c == "ALL"));
    let adds = capabilities
        .and_then(|c| c.add.as_ref())
        .is_some_and(|add| add.iter().any(|c| c != "NET_BIND_SERVICE"));
    if !drops_all || adds {
        return Err("keeps Linux capabilities");
    }
    if context.run_as_non_root == Some(false) || context.run_as_user == Some(0) {
        return Err("has a container that may run as root");
    }
    if context
        .seccomp_profile
        .as_ref()
        .is_some_and(|p| p.type_ != "RuntimeDefault" && p.type_ != "Localhost")
    {
        return Err("has a container without a seccomp profile");
    }
    if container
        .ports
        .iter()
        .flatten()
        .any(|p| p.host_port.is_some_and(|port| port != 0))
    {
        return Err("uses a host port");
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

    fn compliant_pod() -> PodSpec {
        serde_json::from_value(serde_json::json!({
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "belt",
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                },
            }],
        }))
        .unwrap()
    }

    /// The guard is a backstop the renderer never trips, so its refusals are pinned here: what
    /// it finds first, and how it says so.
    #[test]
    fn restricted_names_the_first_thing_the_pod_breaks() {
        assert_eq!(restricted(&compliant_pod()), Ok(()));
        let refused = |change: fn(&mut PodSpec)| {
            let mut pod = compliant_pod();
            change(&mut pod);
            restricted(&pod).unwrap_err()
        };
        assert_eq!(
            refused(|pod| pod.host_pid = Some(true)),
            "the pod shares a host namespace, which the restricted Pod Security Standard forbids"
        );
        assert!(refused(|pod| pod.automount_service_account_token = None)
            .starts_with("the pod would mount a service-account token,"));
        let privileged = |pod: &mut PodSpec| {
            let context = pod.containers[0].security_context.as_mut().unwrap();
            context.privileged = Some(true);
        };
        assert!(refused(privileged).starts_with("the pod has a privileged container,"));
        // Pod-level rules are checked before any container's.
        assert!(refused(|pod| {
            pod.containers[0].security_context = None;
            pod.host_ipc = Some(true);
        })
        .starts_with("the pod shares a host namespace,"));
        assert!(refused(|pod| {
            let mut init = pod.containers[0].clone();
            init.ports = Some(vec![serde_json::from_value(
                serde_json::json!({"containerPort": 80, "hostPort": 8080}),
            )
            .unwrap()]);
            pod.init_containers = Some(vec![init]);
        })
        .starts_with("the pod uses a host port,"));
    }
}
