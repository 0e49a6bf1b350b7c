//! The reading of objects can fail: a field no type knows, a kind deploy/ does not hold, a field
//! of the ServiceMonitor it does not expect. And it accepts the RBAC kinds deploy/base/rbac.yaml
//! brings.

use crate::objects::{parse, Object};
use crate::render::documents;

fn one(yaml: &str) -> Result<Object, String> {
    let values = documents(yaml);
    assert_eq!(values.len(), 1);
    parse(&values[0])
}

const DEPLOYMENT: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: belt-api}
spec:
  replicas: 1
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec:
      containers:
        - name: belt-api
          image: belt-api
          securityContext: {readOnlyRootFilesystem: true}
";

#[test]
fn a_well_spelled_deployment_reads() {
    let object = one(DEPLOYMENT).unwrap();
    assert_eq!(object.kind(), "Deployment");
}

#[test]
fn a_misspelled_or_misplaced_field_is_refused() {
    for (right, wrong) in [
        ("replicas: 1", "replica: 1"),
        ("readOnlyRootFilesystem", "readOnlyRootFileSystem"),
        ("image: belt-api", "image: belt-api\n          probe: {}"),
    ] {
        let yaml = DEPLOYMENT.replace(right, wrong);
        let error = one(&yaml).expect_err(&yaml);
        assert!(error.contains("dropped"), "{error}");
    }
}

#[test]
fn an_unknown_kind_or_version_is_refused() {
    let budget = "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: a}\n";
    assert!(one(budget).unwrap_err().contains("unknown kind"));
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: a}\n";
    assert!(one(secret).unwrap_err().contains("unknown kind"));
}

#[test]
fn the_rbac_kinds_read_as_their_types() {
    let yaml = "
apiVersion: v1
kind: ServiceAccount
metadata: {name: belt-api, namespace: belts}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: belt-api, namespace: belts}
rules:
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list, watch, patch, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: belt-api, namespace: belts}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: belt-api}
subjects:
  - {kind: ServiceAccount, name: belt-api, namespace: belts}
";
    let kinds: Vec<_> = documents(yaml)
        .iter()
        .map(|value| parse(value).unwrap().kind())
        .collect();
    assert_eq!(kinds, ["ServiceAccount", "Role", "RoleBinding"]);
    let misspelled = yaml.replace("verbs:", "verb:");
    let refused = documents(&misspelled).iter().map(parse).any(|r| r.is_err());
    assert!(refused, "a Role with `verb:` must not read");
}

#[test]
fn a_service_monitor_holds_only_the_fields_deploy_uses() {
    let monitor = "
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: belt-api}
spec:
  selector: {matchLabels: {app: a}}
  endpoints:
    - {port: http, path: /metrics, interval: 30s, scrapeTimeout: 10s}
";
    assert_eq!(one(monitor).unwrap().kind(), "ServiceMonitor");
    let wrong = monitor.replace("path:", "pathh:");
    assert!(one(&wrong).unwrap_err().contains("pathh"));
}
