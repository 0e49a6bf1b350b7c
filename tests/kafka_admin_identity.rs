//! belt-api's own Kafka identity (docs/kafka-identity.md) against a broker that requires SCRAM
//! authentication: its admin calls succeed as its principal, and fail with a wrong password or
//! without credentials. The broker is nisshi with `--authentication`.

#[path = "common/broker_program.rs"]
mod broker_program;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use belt_api::broker::auth::{ClientAuth, SaslSettings};
use belt_api::broker::topics::KafkaTopics;
use belt_api::broker::{GroupOffsets, KafkaGroupOffsets, TopicAdmin};
use broker_program::broker_program;

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, address: &str, authentication: bool) -> Broker {
    let url = format!("tcp://{address}");
    let mut command = Command::new(broker_program());
    command.current_dir(dir).args([
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
        "--storage-engine",
        "sqlite://broker.db",
    ]);
    if authentication {
        command.arg("--authentication");
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the broker");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "the broker never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Broker(child)
}

/// A broker that knows the SCRAM-SHA-512 user `belt-api` / `s3cret-admin` and admits nobody else.
fn broker_with_user(dir: &Path) -> (Broker, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    // Users are created through the broker, which cannot be asked before anyone may log in.
    let open = start(dir, &address, false);
    let created = Command::new(broker_program())
        .args(["user", "create", "--broker", &format!("tcp://{address}")])
        .args(["belt-api", "s3cret-admin"])
        .status()
        .unwrap();
    assert!(created.success(), "creating the broker's user failed");
    drop(open);
    (start(dir, &address, true), address)
}

fn auth(dir: &Path, password: &str) -> ClientAuth {
    let file = dir.join(format!("password-{password}"));
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let sasl = SaslSettings {
        mechanism: "SCRAM-SHA-512",
        username: Some("belt-api"),
        password_file: Some(&file),
    };
    ClientAuth::new("SASL_PLAINTEXT", sasl, None).unwrap()
}

#[tokio::test]
async fn admin_calls_work_as_belt_apis_principal_and_only_as_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, address) = broker_with_user(dir.path());
    let topics = vec!["grnry_belt_dlq_1".to_string()];
    let admin = |auth: ClientAuth| KafkaTopics::new(&address, 1, Some(1)).with_auth(auth);
    let offsets =
        |auth: ClientAuth| KafkaGroupOffsets::new(&address, Duration::from_secs(3)).with_auth(auth);

    admin(auth(dir.path(), "s3cret-admin"))
        .ensure_topics(&topics)
        .await
        .expect("belt-api's principal creates topics");
    let positions = offsets(auth(dir.path(), "s3cret-admin"))
        .positions("grnry-belt-1-0", &topics)
        .await
        .expect("belt-api's principal reads a group's offsets");
    assert_eq!(positions.len(), 1);

    let other = vec!["grnry_belt_dlq_2".to_string()];
    for (what, auth) in [
        ("a wrong password", auth(dir.path(), "guessed")),
        ("no credentials", ClientAuth::default()),
    ] {
        let created = admin(auth.clone()).ensure_topics(&other).await;
        assert!(created.is_err(), "{what} created a topic");
        let read = offsets(auth).positions("grnry-belt-1-0", &topics).await;
        assert!(read.is_err(), "{what} read offsets: {read:?}");
    }
}
