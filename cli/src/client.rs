//! The HTTP side: where the server is, which project, which token, and the error body turned into
//! a `CliError`. Nothing else in the CLI knows about reqwest's error types.

use std::time::Duration;

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::Method;
use serde_json::Value;

use crate::args::Global;
use crate::config::{self, ConfigFile};
use crate::error::{ApiError, CliError, Result};

/// Every call but a stream gets this bound (a DELETE waits up to 40 s for its teardown).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Client {
    http: reqwest::blocking::Client,
    server: String,
    project: String,
    token: Option<String>,
}

impl Client {
    /// Server, project and token from the flags, else the selected context.
    pub fn from_global(global: &Global) -> Result<Client> {
        let path = match &global.config {
            Some(path) => path.clone(),
            None => config::default_path()?,
        };
        let file = ConfigFile::load(&path)?;
        let context = file.selected(global.context.as_deref())?;
        let server = global
            .server
            .clone()
            .or_else(|| context.map(|c| c.server.clone()))
            .ok_or_else(|| {
                CliError::Other("no server: give --server or `belt config set-context NAME --server URL --project P`".into())
            })?;
        let project = global
            .project
            .clone()
            .or_else(|| context.map(|c| c.project.clone()))
            .unwrap_or_else(|| "global".into());
        let token = match (&global.token, &global.token_command) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(command)) => Some(run_token_command(command)?),
            (None, None) => match context {
                Some(c) if c.token_command.is_some() => Some(run_token_command(
                    c.token_command.as_deref().unwrap_or_default(),
                )?),
                Some(c) => c.token.clone(),
                None => None,
            },
        };
        let http = reqwest::blocking::Client::builder()
            .redirect(same_origin_redirects())
            .timeout(None::<Duration>)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CliError::Other(e.to_string()))?;
        Ok(Client {
            http,
            server: server.trim_end_matches('/').to_string(),
            project,
            token,
        })
    }

    /// `<server><path>`: a route outside any project.
    pub fn server_url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    /// `<server>/projects/<project><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/projects/{}{}", self.server, self.project, path)
    }

    /// A request, bounded unless `stream`; the token goes only to the server's own origin.
    pub fn request(&self, method: Method, url: &str, stream: bool) -> RequestBuilder {
        let mut request = self.http.request(method, url);
        if !stream {
            request = request.timeout(REQUEST_TIMEOUT);
        }
        match &self.token {
            Some(token) if self.on_origin(url).is_ok() => request.bearer_auth(token),
            _ => request,
        }
    }

    /// `link` (absolute, or relative to the server) when it names the server's own origin
    /// (scheme, host and port): a link in an answer is the server's word, and a server that was
    /// tricked or is hostile must not be able to send the token elsewhere.
    pub fn on_origin(&self, link: &str) -> Result<String> {
        let server = reqwest::Url::parse(&self.server)
            .map_err(|e| CliError::Other(format!("bad server URL '{}': {e}", self.server)))?;
        let url = server
            .join(link)
            .map_err(|e| CliError::Other(format!("the server sent a bad link '{link}': {e}")))?;
        if url.origin() != server.origin() {
            return Err(CliError::Other(format!(
                "refusing to follow a link to another origin: '{link}' is not on {} \
                 (the token is sent only to the context's server)",
                server.origin().ascii_serialization()
            )));
        }
        Ok(url.into())
    }

    /// Sends; any answer comes back (the caller decides about 304 and 404), no answer is an error.
    pub fn send(&self, request: RequestBuilder) -> Result<Response> {
        request.send().map_err(transport_error)
    }

    /// Sends and turns an error status into `CliError::Api`.
    pub fn call(&self, request: RequestBuilder) -> Result<Response> {
        let response = self.send(request)?;
        checked(response)
    }

    pub fn get_json(&self, path: &str) -> Result<Value> {
        self.get_url(&self.url(path))
    }

    /// A GET of a URL on the server's origin (a `_links.next`); any other is refused.
    pub fn get_url(&self, url: &str) -> Result<Value> {
        let url = self.on_origin(url)?;
        json_body(self.call(self.request(Method::GET, &url, false))?)
    }

    /// Every item of a paged listing, following `_links.next`, at most `limit`.
    pub fn all_items(&self, first_url: &str, limit: usize) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut next = Some(first_url.to_string());
        while let Some(url) = next.take() {
            let page = self.get_url(&url)?;
            if let Some(list) = page["items"].as_array() {
                items.extend(list.iter().cloned());
            }
            if items.len() >= limit {
                items.truncate(limit);
                break;
            }
            next = page["_links"]["next"]["href"].as_str().map(str::to_string);
        }
        Ok(items)
    }
}

/// Redirects are followed on the origin they start from only: reqwest drops the token when the
/// host or port changes, but not when only the scheme does, and a redirect elsewhere is no
/// answer of the context's server anyway.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if attempt.previous().len() > 10 {
            attempt.error("too many redirects")
        } else if first.is_some_and(|first| first != attempt.url().origin()) {
            let refused = format!(
                "refusing to follow a redirect to another origin: {} (the token is sent only to \
                 the context's server)",
                attempt.url()
            );
            attempt.error(refused)
        } else {
            attempt.follow()
        }
    })
}

pub fn transport_error(e: reqwest::Error) -> CliError {
    if e.is_timeout() {
        CliError::TimedOut(format!("the server did not answer in time: {e}"))
    } else {
        CliError::Unreachable(format!("cannot reach the server: {}", error_chain(&e)))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

pub fn checked(response: Response) -> Result<Response> {
    let status = response.status();
    if status.as_u16() < 400 {
        return Ok(response);
    }
    let text = response.text().unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let message = body["message"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| {
            let reason = status.canonical_reason().unwrap_or("error");
            if text.trim().is_empty() {
                reason.to_string()
            } else {
                format!("{reason}: {}", text.trim())
            }
        });
    Err(CliError::Api(ApiError {
        status: status.as_u16(),
        kind: body["type"].as_str().unwrap_or("unknown").to_string(),
        message,
    }))
}

pub fn json_body(response: Response) -> Result<Value> {
    response
        .json()
        .map_err(|e| CliError::Unreachable(format!("the server's answer is not JSON: {e}")))
}

/// The version in an `ETag: "<version>"` header.
pub fn etag_version(response: &Response) -> Option<String> {
    let tag = response
        .headers()
        .get(reqwest::header::ETAG)?
        .to_str()
        .ok()?;
    Some(tag.trim_start_matches("W/").trim_matches('"').to_string())
}

fn run_token_command(command: &str) -> Result<String> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| CliError::Other(format!("token command: {e}")))?;
    if !output.status.success() {
        return Err(CliError::Other(format!(
            "the token command failed ({})",
            output.status
        )));
    }
    let token = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if token.is_empty() {
        return Err(CliError::Other("the token command printed nothing".into()));
    }
    Ok(token)
}
