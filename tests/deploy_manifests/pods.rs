//! The rendered belt-api pod against the code: locked down, probed on the paths and the port it
//! serves, configured only with variables it reads, in the namespace of its belts.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::images;
use crate::objects::Object;
use crate::render::repository;
use crate::{overlays, Rendered};

/// The paths belt-api serves, as its OpenAPI document (generated from the router, and held to it by
/// tests/openapi_drift.rs) lists them.
pub fn served_paths() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repository().join("openapi.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    document["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Every environment variable `belt-api serve` reads: the `env = "…"` of src/config/.
fn configurable() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(repository().join("src/config")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in text.split("env = \"").skip(1) {
            names.insert(piece.split('"').next().unwrap().to_string());
        }
    }
    assert!(names.contains("BELT_LISTEN"), "src/config/ was not read");
    names
}

#[test]
fn the_pods_of_every_overlay_run_locked_down() {
    for rendered in overlays() {
        let name = &rendered.name;
        let pod = rendered.pod();
        let security = pod.security_context.as_ref().expect("pod securityContext");
        assert_eq!(security.run_as_non_root, Some(true), "{name}");
        let uid = security.run_as_user.expect("a numeric runAsUser");
        assert!(uid > 0, "{name}: uid {uid}");
        assert_eq!(
            uid,
            i64::from(images::belt_api().final_stage().user().0),
            "{name}: the image's uid"
        );
        let seccomp = security.seccomp_profile.as_ref().expect("pod seccomp");
        assert_eq!(seccomp.type_, "RuntimeDefault", "{name}");
        assert_eq!(
            pod.service_account_name.as_deref(),
            Some("belt-api"),
            "{name}"
        );

        let container = rendered.container().security_context.clone();
        let container = container.expect("container securityContext");
        assert_eq!(container.run_as_non_root, Some(true), "{name}");
        assert_eq!(container.read_only_root_filesystem, Some(true), "{name}");
        assert_eq!(container.allow_privilege_escalation, Some(false), "{name}");
        assert_ne!(container.privileged, Some(true), "{name}");
        let drop = container
            .capabilities
            .and_then(|c| c.drop)
            .unwrap_or_default();
        assert_eq!(drop, ["ALL"], "{name}");
        let seccomp = container.seccomp_profile.expect("container seccomp");
        assert_eq!(seccomp.type_, "RuntimeDefault", "{name}");
    }
}

/// The numbered port a probe or a Service names, resolved on `container`.
fn port_of(container: &Container, port: &IntOrString) -> i32 {
    let ports = container.ports.as_deref().unwrap_or_default();
    match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(name) => {
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .container_port
        }
    }
}

fn probed(container: &Container, probe: Option<&Probe>) -> (String, i32) {
    let get = probe
        .and_then(|p| p.http_get.as_ref())
        .expect("an HTTP probe");
    (get.path.clone().unwrap(), port_of(container, &get.port))
}

#[test]
fn probes_and_ports_agree_with_the_code_and_the_image() {
    let served = served_paths();
    let exposed = images::belt_api().final_stage().exposed();
    for rendered in overlays() {
        let name = &rendered.name;
        let container = rendered.container();
        let ports = container.ports.as_deref().unwrap_or_default();
        assert_eq!(ports.len(), 1, "{name}: one port");
        let port = ports[0].container_port;
        let listen = rendered.setting("BELT_LISTEN").expect("BELT_LISTEN");
        assert_eq!(listen, format!("0.0.0.0:{port}"), "{name}: BELT_LISTEN");
        assert_eq!(exposed, [port], "{name}: the Dockerfile's EXPOSE");

        let liveness = probed(container, container.liveness_probe.as_ref());
        let readiness = probed(container, container.readiness_probe.as_ref());
        let startup = probed(container, container.startup_probe.as_ref());
        assert_eq!(liveness, ("/health".to_string(), port), "{name}: liveness");
        assert_eq!(readiness, ("/ready".to_string(), port), "{name}: readiness");
        assert_eq!(startup, ("/health".to_string(), port), "{name}: startup");
        for (path, _) in [liveness, readiness, startup] {
            assert!(served.contains(&path), "{name}: belt-api serves no {path}");
        }

        let service = rendered.service().spec.as_ref().unwrap();
        for service_port in service.ports.as_deref().unwrap_or_default() {
            let target = service_port.target_port.as_ref().expect("targetPort");
            assert_eq!(port_of(container, target), port, "{name}: targetPort");
        }
        let pod_labels = rendered
            .deployment()
            .spec
            .as_ref()
            .unwrap()
            .template
            .metadata
            .as_ref();
        let pod_labels = pod_labels
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        for (key, value) in service.selector.as_ref().expect("a selector") {
            assert_eq!(
                pod_labels.get(key),
                Some(value),
                "{name}: the Service selects the pods"
            );
        }
    }
}

