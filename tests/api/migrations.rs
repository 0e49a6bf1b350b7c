//! Two replicas starting at the same instant on an empty PostgreSQL database (docs/architecture.md,
//! "Migrations and rolling upgrades"): the schema is migrated once, by whichever takes the
//! migrator's advisory lock first, while the other waits on it and then finds nothing to do; both
//! become ready. Several rounds, each on a fresh database, since a race shows only sometimes.
//! PostgreSQL only: SQLite is one process's file.

use std::sync::Barrier;
use std::time::Duration;

use reqwest::StatusCode;
use sqlx::Connection;

use crate::binary::{serve_with, Server};
use crate::helpers::fresh_postgres_database;

const ROUNDS: usize = 5;

/// The migrations the binary embeds, counted from the files.
fn migration_files() -> i64 {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    let files = std::fs::read_dir(dir).unwrap();
    files
        .filter(|file| file.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count() as i64
}

/// Both replicas, spawned together (a barrier between two threads, each starting one process).
fn two_replicas(database_url: &str) -> (Vec<Server>, Vec<tempfile::TempDir>) {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let together = Barrier::new(2);
    let servers = std::thread::scope(|scope| {
        let started: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let together = &together;
                scope.spawn(move || {
                    let env = [
                        ("BELT_DATABASE_URL", database_url.to_string()),
                        ("BELT_LOCAL_SANDBOX", "none".to_string()),
                        // Short, as a busy database's request deadline may be: the replica that
                        // waits for the other's migrations must not be held to it.
                        ("BELT_DEPENDENCY_TIMEOUT_MS", "300".to_string()),
                    ];
                    together.wait();
                    serve_with(dir.path(), &env)
                })
            })
            .collect();
        started
            .into_iter()
            .map(|replica| replica.join().expect("a replica did not start"))
            .collect()
    });
    (servers, dirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_starting_together_migrate_once_and_both_become_ready() {
    let client = reqwest::Client::new();
    for round in 0..ROUNDS {
        let database_url = fresh_postgres_database().await;
        let (servers, _dirs) = two_replicas(&database_url);
        for server in &servers {
            let ready = client.get(format!("{}/ready", server.address)).send().await;
            let ready = ready.unwrap();
            let log = server.log();
            assert_eq!(ready.status(), StatusCode::OK, "round {round}:\n{log}");
            assert!(!log.contains("ERROR"), "round {round}:\n{log}");
        }
        let mut db = sqlx::PgConnection::connect(&database_url).await.unwrap();
        let (applied, succeeded, distinct): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE success), count(DISTINCT version) \
             FROM _sqlx_migrations",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!(
            applied,
            migration_files(),
            "round {round}: one row per migration"
        );
        assert_eq!(
            succeeded, applied,
            "round {round}: every migration succeeded"
        );
        assert_eq!(distinct, applied, "round {round}");
        let _ = db.close().await;
        drop(servers);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
