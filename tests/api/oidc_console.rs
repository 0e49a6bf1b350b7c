//! A browser, as far as the console's OIDC sign-in needs one (`ui_oidc.rs`): it follows the
//! redirects to the stub provider and back by hand, so every `Location`, `Refresh` and page on the
//! way is seen and can be searched for tokens.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::header::{COOKIE, LOCATION, REFRESH, SET_COOKIE};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::helpers::*;
use crate::stub_idp::{StubIdp, CLIENT_ID, CLIENT_SECRET};

pub struct Console {
    pub app: TestApp,
    pub idp: Arc<StubIdp>,
}

/// Where the browser is sent along the way, and what it got shown.
pub struct Seen {
    pub locations: Vec<String>,
    pub bodies: Vec<String>,
}

impl Console {
    pub async fn start(backend: Backend, project: &str, roles: &[&str]) -> Console {
        let idp = StubIdp::start(project, roles).await;
        Console::start_on(backend, idp, None).await
    }

    /// A console of the provider `idp` on `database_url` (a fresh database when `None`): one of
    /// several instances that share a database.
    pub async fn start_on(
        backend: Backend,
        idp: Arc<StubIdp>,
        database_url: Option<String>,
    ) -> Console {
        let args = [
            ("--oidc-issuer", idp.issuer.as_str()),
            ("--console-oidc-client-id", CLIENT_ID),
            ("--console-oidc-client-secret", CLIENT_SECRET),
        ];
        let options = Options {
            args: (args.iter())
                .map(|(flag, value)| (flag.to_string(), value.to_string()))
                .collect(),
            dev_mode: true,
            database_url,
            ..Options::default()
        };
        let app = TestApp::spawn_with(backend, options).await;
        Console { app, idp }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.address)
    }

    pub async fn get(&self, url: &str, cookie: &str) -> Response {
        let request = self.app.client.get(url);
        request.header(COOKIE, cookie).send().await.unwrap()
    }

    /// `/ui/login`: the provider's authorization URL, and the browser's binding cookie.
    pub async fn begin(&self, seen: &mut Seen) -> (Url, String) {
        let response = self.get(&self.url("/ui/login"), "").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()[LOCATION].to_str().unwrap().to_string();
        let binding = cookie_of(&response, "belt_login").expect("a binding cookie");
        seen.locations.push(location.clone());
        (Url::parse(&location).unwrap(), binding)
    }

    /// The provider's answer: where it sends the browser back.
    pub async fn at_provider(&self, authorization: &Url, seen: &mut Seen) -> Url {
        let response = self.get(authorization.as_str(), "").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = response.headers()[LOCATION].to_str().unwrap().to_string();
        seen.locations.push(location.clone());
        Url::parse(&location).unwrap()
    }

    /// The whole flow; the session cookie and the page the console moved on to.
    pub async fn sign_in(&self, seen: &mut Seen) -> (String, String) {
        let (authorization, binding) = self.begin(seen).await;
        let back = self.at_provider(&authorization, seen).await;
        let response = self.get(back.as_str(), &binding).await;
        assert_eq!(response.status(), StatusCode::OK);
        let session = cookie_of(&response, "belt_session").expect("a session cookie");
        let refresh = response.headers()[REFRESH].to_str().unwrap().to_string();
        seen.locations.push(refresh.clone());
        seen.bodies.push(response.text().await.unwrap());
        let target = refresh.split_once("url=").unwrap().1.to_string();
        let page = self.get(&self.url(&target), &session).await;
        assert_eq!(page.status(), StatusCode::OK);
        seen.bodies.push(page.text().await.unwrap());
        (session, target)
    }

    /// Nothing the provider issued is in any place the browser saw.
    pub fn assert_no_token(&self, seen: &Seen) {
        let issued = self.idp.issued();
        assert!(!issued.is_empty(), "the provider issued tokens");
        for text in seen.locations.iter().chain(&seen.bodies) {
            for token in &issued {
                assert!(!text.contains(token.as_str()), "a token in {text}");
            }
            assert!(!text.contains("eyJ"), "something JWT-like in {text}");
        }
    }

    /// A callback answered with a refusal page: the status, no session cookie.
    pub async fn refused(&self, back: &Url, binding: &str, status: StatusCode) -> String {
        let response = self.get(back.as_str(), binding).await;
        assert_eq!(response.status(), status);
        assert_eq!(cookie_of(&response, "belt_session"), None);
        let page = response.text().await.unwrap();
        assert!(page.contains("role=\"alert\""), "{page}");
        page
    }
}

pub fn seen() -> Seen {
    Seen {
        locations: Vec::new(),
        bodies: Vec::new(),
    }
}

/// `name=value` of the response's `Set-Cookie` for `name`, when it sets a value.
pub fn cookie_of(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap().to_string())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
}

pub fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}
