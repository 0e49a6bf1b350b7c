//! deploy/ and the images (README.md, "Install on Kubernetes"): every overlay rendered by
//! `kubectl kustomize`, every object read strictly as its k8s-openapi type (an unknown kind or
//! field fails), and what the cluster relies on asserted on what was rendered: the pod's
//! securityContext, the probes on the paths and the port the code serves, the replicas and update
//! strategy of each overlay, settings the code reads. The Dockerfiles are read for what can be
//! checked without building them, and the runtime image's entrypoint is run as the image lays it
//! out.

#[path = "deploy_manifests/images.rs"]
mod images;
#[path = "deploy_manifests/launcher.rs"]
mod launcher;
#[path = "deploy_manifests/network.rs"]
mod network;
#[path = "deploy_manifests/objects.rs"]
mod objects;
#[path = "deploy_manifests/pods.rs"]
mod pods;
#[path = "deploy_manifests/render.rs"]
mod render;
#[path = "deploy_manifests/strictness.rs"]
mod strictness;

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use objects::Object;

/// One overlay, rendered and parsed.
pub struct Rendered {
    pub name: String,
    pub objects: Vec<Object>,
}

impl Rendered {
    pub fn of(overlay: &str) -> Rendered {
        Rendered::parse(overlay, render::render(overlay))
    }

    pub fn parse(name: &str, values: Vec<Value>) -> Rendered {
        let objects = values
            .iter()
            .map(|value| {
                objects::parse(value).unwrap_or_else(|why| {
                    panic!(
                        "{name}: {} {}: {why}",
                        value["kind"], value["metadata"]["name"]
                    )
                })
            })
            .collect();
        Rendered {
            name: name.to_string(),
            objects,
        }
    }

    pub fn kinds(&self) -> BTreeSet<&'static str> {
        self.objects.iter().map(Object::kind).collect()
    }

    fn one<'a, T>(&'a self, pick: impl Fn(&'a Object) -> Option<&'a T>) -> &'a T {
        let found: Vec<&T> = self.objects.iter().filter_map(pick).collect();
        assert_eq!(found.len(), 1, "{}: not exactly one of a kind", self.name);
        found[0]
    }

    pub fn deployment(&self) -> &Deployment {
        self.one(|o| match o {
            Object::Deployment(d) => Some(&**d),
            _ => None,
        })
    }

    pub fn service(&self) -> &Service {
        self.one(|o| match o {
            Object::Service(s) => Some(s),
            _ => None,
        })
    }

    pub fn config_map(&self) -> &ConfigMap {
        self.one(|o| match o {
            Object::ConfigMap(c) => Some(c),
            _ => None,
        })
    }

    pub fn budget(&self) -> &PodDisruptionBudget {
        self.one(|o| match o {
            Object::PodDisruptionBudget(p) => Some(p),
            _ => None,
        })
    }

    pub fn pod(&self) -> &PodSpec {
        let spec = self.deployment().spec.as_ref().expect("Deployment spec");
        spec.template.spec.as_ref().expect("pod template spec")
    }

    /// The belt-api container, the pod's only one.
    pub fn container(&self) -> &Container {
        let containers = &self.pod().containers;
        assert_eq!(containers.len(), 1, "{}: one container", self.name);
        &containers[0]
    }

    pub fn setting(&self, name: &str) -> Option<&str> {
        let data = self.config_map().data.as_ref()?;
        data.get(name).map(String::as_str)
    }
}

pub fn overlays() -> Vec<Rendered> {
    render::OVERLAYS.iter().copied().map(Rendered::of).collect()
}

#[test]
fn every_overlay_renders_and_each_object_reads_as_its_type() {
    let every = [
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
    ];
    for rendered in overlays() {
        let kinds = rendered.kinds();
        for kind in every {
            assert!(kinds.contains(kind), "{}: no {kind}", rendered.name);
        }
        let claims = kinds.contains("PersistentVolumeClaim");
        assert_eq!(
            claims,
            rendered.name.ends_with("sqlite-single"),
            "{}: only SQLite keeps its data on a claim",
            rendered.name
        );
    }
}

