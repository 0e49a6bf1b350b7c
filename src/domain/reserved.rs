//! The environment variables the platform owns in a replica (docs/api.md#reserved-names): what
//! the replica is told about itself and its topics (`src/domain/replica.rs`), what the local
//! runtime adds, and what decides which code the platform's own host process loads. A belt's
//! `extraEnv` may set none of them: an input topic, a consumer group or a bootstrap address of
//! the user's choosing would let one project read or commit another's records.

use serde_json::Value;

use super::invalid::Invalid;

/// Whole families the platform owns: its own settings (`BELT_`), the data plane (`KAFKA_`,
/// which covers every SASL or TLS setting the platform may add), the profile store's credentials
/// (`KEYCLOAK_`), and the interpreter and loader of the host process (`PYTHON`, `LD_`), through
/// which a variable would run the belt's code inside it.
pub const RESERVED_PREFIXES: [&str; 5] = ["BELT_", "KAFKA_", "KEYCLOAK_", "PYTHON", "LD_"];

/// Single names the platform sets outside those families.
pub const RESERVED_NAMES: [&str; 11] = [
    "PROJECT_NAME",
    "EVENT_TYPES",
    "OUTPUT_TYPES",
    "PARTITION_OFFSETS",
    "FETCH_PROFILE",
    "PROFILE_TYPE",
    "PROFILE_STORE_URL",
    "DEBUG",
    "PARAMETER",
    "HOME",
    "PATH",
];

/// Whether the platform owns `name`. Compared without case: no near-twin of a platform variable
/// is worth the doubt of which one a library reads. A process environment is `NAME=value`
/// strings, so a name holding `=` is read up to it (`PROJECT_NAME=x` would set `PROJECT_NAME`).
pub fn is_reserved(name: &str) -> bool {
    let name = name
        .split('=')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    RESERVED_NAMES.contains(&name.as_str())
        || RESERVED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

/// The reserved list as a client reads it in an error message.
pub fn reserved_list() -> String {
    RESERVED_PREFIXES
        .iter()
        .map(|prefix| format!("{prefix}*"))
        .chain(RESERVED_NAMES.iter().map(|name| name.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a list of Kubernetes `EnvVar` objects (canonical JSON) sets a reserved name, as the reason
/// for a field the caller names (`extraEnv`, `BELT_EXTRA_ENV`): the index and the name.
pub fn reserved_entry(env: &[Value]) -> Option<(usize, String)> {
    env.iter().enumerate().find_map(|(index, var)| {
        let name = var["name"].as_str().unwrap_or_default();
        is_reserved(name).then(|| (index, name.to_string()))
    })
}

/// A belt's `extraEnv`: refused at its first reserved entry, naming it (`extraEnv[2].name`).
pub fn check_extra_env(env: &[Value]) -> Result<(), Invalid> {
    match reserved_entry(env) {
        None => Ok(()),
        Some((index, name)) => Err(Invalid::field(
            &format!("extraEnv[{index}].name"),
            format_args!(
                "is '{name}', which the platform sets for every replica (reserved: {})",
                reserved_list()
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
