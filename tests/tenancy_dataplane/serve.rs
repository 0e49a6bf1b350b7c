//! The real `belt-api serve` on the embedded default (its own Kafka-protocol broker, SQLite, the
//! local runtime in its bubblewrap sandbox), an event-type registry stub, and one dev token per
//! project.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use belt_test_support::binary::{Program, Spawn};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub use crate::host_env::host_env;
use crate::host_env::SERVE_PATIENCE;

const BINARY: &str = env!("CARGO_BIN_EXE_belt-api");

/// The registry: A's event type is open to every project member, B's needs the role
/// `data_owner` to consume or to produce (its `consumer` and `editor`), which only B's token holds.
pub async fn registry() -> MockServer {
    let server = MockServer::start().await;
    let types = [
        ("/projects/proj-a/event-types/a-events", Value::Null),
        ("/projects/proj-b/event-types/b-events", json!("data_owner")),
    ];
    for (at, role) in types {
        let name = at.rsplit('/').next().unwrap();
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"name": name, "consumer": role, "editor": role})),
            )
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    server
}

/// `belt-api serve` (`belt_test_support::binary`: SIGTERM when dropped, so that it stops its
/// replicas) and its embedded broker's address.
pub struct Api {
    program: Program,
    pub address: String,
    pub broker: String,
    data_dir: PathBuf,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Api {
    pub fn start(registry: &str, broker_program: &str) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("belt-data");
        let broker = format!("127.0.0.1:{}", free_port());
        let program = Spawn::serve(BINARY)
            .env("BELT_DATA_DIR", &data_dir)
            .env("BELT_KAFKA_LISTEN", &broker)
            .env("BELT_KAFKA_BROKER_COMMAND", broker_program)
            .env("BELT_LOCAL_HOST_ENV", host_env())
            .env("BELT_HARVESTER_URL", registry)
            .env("BELT_LOCAL_RESTART_BACKOFF_MS", "100")
            .env("BELT_RECONCILE_INTERVAL_MS", "500")
            .env("BELT_KAFKA_LAG_INTERVAL_MS", "500")
            .env("BELT_INVOKE_TIMEOUT_MS", "90000")
            .env("BELT_INVOKE_MEMORY_MB", "4096")
            .patience(SERVE_PATIENCE)
            .grace(Duration::from_secs(15))
            .start();
        Api {
            address: program.address.clone(),
            program,
            broker,
            data_dir,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn log(&self) -> String {
        self.program.log()
    }

    /// A dev token of `project` with `roles`.
    pub fn token(&self, project: &str, roles: &[&str]) -> String {
        let mut command = Command::new(BINARY);
        command.args(["token", "--project", project]);
        for role in roles {
            command.args(["--role", role]);
        }
        let output = command
            .env("BELT_DATA_DIR", &self.data_dir)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// `method path` as `token`; answers (status, body).
    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// As [`Api::call`], which must succeed.
    pub async fn ok(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, answer) = self.call(token, method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    /// Waits until `check` holds for the belt's state.
    pub async fn wait_state(
        &self,
        token: &str,
        belt: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let state = self
                .ok(token, reqwest::Method::GET, &format!("{belt}/state"), None)
                .await;
            if check(&state) {
                return state;
            }
            if Instant::now() > deadline {
                let logs = self
                    .call(token, reqwest::Method::GET, &format!("{belt}/logs"), None)
                    .await;
                panic!(
                    "{belt}: {what} never came: {state:#}\nlogs: {:#}\n{}",
                    logs.1,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs `kafka_client.py` with the host environment's Python against `broker`.
pub async fn kafka(command: &str, broker: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec![command, broker];
    all.extend_from_slice(args);
    crate::host_env::kafka(&all).await
}
