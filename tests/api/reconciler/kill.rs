//! `kill -9` of the real binary between a DELETE's wish and its teardown: the reconciler is held
//! at the teardown by `BELT_TEST_PAUSE_BEFORE_TEARDOWN_MS`, the API killed there, and the next
//! API finishes the deletion.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::binary::{serve_with, token, Server};
use crate::crash::replicas_of;
use crate::helpers::{fresh_postgres_database, Backend};

crate::backend_tests!(kill_9_between_the_delete_wish_and_the_teardown_still_deletes_after_restart);

const SCRIPT: &str = "#!/bin/sh\necho \"belt-host: ready\"\nwhile true; do sleep 1; done\n";

struct Api {
    server: Server,
    client: reqwest::Client,
    token: String,
}

impl Api {
    fn start(dir: &std::path::Path, script: &str, database: &Option<String>, pause: bool) -> Api {
        let mut env = vec![
            ("BELT_LOCAL_COMMAND", format!("/bin/sh {script}")),
            ("BELT_RECONCILE_INTERVAL_MS", "300".to_string()),
        ];
        if let Some(url) = database {
            env.push(("BELT_DATABASE_URL", url.clone()));
        }
        if pause {
            env.push(("BELT_TEST_PAUSE_BEFORE_TEARDOWN_MS", "600000".to_string()));
        }
        Api {
            server: serve_with(dir, &env),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            token: token(dir, "editor"),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.server.address))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        match request.send().await {
            Ok(response) => (response.status(), response.json().await.unwrap_or_default()),
            Err(err) if err.is_timeout() => (StatusCode::REQUEST_TIMEOUT, Value::Null),
            Err(err) => panic!("{path}: {err}"),
        }
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn kill_9_between_the_delete_wish_and_the_teardown_still_deletes_after_restart(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("replica.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    let script = script.display().to_string();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await),
    };
    let belts = "/projects/global/belts";
    let body = json!({"name": "doomed", "eventTypes": ["a"], "replicas": 2});

    let mut first = Api::start(dir.path(), &script, &database, true);
    let (_, belt) = first.call(Method::POST, belts, Some(body.clone())).await;
    let id = belt["id"].as_str().unwrap().to_string();
    let path = format!("{belts}/{id}");
    let start = Some(json!({"action": "START"}));
    first
        .call(Method::POST, &format!("{path}/state"), start)
        .await;
    eventually("two replicas run", async || {
        replicas_of(&script, &id).len() == 2
    })
    .await;

    // The wish is stored (the belt is gone for readers), the teardown held: nothing removed.
    let (status, _) = first.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT, "the teardown is held");
    let (status, _) = first.call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = first.call(Method::POST, belts, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "the document is still there");
    assert_eq!(replicas_of(&script, &id).len(), 2, "no teardown yet");
    first.server.child.kill().unwrap();
    first.server.child.wait().unwrap();
    drop(first);

    let second = Api::start(dir.path(), &script, &database, false);
    eventually("the replicas are gone", async || {
        replicas_of(&script, &id).is_empty()
    })
    .await;
    // The name is free again only once the document is deleted.
    eventually("the document is deleted", async || {
        let (status, _) = second.call(Method::POST, belts, Some(body.clone())).await;
        status == StatusCode::OK
    })
    .await;
}
