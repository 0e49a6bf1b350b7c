//! Absolute `_links`. The host comes from `Host`, or from `X-Forwarded-Host`/`Forwarded` when a
//! proxy in `BELT_TRUSTED_HOSTS` set it; an untrusted forwarded host is refused rather than echoed
//! into links (it would let anyone point clients elsewhere).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::uri::Authority;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::state::AppState;

/// `scheme://host[:port]`, no trailing slash.
#[derive(Debug)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    pub fn href(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }
}

fn first_value<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| v.split(',').next().map(str::trim).filter(|v| !v.is_empty()))
            .map_err(|_| ApiError::BadHeader(format!("Header '{name}' is not valid text."))),
    }
}

/// `host=` and `proto=` of the first element of a `Forwarded` header (RFC 7239).
fn forwarded_pair(value: &str) -> (Option<String>, Option<String>) {
    let first = value.split(',').next().unwrap_or_default();
    let mut host = None;
    let mut proto = None;
    for pair in first.split(';') {
        if let Some((key, val)) = pair.trim().split_once('=') {
            let val = val.trim().trim_matches('"').to_string();
            match key.trim().to_ascii_lowercase().as_str() {
                "host" => host = Some(val),
                "proto" => proto = Some(val),
                _ => {}
            }
        }
    }
    (host, proto)
}

fn is_trusted(host: &str, trusted: &[String]) -> bool {
    let bare = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    trusted
        .iter()
        .any(|t| t.eq_ignore_ascii_case(host) || t.eq_ignore_ascii_case(bare))
}

fn valid_authority(header: &str, host: &str) -> Result<(), ApiError> {
    let ok = host
        .parse::<Authority>()
        .is_ok_and(|a| a.as_str() == host && !host.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadHeader(format!(
            "Header '{header}' value '{host}' is not a valid host."
        )))
    }
}

pub fn base_url(headers: &HeaderMap, trusted: &[String]) -> Result<BaseUrl, ApiError> {
    let (forwarded_host, forwarded_proto, header) =
        if let Some(host) = first_value(headers, "x-forwarded-host")? {
            let proto = first_value(headers, "x-forwarded-proto")?.map(str::to_string);
            (Some(host.to_string()), proto, "X-Forwarded-Host")
        } else if let Some(value) = first_value(headers, "forwarded")? {
            let (host, proto) = forwarded_pair(value);
            (host, proto, "Forwarded")
        } else {
            (None, None, "")
        };
    if let Some(host) = forwarded_host {
        valid_authority(header, &host)?;
        if !is_trusted(&host, trusted) {
            return Err(ApiError::BadHeader(format!(
                "Header '{header}' names host '{host}', which is not in BELT_TRUSTED_HOSTS."
            )));
        }
        let scheme = match forwarded_proto.as_deref() {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        return Ok(BaseUrl(format!("{scheme}://{host}")));
    }
    let host = first_value(headers, "host")?.unwrap_or("localhost");
    valid_authority("Host", host)?;
    Ok(BaseUrl(format!("http://{host}")))
}

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        base_url(&parts.headers, &state.trusted_hosts)
    }
}

/// A query string from pairs, form-encoded.
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn host_header_is_used_by_default() {
        let base = base_url(&headers(&[("host", "api.local:8080")]), &[]).unwrap();
        assert_eq!(base.0, "http://api.local:8080");
    }

    #[test]
    fn trusted_forwarded_host_and_proto_win() {
        let trusted = vec!["api.grnry.io".to_string()];
        let base = base_url(
            &headers(&[
                ("host", "10.0.0.1:8080"),
                ("x-forwarded-host", "api.grnry.io"),
                ("x-forwarded-proto", "https"),
            ]),
            &trusted,
        )
        .unwrap();
        assert_eq!(base.0, "https://api.grnry.io");
        let base = base_url(
            &headers(&[(
                "forwarded",
                "for=1.2.3.4;host=\"api.grnry.io:443\";proto=https",
            )]),
            &trusted,
        )
        .unwrap();
        assert_eq!(base.0, "https://api.grnry.io:443");
    }

    #[test]
    fn untrusted_or_malformed_hosts_are_refused() {
        let err = base_url(&headers(&[("x-forwarded-host", "evil.example")]), &[]).unwrap_err();
        assert!(matches!(err, ApiError::BadHeader(_)));
        let err = base_url(&headers(&[("host", "a b")]), &[]).unwrap_err();
        assert!(matches!(err, ApiError::BadHeader(_)));
        let err = base_url(&headers(&[("host", "user@evil")]), &[]).unwrap_err();
        assert!(matches!(err, ApiError::BadHeader(_)));
    }
}
