//! A read after an acknowledged write sees it, while other readers keep reading the same belt.
//! On SQLite belt-api remembers belts between reads (src/store/belt_cache.rs); this is the test
//! that a remembered belt never outlives a write: readers race every write, so a write that
//! forgot to forget, or a read that stored an older row after the write, shows here as an old
//! version.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(every_acknowledged_write_is_read_back_at_once_while_readers_race_it);

const WRITES: usize = 60;
const READERS: usize = 6;

async fn every_acknowledged_write_is_read_back_at_once_while_readers_race_it(backend: Backend) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let created = app.create_belt("global", &minimal_belt("read-back")).await;
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/projects/global/belts/{id}");
    let token = app.editor();

    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (app, path, token, done) = (app.clone(), path.clone(), token.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let status = app.get(&path, &token).await.status();
                    assert!(
                        status == StatusCode::OK || status == StatusCode::NOT_FOUND,
                        "{status}"
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    for i in 0..WRITES {
        let body = json!({"name": "read-back", "eventTypes": ["test-a"], "description": format!("write {i}")});
        let (status, written) = json_of(app.put(&path, &token, &body).await).await;
        assert_eq!(status, StatusCode::OK, "{written}");
        let (status, read) = json_of(app.get(&path, &token).await).await;
        assert_eq!(status, StatusCode::OK, "{read}");
        assert_eq!(read["version"], written["version"], "write {i}");
        assert_eq!(read["description"], format!("write {i}"), "write {i}");
    }

    let (status, deleted) = json_of(app.delete(&path, &token).await).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let (status, read) = json_of(app.get(&path, &token).await).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "read after the delete: {read}"
    );

    done.store(true, Ordering::Relaxed);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.unwrap();
    }
    // The readers really raced the writes (and filled whatever is remembered between them).
    assert!(reads >= WRITES as u64, "only {reads} reads");
}
