//! The NetworkPolicies of deploy/base/networkpolicy.yaml, as every overlay renders them. Test-invoke
//! pods: exactly the pods the runtime labels as such and no replica, nothing in, and out only DNS to
//! kube-system and HTTPS to public addresses, with every in-cluster and link-local range (the
//! cloud's metadata endpoint) excepted. Replicas: nothing in.

use std::collections::BTreeMap;

use belt_api::runtime::kubernetes::INVOKE_SELECTOR;
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::objects::Object;
use crate::overlays;

/// Ranges no test pod may reach: private, carrier-grade NAT (some clusters' pod ranges),
/// link-local (the metadata endpoint) and loopback.
const CLOSED: [&str; 6] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
];

fn labels_of_selector(selector: &str) -> BTreeMap<String, String> {
    selector
        .split(',')
        .map(|pair| pair.split_once('=').expect("key=value"))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn port_of(port: &NetworkPolicyPort) -> (String, i32) {
    let number = match port.port {
        Some(IntOrString::Int(number)) => number,
        ref other => panic!("a port by number, not {other:?}"),
    };
    (port.protocol.clone().expect("a protocol"), number)
}

fn is_kube_system(peer: &NetworkPolicyPeer) -> bool {
    let namespaces = peer.namespace_selector.as_ref();
    let labels = namespaces.and_then(|selector| selector.match_labels.as_ref());
    peer.pod_selector.is_none()
        && peer.ip_block.is_none()
        && labels.is_some_and(|labels| {
            labels.len() == 1 && labels["kubernetes.io/metadata.name"] == "kube-system"
        })
}

fn is_public_only(peer: &NetworkPolicyPeer) -> bool {
    let Some(block) = &peer.ip_block else {
        return false;
    };
    let except = block.except.clone().unwrap_or_default();
    peer.namespace_selector.is_none()
        && peer.pod_selector.is_none()
        && block.cidr == "0.0.0.0/0"
        && CLOSED.iter().all(|range| except.iter().any(|e| e == range))
}

/// The policy named `name`, exactly one.
fn policy(objects: &[Object], overlay: &str, name: &str) -> NetworkPolicy {
    let policies: Vec<&NetworkPolicy> = (objects.iter())
        .filter_map(|object| match object {
            Object::NetworkPolicy(policy) => Some(policy),
            _ => None,
        })
        .filter(|policy| policy.metadata.name.as_deref() == Some(name))
        .collect();
    assert_eq!(policies.len(), 1, "{overlay}: one NetworkPolicy {name}");
    policies[0].clone()
}

#[test]
fn test_invoke_pods_reach_only_dns_and_public_https() {
    let invoke_labels = labels_of_selector(INVOKE_SELECTOR);
    for rendered in overlays() {
        let policy = policy(&rendered.objects, &rendered.name, "belt-invoke");
        let spec = policy.spec.expect("a spec");
        // The pods the runtime labels (the name label is the one a replica's differs in).
        let selected = spec.pod_selector.and_then(|s| s.match_labels);
        let selected = selected.expect("matchLabels");
        for (key, value) in &selected {
            assert_eq!(invoke_labels.get(key), Some(value), "{}", rendered.name);
        }
        assert_eq!(selected["app.kubernetes.io/name"], "belt-invoke");
        let types = spec.policy_types.expect("policyTypes");
        assert_eq!(types, ["Ingress", "Egress"], "{}", rendered.name);
        assert!(
            spec.ingress.unwrap_or_default().is_empty(),
            "{}: nothing reaches a test pod",
            rendered.name
        );
        let egress = spec.egress.expect("egress rules");
        assert_eq!(egress.len(), 2, "{}", rendered.name);
        for rule in egress {
            let peers = rule.to.expect("every rule names where to");
            let ports: Vec<(String, i32)> =
                rule.ports.expect("ports").iter().map(port_of).collect();
            assert_eq!(peers.len(), 1, "{}", rendered.name);
            if is_kube_system(&peers[0]) {
                assert_eq!(ports, [("UDP".into(), 53), ("TCP".into(), 53)]);
            } else {
                assert!(
                    is_public_only(&peers[0]),
                    "{}: {:?}",
                    rendered.name,
                    peers[0]
                );
                assert_eq!(ports, [("TCP".into(), 443)]);
            }
        }
    }
}

#[test]
fn nothing_opens_a_connection_to_a_belts_replica() {
    for rendered in overlays() {
        let spec = policy(&rendered.objects, &rendered.name, "belt-replicas")
            .spec
            .expect("a spec");
        // A replica's name label (render.rs `selector`), which test-invoke pods do not carry.
        let selected = spec.pod_selector.and_then(|s| s.match_labels);
        let wanted = BTreeMap::from([("app.kubernetes.io/name".to_string(), "belt".to_string())]);
        assert_eq!(selected, Some(wanted), "{}", rendered.name);
        assert_eq!(spec.policy_types.expect("policyTypes"), ["Ingress"]);
        assert!(
            spec.ingress.unwrap_or_default().is_empty(),
            "{}",
            rendered.name
        );
    }
}
