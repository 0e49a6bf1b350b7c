//! The workload policy: what a belt may ask of the cluster it runs on (docs/workload-policy.md).
//!
//! All belts share one namespace, so a belt document is user input aimed at shared
//! infrastructure. The policy is checked when a belt is created or replaced (a 400 naming the
//! field) and again on the objects the Kubernetes runtime renders, so a belt stored before the
//! policy existed, or written to the store by hand, cannot slip through either. Pure: the one
//! check that needs the cluster (whose Secrets a project may use) is the runtime's.

use std::collections::BTreeSet;
use std::str::FromStr;

use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use serde_json::Value;

use super::belt::BeltSpec;
use super::defaults::DefaultSettings;
use super::invalid::Invalid;
use super::kube_lists::{self, KubeList};

/// The volume types the Kubernetes "restricted" Pod Security Standard admits. `csi` is left out
/// because its `nodePublishSecretRef` names a Secret this policy would have to follow too.
pub const RESTRICTED_VOLUME_TYPES: [&str; 7] = [
    "configMap",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// `BELT_ALLOWED_VOLUME_TYPES`' default.
pub const DEFAULT_VOLUME_TYPES: &str = "configMap,emptyDir,persistentVolumeClaim,secret,projected";

/// Sources a `projected` volume may combine. `serviceAccountToken` is not among them: it would
/// hand the pod the token that `automountServiceAccountToken: false` keeps away.
const PROJECTED_SOURCES: [&str; 3] = ["configMap", "secret", "downwardAPI"];

/// The ConfigMaps (and Deployments) belt-api itself creates: every belt's code. A belt may not
/// mount or read another belt's.
pub const OWN_OBJECT_PREFIX: &str = "grnry-belt-";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadPolicy {
    volume_types: BTreeSet<String>,
    /// Exact image names, or prefixes ending in `/`.
    images: Vec<String>,
    /// Names without registry or path (`grnry-belt`, `custom-grnry-belt`): allowed when nothing
    /// is configured and `BELT_IMAGE_NAME` is such a name itself.
    unqualified_images: bool,
    /// URL prefixes (ending in `/`) a `name @ url` requirement may point into; empty: none.
    requirement_urls: Vec<String>,
}

impl Default for WorkloadPolicy {
    /// The policy of a default configuration: the default volume types, images named like the
    /// default belt image `grnry-belt` (without registry or path), no URL requirements.
    fn default() -> Self {
        let volume_types: Vec<String> = DEFAULT_VOLUME_TYPES.split(',').map(String::from).collect();
        WorkloadPolicy::new(&volume_types, &[], &[], "grnry-belt")
            .expect("the default policy is valid")
    }
}

impl WorkloadPolicy {
    /// From the settings; each error names its variable. An empty `images` list allows the images
    /// next to `default_image` (`BELT_IMAGE_NAME`): under its registry path, or, when it has none,
    /// every name without one. `default_image` must always be allowed.
    pub fn new(
        volume_types: &[String],
        images: &[String],
        requirement_urls: &[String],
        default_image: &str,
    ) -> Result<Self, String> {
        let mut types = BTreeSet::new();
        for kind in volume_types
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            if kind == "hostPath" {
                return Err("BELT_ALLOWED_VOLUME_TYPES: 'hostPath' is never allowed (it exposes the node's file system)".into());
            }
            if !RESTRICTED_VOLUME_TYPES.contains(&kind) {
                return Err(format!(
                    "BELT_ALLOWED_VOLUME_TYPES: '{kind}' is not one of {} (the restricted Pod Security Standard's volume types, without csi)",
                    RESTRICTED_VOLUME_TYPES.join(", ")
                ));
            }
            types.insert(kind.to_string());
        }
        let mut image_list: Vec<String> = images
            .iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect();
        let mut unqualified_images = false;
        if image_list.is_empty() {
            match default_image.rsplit_once('/') {
                Some((path, _)) => image_list.push(format!("{path}/")),
                None => unqualified_images = true,
            }
        }
        let mut url_list = Vec::new();
        for url in requirement_urls
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
        {
            // Without the slash, `https://pypi.internal` would also admit `https://pypi.internal.evil.com`.
            let parsed = url::Url::parse(url).ok();
            if !url.ends_with('/') || parsed.is_none_or(|u| u.as_str() != url) {
                return Err(format!(
                    "BELT_ALLOWED_REQUIREMENT_URLS: '{url}' must be a normalized URL ending in '/'"
                ));
            }
            url_list.push(url.to_string());
        }
        let policy = WorkloadPolicy {
            volume_types: types,
            images: image_list,
            unqualified_images,
            requirement_urls: url_list,
        };
        policy.check_image_name(default_image).map_err(|reason| {
            format!("BELT_ALLOWED_IMAGES does not allow BELT_IMAGE_NAME: {reason}")
        })?;
        Ok(policy)
    }

    /// From `serve`'s flags. The server-side defaults for belt fields must pass the policy
    /// themselves, or every belt that takes them would be refused.
    pub fn from_config(settings: impl Into<DefaultSettings>) -> Result<Self, String> {
        let config = &settings.into();
        let policy = WorkloadPolicy::new(
            &config.allowed_volume_types,
            &config.allowed_images,
            &config.allowed_requirement_urls,
            &config.image_name,
        )?;
        let decoded = |kind: KubeList, raw: &Option<String>| {
            let value = raw.clone().map(Value::String).unwrap_or(Value::Null);
            kube_lists::decode(kind, &value)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        policy
            .check_volumes(&decoded(KubeList::Volumes, &config.volumes), None)
            .map_err(|reason| format!("BELT_VOLUMES: {reason}"))?;
        check_volume_mounts(&decoded(KubeList::VolumeMounts, &config.volume_mounts))
            .map_err(|reason| format!("BELT_VOLUME_MOUNTS: {reason}"))?;
        check_env(&decoded(KubeList::ExtraEnv, &config.extra_env), None)
            .map_err(|reason| format!("BELT_EXTRA_ENV: {reason}"))?;
        Ok(policy)
    }

    /// Every rule a belt document itself can break, on a parsed spec; the error names the field.
    pub fn check_spec(&self, spec: &BeltSpec) -> Result<(), Invalid> {
        let bad = |field: &str, reason: String| Invalid::field(field, reason);
        self.check_image_name(&spec.image)
            .map_err(|r| bad("image", r))?;
        self.check_requirements(&spec.requirements_py)
            .map_err(|r| bad("requirementsPy", r))?;
        self.check_volumes(spec.volumes.as_deref().unwrap_or_default(), None)
            .map_err(|r| bad("volumes", r))?;
        check_volume_mounts(spec.volume_mounts.as_deref().unwrap_or_default())
            .map_err(|r| bad("volumeMounts", r))?;
        check_env(spec.extra_env.as_deref().unwrap_or_default(), None)
            .map_err(|r| bad("extraEnv", r))?;
        // The profile-store Secret becomes a `secretKeyRef` only when credentials are fetched.
        if spec.fetch_profile.needs_credentials() && !is_object_name(&spec.secret) {
            return Err(bad(
                "secret",
                format!(
                    "must be the name of a Secret (lower-case letters, digits, '-', '.') but is '{}'",
                    spec.secret
                ),
            ));
        }
        Ok(())
    }

    /// An image name without tag: one of the allowed names, or under an allowed prefix.
    pub fn check_image_name(&self, image: &str) -> Result<(), String> {
        // Docker path components are never empty, `.` or `..`: refuse anything that tries to walk
        // out of an allowed prefix.
        let walks = image
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
        let unqualified = !image.contains(['/', ':']);
        let allowed = !walks
            && (self.unqualified_images && unqualified
                || self.images.iter().any(|entry| {
                    if entry.ends_with('/') {
                        image.starts_with(entry.as_str())
                    } else {
                        image == entry
                    }
                }));
        if allowed {
            return Ok(());
        }
        let mut allowed_list = self.images.clone();
        if self.unqualified_images {
            allowed_list.push("names without registry or path".into());
        }
        Err(format!(
            "names image '{image}', which the workload policy does not allow (allowed: {})",
            allowed_list.join(", ")
        ))
    }

    /// `name @ url` requirements (which covers `file:` and relative paths) only into allowed URL
    /// prefixes. Lines that are not requirements at all are the requirements check's business.
    pub fn check_requirements(&self, text: &str) -> Result<(), String> {
        for (index, line) in text.lines().enumerate() {
            let requirement = super::requirements::strip_comment(line).trim();
            if requirement.is_empty() {
                continue;
            }
            let Ok(parsed) = Requirement::<VerbatimUrl>::from_str(requirement) else {
                return Err(format!(
                    "line {} is not a pip requirement specifier",
                    index + 1
                ));
            };
            if let Some(VersionOrUrl::Url(url)) = &parsed.version_or_url {
                let given = url.given().unwrap_or_default();
                let normalized = url.raw().as_str();
                let allowed = self.requirement_urls.iter().any(|prefix| {
                    normalized.starts_with(prefix.as_str()) && given.starts_with(prefix.as_str())
                });
                if !allowed {
                    return Err(format!(
                        "line {} installs '{}' from a URL or file, which the workload policy does not allow{}",
                        index + 1,
                        parsed.name,
                        if self.requirement_urls.is_empty() {
                            String::from(" (name a package and a version instead)")
                        } else {
                            format!(" outside {}", self.requirement_urls.join(", "))
                        }
                    ));
                }
            }
        }
        Ok(())
    }

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
            let source = object.get(kind).unwrap_or(&Value::Null);
            match kind {
                "secret" => secret_name(&source["secretName"], index)?,
                "configMap" => config_map_name(&source["name"], index, own_config_map)?,
                "projected" => {
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
                            "configMap" => config_map_name(
                                &projection["configMap"]["name"],
                                index,
                                own_config_map,
                            )?,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn host_path_is_never_allowed_even_when_configured() {
        let err = WorkloadPolicy::new(&strings(&["hostPath"]), &[], &[], "grnry-belt").unwrap_err();
        assert!(
            err.contains("BELT_ALLOWED_VOLUME_TYPES") && err.contains("hostPath"),
            "{err}"
        );
        let err = WorkloadPolicy::new(&strings(&["nfs"]), &[], &[], "grnry-belt").unwrap_err();
        assert!(err.contains("'nfs'"), "{err}");
    }

    #[test]
    fn the_default_volume_types() {
        let policy = WorkloadPolicy::default();
        for kind in [
            "configMap",
            "emptyDir",
            "persistentVolumeClaim",
            "secret",
            "projected",
        ] {
            let volume = json!({"name": "v", kind: {"name": "x", "secretName": "x", "claimName": "c", "sources": []}});
            assert_eq!(policy.check_volumes(&[volume], None), Ok(()), "{kind}");
        }
        for kind in ["hostPath", "nfs", "downwardAPI", "csi", "iscsi"] {
            let volume = json!({"name": "v", kind: {"path": "/"}});
            assert!(policy.check_volumes(&[volume], None).is_err(), "{kind}");
        }
        assert!(policy
            .check_volumes(
                &[json!({"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}})],
                None
            )
            .is_err());
    }

    #[test]
    fn projected_volumes_carry_no_service_account_token() {
        let policy = WorkloadPolicy::default();
        let token = json!({"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}});
        assert!(policy
            .check_volumes(&[token], None)
            .unwrap_err()
            .contains("service-account token"));
        let fine = json!({"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}, {"configMap": {"name": "c"}}]}});
        assert_eq!(policy.check_volumes(&[fine], None), Ok(()));
    }

    #[test]
    fn another_belts_code_is_out_of_reach() {
        let policy = WorkloadPolicy::default();
        let theirs = json!({"name": "v", "configMap": {"name": "grnry-belt-7"}});
        assert!(policy
            .check_volumes(std::slice::from_ref(&theirs), None)
            .is_err());
        assert_eq!(
            policy.check_volumes(&[theirs], Some("grnry-belt-7")),
            Ok(())
        );
        let env = json!({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "grnry-belt-7", "key": "callback.py"}}});
        assert!(check_env(&[env], None).is_err());
    }

    #[test]
    fn images_exact_or_under_a_prefix() {
        let policy = WorkloadPolicy::new(
            &strings(&["configMap"]),
            &strings(&["registry.example.com/belts/", "grnry-belt"]),
            &[],
            "grnry-belt",
        )
        .unwrap();
        for ok in [
            "grnry-belt",
            "registry.example.com/belts/x",
            "registry.example.com/belts/team/x",
        ] {
            assert_eq!(policy.check_image_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "grnry-belt-evil",
            "docker.io/library/grnry-belt",
            "registry.example.com/beltsx",
            "registry.example.com/belts/../evil",
            "registry.example.com/belts//x",
            "evil.example.com/belts/x",
        ] {
            assert!(policy.check_image_name(bad).is_err(), "{bad}");
        }
        let err = WorkloadPolicy::new(&[], &strings(&["other/"]), &[], "grnry-belt").unwrap_err();
        assert!(err.contains("BELT_IMAGE_NAME"), "{err}");
    }

    #[test]
    fn by_default_images_next_to_the_belt_image() {
        // `grnry-belt` has no registry: names without one (the v2 PUT example's
        // `custom-grnry-belt`), nothing from a registry or a Docker Hub account.
        let policy = WorkloadPolicy::default();
        for ok in ["grnry-belt", "custom-grnry-belt"] {
            assert_eq!(policy.check_image_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "evil/miner",
            "evil.example.com/miner",
            "docker.io/library/grnry-belt",
            "localhost:5000",
        ] {
            assert!(policy.check_image_name(bad).is_err(), "{bad}");
        }
        let qualified =
            WorkloadPolicy::new(&[], &[], &[], "registry.example.com/belts/grnry-belt").unwrap();
        assert_eq!(
            qualified.check_image_name("registry.example.com/belts/custom"),
            Ok(())
        );
        for bad in ["grnry-belt", "registry.example.com/other/x"] {
            assert!(qualified.check_image_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_and_file_requirements_are_refused_unless_configured() {
        let policy = WorkloadPolicy::default();
        assert_eq!(
            policy.check_requirements("package1==0.0.0\r\npackage2\n# c\n"),
            Ok(())
        );
        for line in [
            "pkg @ file:///etc/passwd",
            "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
            "pkg @ git+https://github.com/org/pkg.git@v1.0",
            "ok==1\npkg@https://example.com/p.whl # note",
        ] {
            let err = policy.check_requirements(line).unwrap_err();
            assert!(err.contains("URL or file"), "{line}: {err}");
        }
        let configured = WorkloadPolicy::new(
            &[],
            &[],
            &strings(&["https://pypi.internal/wheels/"]),
            "grnry-belt",
        )
        .unwrap();
        assert_eq!(
            configured
                .check_requirements("pkg @ https://pypi.internal/wheels/pkg-1.0-py3-none-any.whl"),
            Ok(())
        );
        for line in [
            "pkg @ https://pypi.internal/wheels/../secret/pkg.whl",
            "pkg @ https://pypi.internal.evil.com/wheels/pkg.whl",
            "pkg @ file:///pypi.internal/wheels/pkg.whl",
        ] {
            assert!(configured.check_requirements(line).is_err(), "{line}");
        }
        for bad in ["https://pypi.internal", "not a url/"] {
            assert!(
                WorkloadPolicy::new(&[], &[], &strings(&[bad]), "grnry-belt").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn server_defaults_that_break_the_policy_stop_the_server() {
        use crate::domain::defaults::{settings_for_tests, DefaultSettings};
        let with = |change: fn(&mut DefaultSettings)| {
            let mut settings = settings_for_tests();
            change(&mut settings);
            settings
        };
        let cases: [(DefaultSettings, &str); 4] = [
            (
                with(|s| s.volumes = Some(r#"[{"name": "r", "hostPath": {"path": "/"}}]"#.into())),
                "BELT_VOLUMES",
            ),
            (
                with(|s| {
                    s.extra_env = Some(
                        r#"[{"name": "C", "valueFrom": {"configMapKeyRef": {"name": "grnry-belt-1", "key": "k"}}}]"#.into(),
                    )
                }),
                "BELT_EXTRA_ENV",
            ),
            (
                with(|s| s.allowed_volume_types = strings(&["emptyDir", "hostPath"])),
                "BELT_ALLOWED_VOLUME_TYPES",
            ),
            (
                with(|s| s.allowed_images = strings(&["registry.example.com/"])),
                "BELT_IMAGE_NAME",
            ),
        ];
        for (settings, variable) in cases {
            let err = WorkloadPolicy::from_config(settings.clone()).unwrap_err();
            assert!(err.contains(variable), "{settings:?}: {err}");
        }
        assert_eq!(
            WorkloadPolicy::from_config(settings_for_tests()),
            Ok(WorkloadPolicy::default())
        );
    }

    #[test]
    fn bidirectional_mounts_are_refused() {
        let mount = json!({"name": "v", "mountPath": "/x", "mountPropagation": "Bidirectional"});
        assert!(check_volume_mounts(&[mount]).is_err());
        assert_eq!(
            check_volume_mounts(&[json!({"name": "v", "mountPath": "/x"})]),
            Ok(())
        );
    }
}