#[test]
fn every_setting_is_a_variable_belt_api_reads() {
    let known = configurable();
    for rendered in overlays() {
        let data = rendered.config_map().data.clone().unwrap_or_default();
        let env = rendered.container().env.clone().unwrap_or_default();
        let names = data.keys().cloned().chain(env.into_iter().map(|e| e.name));
        for name in names {
            assert!(
                known.contains(&name),
                "{}: belt-api reads no {name}",
                rendered.name
            );
        }
        let from = rendered.container().env_from.as_deref().unwrap_or_default();
        let config_map = rendered.config_map().metadata.name.clone();
        assert!(
            from.iter()
                .any(|f| f.config_map_ref.as_ref().map(|r| r.name.clone()) == config_map),
            "{}: the container reads the ConfigMap",
            rendered.name
        );
        assert_eq!(rendered.setting("BELT_RUNTIME"), Some("kubernetes"));
    }
}

#[test]
fn belt_api_and_its_belts_share_one_namespace() {
    for rendered in overlays() {
        let namespaces: Vec<String> = rendered
            .objects
            .iter()
            .filter_map(|o| match o {
                Object::Namespace(n) => n.metadata.name.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(namespaces.len(), 1, "{}", rendered.name);
        let deployment = &rendered.deployment().metadata;
        assert_eq!(
            deployment.namespace.as_ref(),
            Some(&namespaces[0]),
            "{}",
            rendered.name
        );
        // The runtime deploys where the pod runs, so a renamed namespace moves both.
        let env = rendered.container().env.clone().unwrap_or_default();
        let variable = env
            .iter()
            .find(|e| e.name == "BELT_K8S_NAMESPACE")
            .expect("namespace");
        let field = variable
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref());
        assert_eq!(
            field.map(|f| f.field_path.as_str()),
            Some("metadata.namespace")
        );
    }
}

/// Every volume mount names a volume of the pod; the data dir is one of them.
fn volume_of<'a>(rendered: &'a Rendered, path: &str) -> &'a k8s_openapi::api::core::v1::Volume {
    let mounts = rendered
        .container()
        .volume_mounts
        .as_deref()
        .unwrap_or_default();
    let mount = mounts
        .iter()
        .find(|m| m.mount_path == path)
        .expect("a mount");
    let volumes = rendered.pod().volumes.as_deref().unwrap_or_default();
    volumes
        .iter()
        .find(|v| v.name == mount.name)
        .expect("the mount's volume")
}

pub fn data_dir_is_claimed(rendered: &Rendered) {
    let data_dir = rendered.setting("BELT_DATA_DIR").expect("BELT_DATA_DIR");
    let volume = volume_of(rendered, data_dir);
    assert!(volume.empty_dir.is_none(), "the data dir outlives the pod");
    let claim = volume.persistent_volume_claim.as_ref().expect("a claim");
    let claimed = rendered.objects.iter().any(|o| match o {
        Object::PersistentVolumeClaim(c) => c.metadata.name.as_ref() == Some(&claim.claim_name),
        _ => false,
    });
    assert!(
        claimed,
        "the overlay renders the claim {}",
        claim.claim_name
    );
}

pub fn database_url_comes_from_a_secret(rendered: &Rendered) {
    assert_eq!(
        rendered.setting("BELT_DATABASE_URL"),
        None,
        "not in a ConfigMap"
    );
    let env = rendered.container().env.clone().unwrap_or_default();
    let url = env
        .iter()
        .find(|e| e.name == "BELT_DATABASE_URL")
        .expect("BELT_DATABASE_URL");
    let secret = url
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref());
    assert!(secret.is_some(), "BELT_DATABASE_URL from a Secret");
}

pub fn replicas_spread_over_nodes(rendered: &Rendered) {
    let spread = rendered
        .pod()
        .topology_spread_constraints
        .clone()
        .unwrap_or_default();
    let hosts = spread
        .iter()
        .find(|c| c.topology_key == "kubernetes.io/hostname");
    let hosts = hosts.expect("a spread over nodes");
    assert_eq!(hosts.when_unsatisfiable, "DoNotSchedule");
    let selector = hosts
        .label_selector
        .as_ref()
        .and_then(|s| s.match_labels.clone());
    let pod_labels = rendered
        .deployment()
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .clone();
    let pod_labels = pod_labels.and_then(|m| m.labels).unwrap_or_default();
    for (key, value) in selector.expect("the spread selects the pods") {
        assert_eq!(pod_labels.get(&key), Some(&value));
    }
}
