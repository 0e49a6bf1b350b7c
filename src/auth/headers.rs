//! Finding the bearer token in request headers.

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};

/// Non-standard header that some existing clients send instead of
/// `Authorization`, with or without the `Bearer` scheme.
const AUTHENTICATION: &str = "authentication";

/// The raw JWT from `Authorization: Bearer <jwt>`, `Authentication: <jwt>` or
/// `Authentication: Bearer <jwt>` (scheme case-insensitive). `Authorization`
/// wins when both are usable; a non-bearer `Authorization` (e.g. `Basic`)
/// falls through to `Authentication`.
pub fn token_from_headers(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| token_from_value(value, false))
        .or_else(|| {
            headers
                .get(AUTHENTICATION)
                .and_then(|value| token_from_value(value, true))
        })
}

fn token_from_value(value: &HeaderValue, scheme_optional: bool) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let token = match strip_bearer(value) {
        Some(token) => token,
        None if scheme_optional && !value.eq_ignore_ascii_case("bearer") => value,
        None => return None,
    };
    // A JWT never contains whitespace; anything that does is another scheme
    // (`Basic abc`) or garbage, and is better reported as a missing token.
    (!token.is_empty() && !token.contains(char::is_whitespace)).then_some(token)
}

fn strip_bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn token(pairs: &[(&'static str, &str)]) -> Option<String> {
        token_from_headers(&headers(pairs)).map(str::to_owned)
    }

    #[test]
    fn authorization_bearer_any_case() {
        for value in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER  a.b.c ",
            "Bearer\ta.b.c",
        ] {
            assert_eq!(
                token(&[("authorization", value)]).as_deref(),
                Some("a.b.c"),
                "{value}"
            );
        }
    }

    #[test]
    fn authentication_with_or_without_scheme() {
        assert_eq!(
            token(&[("authentication", "a.b.c")]).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            token(&[("Authentication", "Bearer a.b.c")]).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            token(&[("authentication", "bEaReR a.b.c")]).as_deref(),
            Some("a.b.c")
        );
    }

    #[test]
    fn authorization_wins_and_non_bearer_falls_through() {
        let both = [("authorization", "Bearer one"), ("authentication", "two")];
        assert_eq!(token(&both).as_deref(), Some("one"));
        let basic = [
            ("authorization", "Basic dXNlcjpwdw=="),
            ("authentication", "two"),
        ];
        assert_eq!(token(&basic).as_deref(), Some("two"));
    }

    #[test]
    fn missing_or_unusable() {
        assert_eq!(token(&[]), None);
        assert_eq!(token(&[("authorization", "a.b.c")]), None); // scheme required here
        assert_eq!(token(&[("authorization", "Basic dXNlcjpwdw==")]), None);
        assert_eq!(token(&[("authorization", "Bearer")]), None);
        assert_eq!(token(&[("authorization", "Bearer   ")]), None);
        assert_eq!(token(&[("authentication", "Bearer")]), None);
        assert_eq!(token(&[("authentication", "Basic abc")]), None);
        assert_eq!(token(&[("authentication", "")]), None);
        assert_eq!(token(&[("authorization", "Bearer a b")]), None);
    }
}
