//! The token claims the service reads, in the shape Keycloak issues them.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Claims of a verified access token. Every field is optional so tokens from
/// other IdPs still parse; unknown claims are ignored.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Keycloak realm roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_access: Option<Access>,
    /// Keycloak client roles, keyed by client id.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "HashMap::is_empty"
    )]
    pub resource_access: HashMap<String, Access>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Not-before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued-at, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audiences. The JWT spec allows a single string or an array; both
    /// deserialize into this list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// An ID token's `nonce`: the console's sign-in checks it is the one it sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// A role list, as found under `realm_access` and `resource_access.<client>`.
#[derive(Debug, Clone, Deserialize, Serialize, Default, PartialEq)]
pub struct Access {
    #[serde(default, deserialize_with = "null_as_default")]
    pub roles: Vec<String>,
}

impl Claims {
    /// Whether `resource_access.<client>.roles` contains `role`.
    pub fn has_client_role(&self, client: &str, role: &str) -> bool {
        self.resource_access
            .get(client)
            .is_some_and(|access| access.has(role))
    }

    /// Whether `role` is held as a realm role or as a role of any client.
    pub fn holds_any_role(&self, role: &str) -> bool {
        self.realm_access.as_ref().is_some_and(|a| a.has(role))
            || self.resource_access.values().any(|a| a.has(role))
    }

    /// A human-readable name: `name`, else `preferred_username`, else `sub`,
    /// else the empty string.
    pub fn display_name(&self) -> String {
        [&self.name, &self.preferred_username, &self.sub]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default()
    }

    /// The e-mail address, or the empty string.
    pub fn email(&self) -> String {
        self.email.clone().unwrap_or_default()
    }
}

impl Access {
    fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Some IdPs send `null` instead of leaving a claim out; treat both alike
/// rather than rejecting an otherwise valid token.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

fn one_or_many<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(aud)) => vec![aud],
        Some(OneOrMany::Many(auds)) => auds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keycloak_claims() -> Claims {
        serde_json::from_value(json!({
            "sub": "f3b1", "preferred_username": "ada", "email": "ada@example.com",
            "realm_access": { "roles": ["offline_access", "belt-admin"] },
            "resource_access": {
                "belt-api": { "roles": ["editor"] },
                "account": { "roles": ["manage-account"] }
            },
            "aud": "account", "exp": 1700000000, "typ": "Bearer", "scope": "openid"
        }))
        .unwrap()
    }

    #[test]
    fn parses_keycloak_shape_and_ignores_unknown_claims() {
        let claims = keycloak_claims();
        assert_eq!(claims.aud, vec!["account"]);
        assert_eq!(claims.exp, Some(1_700_000_000));
        assert!(claims.has_client_role("belt-api", "editor"));
        assert!(!claims.has_client_role("belt-api", "manage-account"));
        assert!(!claims.has_client_role("nope", "editor"));
        assert!(claims.holds_any_role("belt-admin"));
        assert!(claims.holds_any_role("manage-account"));
        assert!(!claims.holds_any_role("root"));
    }

    #[test]
    fn tolerates_nulls_and_audience_arrays() {
        let claims: Claims = serde_json::from_value(json!({
            "aud": ["a", "b"], "resource_access": null, "realm_access": { "roles": null },
            "email": null
        }))
        .unwrap();
        assert_eq!(claims.aud, vec!["a", "b"]);
        assert!(claims.resource_access.is_empty());
        assert_eq!(claims.realm_access.unwrap().roles, Vec::<String>::new());
        assert_eq!(claims.email, None);
    }

    #[test]
    fn display_name_and_email_fallbacks() {
        let mut claims = keycloak_claims();
        assert_eq!(claims.display_name(), "ada");
        assert_eq!(claims.email(), "ada@example.com");
        claims.name = Some("Ada Lovelace".into());
        assert_eq!(claims.display_name(), "Ada Lovelace");
        claims.name = None;
        claims.preferred_username = None;
        assert_eq!(claims.display_name(), "f3b1");
        assert_eq!(Claims::default().display_name(), "");
        assert_eq!(Claims::default().email(), "");
    }

    #[test]
    fn serializes_without_empty_fields() {
        let claims = Claims {
            sub: Some("x".into()),
            ..Claims::default()
        };
        assert_eq!(
            serde_json::to_value(&claims).unwrap(),
            json!({ "sub": "x" })
        );
    }
}
