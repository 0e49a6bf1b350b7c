//! The groups of a body's fields that are checked together: resources (limits and requests), the
//! profile-store credentials, and the code a replica runs (function, requirements, image).

use serde_json::Value;

use super::super::belt::FetchProfile;
use super::super::defaults::{BeltDefaults, DEFAULT_REPLICAS};
use super::super::fields::{describe, Fields};
use super::super::invalid::Invalid;
use super::super::python::{self, ProfileArgument};
use super::super::requirements;
use super::bad;

const MAX_MILLICPU: u64 = 256_000;
const MAX_MEMORY_MI: u64 = 4 * 1024 * 1024;

pub(super) struct Resources {
    pub replicas: u32,
    pub millicpu: u32,
    pub millicpu_requests: u32,
    pub memory: u32,
    pub memory_requests: u32,
}

impl Resources {
    pub fn parse(f: &Fields, defaults: &BeltDefaults) -> Result<Self, Invalid> {
        let replicas = f
            .number("replicas", 1, 50)?
            .map_or(DEFAULT_REPLICAS, |n| n as u32);
        let millicpu = f
            .number("millicpu", 1, MAX_MILLICPU)?
            .map_or(defaults.millicpu, |n| n as u32);
        let memory = f
            .number("memory", 1, MAX_MEMORY_MI)?
            .map_or(defaults.memory, |n| n as u32);
        // Without explicit requests a belt asks for the server default, capped at its own limit, as
        // Kubernetes caps requests at limits.
        let millicpu_requests = request_within_limit(
            f,
            ("millicpuRequests", "millicpu"),
            MAX_MILLICPU,
            defaults.millicpu_requests,
            millicpu,
        )?;
        let memory_requests = request_within_limit(
            f,
            ("memoryRequests", "memory"),
            MAX_MEMORY_MI,
            defaults.memory_requests,
            memory,
        )?;
        Ok(Resources {
            replicas,
            millicpu,
            millicpu_requests,
            memory,
            memory_requests,
        })
    }
}

/// `fetchProfile` and the Profile Store credentials it needs.
pub(super) struct Credentials {
    pub fetch_profile: FetchProfile,
    pub secret: String,
    pub secret_username: String,
    pub secret_password: String,
}

impl Credentials {
    pub fn parse(f: &Fields) -> Result<Self, Invalid> {
        let fetch_profile = parse_fetch_profile(f)?;
        let credentials = Credentials {
            fetch_profile,
            secret: f.text("secret")?,
            secret_username: f.text("secretUsername")?,
            secret_password: f.text("secretPassword")?,
        };
        if fetch_profile.needs_credentials() {
            for (field, value) in [
                ("secret", &credentials.secret),
                ("secretUsername", &credentials.secret_username),
                ("secretPassword", &credentials.secret_password),
            ] {
                if value.trim().is_empty() {
                    return Err(bad(
                        field,
                        format_args!(
                            "must not be empty when fetchProfile is '{}'",
                            fetch_profile.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(credentials)
    }
}

/// What a replica runs: the function, its requirements and the image around them.
pub(super) struct Code {
    pub extractor_fn: String,
    pub requirements_py: String,
    pub extractor_version: String,
    pub image: String,
    pub image_pull_secret: String,
}

impl Code {
    pub fn parse(
        f: &Fields,
        defaults: &BeltDefaults,
        fetch_profile: FetchProfile,
    ) -> Result<Self, Invalid> {
        let extractor_fn = f.string_or("extractorFn", &defaults.extractor_fn)?;
        let profile_argument = if fetch_profile.hands_profile_to_execute() {
            ProfileArgument::Required
        } else {
            ProfileArgument::Optional
        };
        python::check_extractor_fn(&extractor_fn, profile_argument)?;
        let requirements_py = f.text("requirementsPy")?;
        requirements::check_requirements(&requirements_py)
            .map_err(|message| Invalid::field_message("requirementsPy", message))?;
        let extractor_version = f.string_or("extractorVersion", &defaults.extractor_version)?;
        check_image_tag(&extractor_version)?;
        let image = f.string_or("image", &defaults.image)?;
        check_image_name(&image)?;
        let image_pull_secret = f.string_or("imagePullSecret", &defaults.image_pull_secret)?;
        check_dns_subdomain("imagePullSecret", &image_pull_secret)?;
        Ok(Code {
            extractor_fn,
            requirements_py,
            extractor_version,
            image,
            image_pull_secret,
        })
    }
}

fn request_within_limit(
    f: &Fields,
    (field, limit_field): (&str, &str),
    max: u64,
    default: u32,
    limit: u32,
) -> Result<u32, Invalid> {
    match f.number(field, 1, max)? {
        None => Ok(default.min(limit)),
        Some(n) if n > u64::from(limit) => Err(bad(
            field,
            format_args!("must not exceed '{limit_field}' ({limit}) but is '{n}'"),
        )),
        Some(n) => Ok(n as u32),
    }
}

fn parse_fetch_profile(f: &Fields) -> Result<FetchProfile, Invalid> {
    match f.raw("fetchProfile") {
        None => Ok(FetchProfile::False),
        Some(Value::Bool(true)) => Ok(FetchProfile::True),
        Some(Value::Bool(false)) => Ok(FetchProfile::False),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(FetchProfile::False),
        Some(value) => value.as_str().and_then(FetchProfile::parse).ok_or_else(|| {
            bad(
                "fetchProfile",
                format_args!(
                    "must be one of FALSE, TRUE, LAZY, PREFETCH, PREFETCH_WITH_HISTORY but is '{}'",
                    describe(value)
                ),
            )
        }),
    }
}

/// Docker's tag grammar: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_image_tag(tag: &str) -> Result<(), Invalid> {
    if tag.trim().is_empty() {
        return Err(bad("extractorVersion", "must not be empty"));
    }
    let bytes = tag.as_bytes();
    let valid = bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(bad(
            "extractorVersion",
            format_args!(
                "must be an image tag (letters, digits, '_', '.', '-'; at most 128) but is '{tag}'"
            ),
        ))
    }
}

/// An image reference without tag: registry host (with port), path components.
fn check_image_name(image: &str) -> Result<(), Invalid> {
    if image.trim().is_empty() {
        return Err(bad("image", "must not be empty"));
    }
    let valid = image.len() <= 255
        && !image.starts_with(['/', ':', '.', '-'])
        && !image.ends_with(['/', ':', '.', '-'])
        && image.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'_' | b'-' | b'/' | b':')
        });
    if valid {
        Ok(())
    } else {
        Err(bad(
            "image",
            format_args!("must be an image name without tag (lower-case letters, digits, '.', '_', '-', '/', ':') but is '{image}'"),
        ))
    }
}

/// A Kubernetes object name (RFC 1123 subdomain); empty means none.
fn check_dns_subdomain(field: &str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Ok(());
    }
    if super::super::policy::is_object_name(name) {
        Ok(())
    } else {
        Err(bad(
            field,
            format_args!("must be a Kubernetes object name (lower-case letters, digits, '-', '.') but is '{name}'"),
        ))
    }
}
