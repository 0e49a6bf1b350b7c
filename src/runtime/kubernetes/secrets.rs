//! Whether a belt's project may use every Secret its pod reads: only Secrets labelled
//! `belt.grnry.io/project=<project>` (docs/workload-policy.md). One metadata GET per Secret, so
//! belt-api never holds a Secret's data.

use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{PodSpec, Secret};
use kube::core::PartialObjectMeta;
use kube::{Api, ResourceExt};

use super::errors::{runtime_error, within};
use super::{guard, render};
use crate::domain::replica::ReplicaSpec;
use crate::runtime::RuntimeError;

/// `Ok(Some(reason))`: the pod names a Secret the belt's project may not use. `platform` are the
/// Secrets belt-api itself gives the pod: its Kafka credentials, which Strimzi creates later and
/// labels for no project, so no other belt can name them; and the cluster's CA, which is public.
pub(super) async fn refused(
    api: &Api<Secret>,
    call_timeout: Duration,
    namespace: &str,
    spec: &ReplicaSpec,
    (pod, platform): (&PodSpec, &[&str]),
) -> Result<Option<String>, RuntimeError> {
    let mut names: Vec<String> = guard::secrets_of(pod).into_iter().collect();
    names.retain(|name| !platform.contains(&name.as_str()));
    if names.is_empty() {
        return Ok(None);
    }
    let project = spec.project.as_str();
    let label = render::LABEL_PROJECT;
    if !render::is_label_value(project) {
        return Ok(Some(format!(
            "the belt names Secret(s) {}, but project '{project}' cannot be a label value, so no Secret can be labelled {label}={project}",
            names.join(", ")
        )));
    }
    let answers = join_all(
        names
            .iter()
            .map(|name| within(call_timeout, api.get_metadata_opt(name))),
    )
    .await;
    let mut reasons = Vec::new();
    for (name, answer) in names.iter().zip(answers) {
        if let Some(reason) = reason_of(name, answer, namespace, project)? {
            reasons.push(reason);
        }
    }
    Ok((!reasons.is_empty()).then(|| reasons.join("; ")))
}

/// Why one Secret may not be used, from the answer to its metadata GET; `None`: it may.
fn reason_of(
    name: &str,
    answer: Result<Option<PartialObjectMeta<Secret>>, kube::Error>,
    namespace: &str,
    project: &str,
) -> Result<Option<String>, RuntimeError> {
    let label = render::LABEL_PROJECT;
    match answer {
        Ok(None) => Ok(Some(format!(
            "Secret '{name}' does not exist in namespace '{namespace}'"
        ))),
        Ok(Some(secret)) if secret.labels().get(label).map(String::as_str) != Some(project) => {
            Ok(Some(format!(
                "Secret '{name}' is not labelled {label}={project}, so belts of project '{project}' may not use it"
            )))
        }
        Ok(Some(_)) => Ok(None),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(Some(format!(
            "belt-api may not read Secret '{name}' (it needs 'get' on secrets in namespace '{namespace}')"
        ))),
        Err(err) => Err(runtime_error(err)),
    }
}
