//! Identifiers that arrive in paths. A value of these types is always valid.

use std::fmt;

use super::invalid::Invalid;

/// A belt id: a positive 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BeltId(i64);

impl BeltId {
    /// Parses a path or body value; `parameter` names it in the error (`beltId`, `id`).
    pub fn parse(text: &str, parameter: &str) -> Result<Self, Invalid> {
        match text.trim().parse::<i64>() {
            Ok(n) if n > 0 && !text.trim().starts_with('+') => Ok(BeltId(n)),
            _ => Err(Invalid::field(
                parameter,
                format!("must be a natural number but is '{text}'"),
            )),
        }
    }

    pub fn new(value: i64) -> Option<Self> {
        (value > 0).then_some(BeltId(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The name of every runtime object of this belt (Deployment, ConfigMap, process group).
    pub fn kubernetes_name(self) -> String {
        format!("grnry-belt-{}", self.0)
    }
}

impl fmt::Display for BeltId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A project: a Keycloak client id, so it is restricted to what client ids and URL path segments
/// share without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProjectName(String);

impl ProjectName {
    pub const GLOBAL: &'static str = "global";

    pub fn global() -> Self {
        ProjectName(Self::GLOBAL.to_string())
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let valid = !text.is_empty()
            && text.len() <= 255
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if valid {
            Ok(ProjectName(text.to_string()))
        } else {
            Err(Invalid::field(
                "project",
                format!("must be 1 to 255 letters, digits, '-', '_', '.' or '~' but is '{text}'"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn belt_ids_are_positive_longs() {
        assert_eq!(BeltId::parse("161", "beltId").unwrap().get(), 161);
        assert_eq!(
            BeltId::parse("9223372036854775807", "beltId")
                .unwrap()
                .get(),
            i64::MAX
        );
        for bad in ["0", "-1", "abcd", "", "1.5", "9223372036854775808", "+5"] {
            let err = BeltId::parse(bad, "beltId").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("Parameter 'beltId' must be a natural number but is '{bad}'.")
            );
        }
    }

    #[test]
    fn project_names() {
        assert!(ProjectName::parse("global").is_ok());
        assert!(ProjectName::parse("team-a.prod_1").is_ok());
        assert!(ProjectName::parse("").is_err());
        assert!(ProjectName::parse("a b").is_err());
        assert!(ProjectName::parse(&"x".repeat(256)).is_err());
    }
}