#[test]
fn the_lease_component_switches_the_election_and_grants_the_lease_alone() {
    let overlay = render::OVERLAYS[1];
    let values = render::render_with_component(overlay, render::LEASE_ELECTION);
    let rendered = Rendered::parse(overlay, values);
    assert_eq!(rendered.setting("BELT_LEADER_ELECTION"), Some("lease"));
    let roles: Vec<_> = rendered
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::Role(role) => Some(role),
            _ => None,
        })
        .collect();
    assert_eq!(roles.len(), 2, "the base's Role and the Lease's");
    let lease = roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("belt-api-lease"))
        .expect("the Lease's Role");
    assert_eq!(lease.metadata.namespace.as_deref(), Some("belts"));
    // What the Role grants is tests/deploy_rbac.rs's to check; here, that it names only leases.
    for rule in lease.rules.iter().flatten() {
        assert_eq!(rule.resources.as_deref(), Some(&["leases".to_string()][..]));
    }
}

#[test]
fn the_service_monitor_component_scrapes_the_services_metrics_port() {
    let overlay = render::OVERLAYS[1];
    let values = render::render_with_component(overlay, render::SERVICE_MONITOR);
    let rendered = Rendered::parse(overlay, values);
    let monitor = rendered
        .objects
        .iter()
        .find_map(|o| match o {
            Object::ServiceMonitor(value) => Some(value),
            _ => None,
        })
        .expect("the component adds a ServiceMonitor");
    let service = rendered.service();
    let port_names: Vec<_> = service
        .spec
        .as_ref()
        .unwrap()
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|p| p.name.clone())
        .collect();
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert!(
        port_names.iter().any(|n| endpoint["port"] == *n),
        "{endpoint}"
    );
    assert_eq!(endpoint["path"], "/metrics");
    assert!(pods::served_paths().contains("/metrics"));
    let labels = service.metadata.labels.clone().unwrap_or_default();
    let wanted = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap();
    for (key, value) in wanted {
        assert_eq!(labels.get(key).map(String::as_str), value.as_str(), "{key}");
    }
    assert_eq!(
        monitor["metadata"]["namespace"].as_str(),
        rendered.deployment().metadata.namespace.as_deref(),
        "the ServiceMonitor lives beside the Service it selects"
    );
}

#[test]
fn each_overlay_has_its_replicas_and_update_strategy() {
    for rendered in overlays() {
        let spec = rendered.deployment().spec.as_ref().unwrap();
        let strategy = spec.strategy.as_ref().and_then(|s| s.type_.as_deref());
        let budget = rendered.budget().spec.as_ref().unwrap();
        if rendered.name.ends_with("sqlite-single") {
            assert_eq!(spec.replicas, Some(1), "SQLite has one writer");
            assert_eq!(strategy, Some("Recreate"));
            assert!(rendered
                .container()
                .env
                .iter()
                .flatten()
                .all(|e| e.name != "BELT_DATABASE_URL"));
            pods::data_dir_is_claimed(&rendered);
        } else {
            assert_eq!(spec.replicas, Some(3));
            assert_eq!(strategy, Some("RollingUpdate"));
            assert_eq!(budget.min_available, Some(IntOrString::Int(2)));
            assert_eq!(budget.max_unavailable, None);
            pods::database_url_comes_from_a_secret(&rendered);
            pods::replicas_spread_over_nodes(&rendered);
            // Console sessions and sign-ins under way are in the database
            // (docs/console.md#sign-in-and-sessions): any replica serves any browser, and an
            // affinity would only unbalance the replicas behind a NAT or an ingress.
            let service = rendered.service().spec.as_ref().unwrap();
            assert_eq!(service.session_affinity, None);
        }
    }
}
