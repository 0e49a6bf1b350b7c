//! The HTTP calls the HA test makes, against whichever replica it picks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::replicas::Replica;

pub struct Api {
    pub http: Client,
    pub token: String,
}

impl Api {
    fn url(replica: &Replica, path: &str) -> String {
        format!("{}/projects/global{path}", replica.base)
    }

    pub async fn create(&self, replica: &Replica, name: &str) -> i64 {
        let body = json!({"name": name, "eventTypes": ["test-a"]});
        let answer = (self.http.post(Self::url(replica, "/belts")))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::OK,
            "create through {}",
            replica.name
        );
        let document: Value = answer.json().await.unwrap();
        id_of(&document["id"])
    }

    pub async fn change_state(&self, replica: &Replica, id: i64, action: &str) {
        let answer = (self
            .http
            .post(Self::url(replica, &format!("/belts/{id}/state"))))
        .bearer_auth(&self.token)
        .json(&json!({"action": action}))
        .send()
        .await
        .unwrap();
        let status = answer.status();
        let body = answer.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{action} of {id} through {}: {body}",
            replica.name
        );
    }

    /// A DELETE answers once the leader's reconciler settled it, whichever replica was asked.
    pub async fn delete(&self, replica: &Replica, id: i64) {
        let answer = (self
            .http
            .delete(Self::url(replica, &format!("/belts/{id}"))))
        .bearer_auth(&self.token)
        .send()
        .await
        .unwrap();
        let status = answer.status();
        let body = answer.text().await.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "delete of {id} through {}: {body}",
            replica.name
        );
    }

    /// Every belt of the project: (id, version, status).
    pub async fn list(&self, replica: &Replica) -> Vec<(i64, i64, Option<String>)> {
        let answer = (self.http.get(Self::url(replica, "/belts?pagesize=250")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "list on {}", replica.name);
        let page: Value = answer.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert_eq!(page["totalCount"].as_u64(), Some(items.len() as u64));
        (items.iter())
            .map(|item| {
                let status = item["status"].as_str().map(str::to_string);
                (id_of(&item["id"]), id_of(&item["version"]), status)
            })
            .collect()
    }

    /// Lists on every replica name the same belts at the same versions (statuses may differ for
    /// a moment: each replica's view of the cluster is its own).
    pub async fn assert_lists_agree(&self, replicas: &[Replica], after: &str) {
        let mut lists = Vec::new();
        for replica in replicas {
            let stored: Vec<(i64, i64)> = self
                .list(replica)
                .await
                .into_iter()
                .map(|(id, v, _)| (id, v))
                .collect();
            lists.push((replica.name.clone(), stored));
        }
        for (name, list) in &lists[1..] {
            assert_eq!(
                list, &lists[0].1,
                "after {after}: {name} and {} disagree",
                lists[0].0
            );
        }
    }

    /// Waits until every replica lists exactly `expected` belts, each with `status`.
    pub async fn await_statuses(
        &self,
        replicas: &[Replica],
        expected: &[i64],
        status: &str,
        within: Duration,
    ) {
        let deadline = Instant::now() + within;
        for replica in replicas {
            loop {
                let listed = self.list(replica).await;
                let ids: Vec<i64> = listed.iter().map(|(id, _, _)| *id).collect();
                let settled = ids == expected
                    && (listed.iter()).all(|(_, _, s)| s.as_deref() == Some(status));
                if settled {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} did not list {} belts {status} within {within:?}: {listed:?}",
                    replica.name,
                    expected.len()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Opens the project's watch on `replica`; its lines are collected as they come. Answers
    /// the bookmark (the newest event id when it opened) and the collected events.
    pub async fn watch(&self, replica: &Replica) -> (i64, Arc<Mutex<Vec<Value>>>) {
        let mut answer = (self.http.get(Self::url(replica, "/watch")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (bookmark_sender, bookmark) = tokio::sync::oneshot::channel();
        let collected = seen.clone();
        tokio::spawn(async move {
            let mut bookmark_sender = Some(bookmark_sender);
            let mut pending = String::new();
            while let Ok(Some(chunk)) = answer.chunk().await {
                pending.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = pending.find('\n') {
                    let line: Value = serde_json::from_str(&pending[..end]).unwrap();
                    pending.drain(..=end);
                    match line["type"].as_str() {
                        Some("bookmark") => {
                            if let Some(sender) = bookmark_sender.take() {
                                let _ = sender.send(line["id"].as_i64().unwrap());
                            }
                        }
                        _ => collected.lock().unwrap().push(line),
                    }
                }
            }
        });
        (bookmark.await.expect("a bookmark first"), seen)
    }
}

fn id_of(value: &Value) -> i64 {
    match value {
        Value::String(text) => text.parse().unwrap(),
        other => other.as_i64().unwrap(),
    }
}
