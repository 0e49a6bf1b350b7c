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

mod volumes;

pub use volumes::{check_env, check_volume_mounts, is_object_name};

use super::belt::BeltSpec;
use super::invalid::Invalid;
use super::kube_lists::{self, KubeList};
use super::settings::DefaultSettings;

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
        let types = allowed_volume_types(volume_types)?;
        let mut image_list: Vec<String> = listed(images).map(String::from).collect();
        let mut unqualified_images = false;
        if image_list.is_empty() {
            match default_image.rsplit_once('/') {
                Some((path, _)) => image_list.push(format!("{path}/")),
                None => unqualified_images = true,
            }
        }
        let url_list = allowed_requirement_urls(requirement_urls)?;
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
                // pip's `--only-binary=:all:` does not apply to a direct URL: an sdist named by
                // its URL is built, running its setup code where the build runs.
                if !url.raw().path().ends_with(".whl") {
                    return Err(format!(
                        "line {} installs '{}' from a URL that is not a wheel (.whl); only wheels \
                         are installed, since a source distribution runs its own code to build",
                        index + 1,
                        parsed.name,
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The entries of a comma-list setting, trimmed, without empty ones.
fn listed(items: &[String]) -> impl Iterator<Item = &str> {
    items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
}

/// `BELT_ALLOWED_VOLUME_TYPES`: only the restricted standard's types, never `hostPath`.
fn allowed_volume_types(volume_types: &[String]) -> Result<BTreeSet<String>, String> {
    let mut types = BTreeSet::new();
    for kind in listed(volume_types) {
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
    Ok(types)
}

/// `BELT_ALLOWED_REQUIREMENT_URLS`: normalized URL prefixes ending in `/`.
fn allowed_requirement_urls(requirement_urls: &[String]) -> Result<Vec<String>, String> {
    let mut url_list = Vec::new();
    for url in listed(requirement_urls) {
        // Without the slash, `https://pypi.internal` would also admit `https://pypi.internal.evil.com`.
        let parsed = url::Url::parse(url).ok();
        if !url.ends_with('/') || parsed.is_none_or(|u| u.as_str() != url) {
            return Err(format!(
                "BELT_ALLOWED_REQUIREMENT_URLS: '{url}' must be a normalized URL ending in '/'"
            ));
        }
        url_list.push(url.to_string());
    }
    Ok(url_list)
}

#[cfg(test)]
mod tests;
