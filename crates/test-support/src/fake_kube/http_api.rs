//! A [`Cluster`] over real HTTP, for `belt-api` processes a test spawns: they need a URL (a
//! kubeconfig), not a client value. An axum server on 127.0.0.1:0 hands each request to the
//! cluster through the in-process client's `send`, so it is recorded and answered as any other
//! call, and streams the answer back: a watch the cluster holds stays open, a long poll, until
//! its events come.

use std::path::Path;

use axum::body::Body as HttpBody;
use axum::extract::State;
use http::{Request, Response, StatusCode};
use kube::client::Body;

use super::Cluster;

/// Where a cluster served over HTTP listens; the server stops when this is dropped.
pub struct HttpApi {
    url: String,
    namespace: String,
    server: tokio::task::JoinHandle<()>,
}

impl Cluster {
    /// A cluster served on a free port of 127.0.0.1, `namespace` the kubeconfig's namespace.
    /// Call it inside a Tokio runtime; the cluster answers while the `HttpApi` lives.
    pub async fn serve_http(namespace: &str) -> (HttpApi, Cluster) {
        let (client, cluster) = Cluster::start(namespace);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(forward).with_state(client);
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("serving the fake API");
        });
        let namespace = namespace.to_string();
        let api = HttpApi {
            url,
            namespace,
            server,
        };
        (api, cluster)
    }
}

/// One request, handed to the cluster as it came (method, path and query, headers, body).
async fn forward(
    State(client): State<kube::Client>,
    request: Request<HttpBody>,
) -> Response<HttpBody> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => return failed(StatusCode::BAD_REQUEST, &err),
    };
    match client
        .send(Request::from_parts(parts, Body::from(body)))
        .await
    {
        Ok(answer) => answer.map(HttpBody::new),
        Err(err) => failed(StatusCode::BAD_GATEWAY, &err),
    }
}

fn failed(status: StatusCode, err: &dyn std::fmt::Display) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::from(format!("the fake API failed: {err}")));
    *response.status_mut() = status;
    response
}

impl HttpApi {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A kubeconfig whose current context is this server and its namespace, as `user`: its
    /// token is the user's name, which the cluster records as the caller (`Call::user`).
    pub fn kubeconfig(&self, user: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n  \
             cluster:\n    server: {}\nusers:\n- name: {user}\n  user:\n    token: {user}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: {user}\n    \
             namespace: {}\n",
            self.url, self.namespace
        )
    }

    /// Writes the kubeconfig of `user` to `path` (for `KUBECONFIG`).
    pub fn write_kubeconfig(&self, path: &Path, user: &str) {
        std::fs::write(path, self.kubeconfig(user))
            .unwrap_or_else(|err| panic!("writing {}: {err}", path.display()));
    }

    /// A client over HTTP, as a kubeconfig without credentials makes one.
    pub fn client(&self) -> kube::Client {
        let mut config = kube::Config::new(self.url.parse().expect("a URL"));
        config.default_namespace = self.namespace.clone();
        kube::Client::try_from(config).expect("a client of the fake API")
    }
}

impl Drop for HttpApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}
