//! Saved samples (docs/api.md#saved-samples): saved, listed, replaced and deleted through the API,
//! replayed by name through test-invoke in the real sandbox, refused naming the field, bounded in
//! number and size, read by viewers and written by editors only, a belt's own, and gone with it.

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::*;

backend_tests!(
    samples_are_saved_listed_replaced_and_deleted,
    a_saved_sample_is_replayed_through_test_invoke_by_name,
    bad_names_and_bodies_are_refused_naming_the_field,
    a_belt_keeps_at_most_twenty_samples_even_when_saved_at_once,
    viewers_read_editors_write_and_another_projects_belt_is_not_found,
    the_samples_go_with_their_belt,
    a_dry_run_answers_as_the_save_or_delete_would_and_keeps_nothing,
);

const CALLBACK: &str = r#"
def execute(headers, event):
    return {"keys": [event["id"]], "type": "replayed", "values": [{"value": event["id"] * 2}]}
"#;

async fn belt(app: &TestApp) -> String {
    let mut body = minimal_belt(&format!("samples-{}", unique_suffix()));
    body["extractorFn"] = json!(CALLBACK);
    app.create_belt("global", &body).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn samples(id: &str) -> String {
    format!("/projects/global/belts/{id}/samples")
}

fn events(ids: &[i64]) -> Value {
    let events: Vec<Value> = (ids.iter())
        .map(|n| json!({"headers": {"grnry-correlation-id": format!("c-{n}")}, "event": {"id": n}}))
        .collect();
    json!({ "events": events })
}

async fn save(app: &TestApp, id: &str, name: &str, body: &Value) -> (StatusCode, Value) {
    let path = format!("{}/{name}", samples(id));
    json_of(app.put(&path, &app.editor(), body).await).await
}

async fn list(app: &TestApp, id: &str) -> Value {
    let (status, listed) = json_of(app.get(&samples(id), &app.viewer()).await).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    listed
}

fn names(listed: &Value) -> Vec<&str> {
    (listed["items"].as_array().unwrap().iter())
        .map(|item| item["name"].as_str().unwrap())
        .collect()
}

async fn samples_are_saved_listed_replaced_and_deleted(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt(&app).await;
    assert_eq!(list(&app, &id).await, json!({"totalCount": 0, "items": []}));
    let path = format!("{}/order-7", samples(&id));
    let created = app.put(&path, &app.editor(), &events(&[7])).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(location, format!("{}{path}", app.address));
    let (_, saved) = json_of(created).await;
    assert_eq!(saved["name"], "order-7");
    assert_eq!(
        saved["events"],
        json!([{"headers": {"grnry-correlation-id": "c-7"}, "event": {"id": 7}}])
    );
    assert_eq!(saved["savedBy"]["name"], "Dev User", "{saved}");
    assert!(saved["savedAt"].as_str().unwrap().ends_with('Z'), "{saved}");
    assert_eq!(saved["_links"]["self"]["href"], location);
    // Canonical output: headers left out are an empty object, a profile is kept.
    let plain = json!({"events": [{"event": [1, 2]}, {"event": "x", "profile": {"age": 3}}]});
    assert_eq!(save(&app, &id, "B", &plain).await.0, StatusCode::CREATED);
    assert_eq!(
        save(&app, &id, "a.1", &events(&[1])).await.0,
        StatusCode::CREATED
    );
    let listed = list(&app, &id).await;
    assert_eq!(listed["totalCount"], 3);
    assert_eq!(names(&listed), ["B", "a.1", "order-7"], "by name, bytewise");
    assert_eq!(
        listed["items"][0]["events"],
        json!([{"headers": {}, "event": [1, 2]}, {"headers": {}, "event": "x", "profile": {"age": 3}}])
    );
    // The same name again replaces: 200, no Location, the new events.
    let replaced = app.put(&path, &app.editor(), &events(&[8, 9])).await;
    assert_eq!(replaced.status(), StatusCode::OK);
    assert!(replaced.headers().get(LOCATION).is_none());
    let (status, one) = json_of(app.get(&path, &app.viewer()).await).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["events"], events(&[8, 9])["events"]);
    assert_eq!(list(&app, &id).await["totalCount"], 3);
    let deleted = app.delete(&path, &app.editor()).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(deleted.text().await.unwrap(), "");
    for gone in [
        app.delete(&path, &app.editor()).await,
        app.get(&path, &app.viewer()).await,
    ] {
        let message = assert_error(gone, StatusCode::NOT_FOUND, "entity_not_found").await;
        assert!(message.contains("'order-7'"), "{message}");
    }
    assert_eq!(names(&list(&app, &id).await), ["B", "a.1"]);
}

async fn a_saved_sample_is_replayed_through_test_invoke_by_name(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt(&app).await;
    assert_eq!(
        save(&app, &id, "two", &events(&[3, 4])).await.0,
        StatusCode::CREATED
    );
    let invoke = format!("/projects/global/belts/{id}/invoke");
    let (status, answer) = json_of(
        app.post(&invoke, &app.editor(), &json!({"sample": "two"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "completed", "{answer}");
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{answer}");
    for (result, n) in results.iter().zip([3, 4]) {
        let update = &result["updates"][0];
        assert_eq!(update["key"], n.to_string(), "{answer}");
        assert_eq!(update["value"]["values"][0]["value"], n * 2, "{answer}");
        assert_eq!(
            update["headers"]["grnry-correlation-id"],
            format!("c-{n}"),
            "the saved headers: {answer}"
        );
    }
    // A draft runs on the saved events as on given ones.
    let draft =
        "def execute(headers, event):\n    return {'keys': ['draft-' + str(event['id'])]}\n";
    let body = json!({"sample": "two", "extractorFn": draft});
    let (_, answer) = json_of(app.post(&invoke, &app.editor(), &body).await).await;
    assert_eq!(
        answer["results"][1]["updates"][0]["key"], "draft-4",
        "{answer}"
    );
    for (body, field) in [
        (json!({"sample": "none-such"}), "Parameter 'sample'"),
        (
            json!({"sample": "two", "events": events(&[1])["events"]}),
            "Parameter 'sample'",
        ),
        (json!({"sample": "../two"}), "Parameter 'sample'"),
        (json!({"sample": 2}), "Parameter 'sample'"),
        (json!({}), "Parameter 'events'"),
    ] {
        let refused = app.post(&invoke, &app.editor(), &body).await;
        let message = assert_error(refused, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
        assert!(message.starts_with(field), "{body}: {message}");
    }
    let viewer = app
        .post(&invoke, &app.viewer(), &json!({"sample": "none-such"}))
        .await;
    assert_error(viewer, StatusCode::FORBIDDEN, "entity_not_accessible").await;
}

async fn bad_names_and_bodies_are_refused_naming_the_field(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt(&app).await;
    let long = "n".repeat(64);
    for name in ["-leading", "a%20b", "%C3%A9", "a%2Fb", long.as_str()] {
        let path = format!("{}/{name}", samples(&id));
        for response in [
            app.put(&path, &app.editor(), &events(&[1])).await,
            app.get(&path, &app.viewer()).await,
            app.delete(&path, &app.editor()).await,
        ] {
            let message =
                assert_error(response, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
            assert!(message.starts_with("Parameter 'name'"), "{name}: {message}");
        }
    }
    let many: Vec<i64> = (0..101).collect();
    let big = json!({"events": [{"event": "x".repeat(64 * 1024)}]});
    for (body, field) in [
        (json!({}), "Parameter 'events'"),
        (json!({"events": []}), "Parameter 'events'"),
        (json!({"events": {"event": 1}}), "Parameter 'events'"),
        (events(&many), "Parameter 'events'"),
        (
            json!({"events": [{"headers": {}}]}),
            "Parameter 'events[0].event'",
        ),
        (
            json!({"events": [{"event": 1, "headers": {"h": 1}}]}),
            "Parameter 'events[0].headers'",
        ),
        (big, "Parameter 'events' must be at most 65536 bytes"),
    ] {
        let (status, answer) = save(&app, &id, "fine", &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(message.starts_with(field), "{body:.80}: {message}");
    }
    let path = format!("{}/fine", samples(&id));
    let not_json = app
        .request(reqwest::Method::PUT, &path, Some(&app.editor()))
        .body("{nope")
        .send()
        .await
        .unwrap();
    let message = assert_error(not_json, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("not valid JSON"), "{message}");
    // 64 KiB exactly is kept.
    let overhead = r#"[{"headers":{},"event":""}]"#.len();
    let fits = json!({"events": [{"event": "x".repeat(64 * 1024 - overhead)}]});
    assert_eq!(save(&app, &id, "fits", &fits).await.0, StatusCode::CREATED);
    assert_eq!(
        names(&list(&app, &id).await),
        ["fits"],
        "nothing refused was kept"
    );
}

async fn a_belt_keeps_at_most_twenty_samples_even_when_saved_at_once(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt(&app).await;
    for n in 0..19 {
        let (status, answer) = save(&app, &id, &format!("s{n:02}"), &events(&[n])).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    // Five new names at once for the one place left: exactly one is kept.
    let body = events(&[99]);
    let racing = (0..5).map(|n| {
        let (app, id, body) = (&app, &id, &body);
        async move { save(app, id, &format!("race-{n}"), body).await }
    });
    let answers = futures::future::join_all(racing).await;
    let kept = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED);
    assert_eq!(kept.count(), 1, "{answers:?}");
    for (status, answer) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["type"], "bad_parameter_value", "{answer}");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.starts_with("Parameter 'name'") && message.contains("20"),
            "{message}"
        );
    }
    assert_eq!(list(&app, &id).await["totalCount"], 20);
    // Full: a kept name is still replaced; a new one fits again once one is deleted.
    assert_eq!(
        save(&app, &id, "s03", &events(&[3, 3])).await.0,
        StatusCode::OK
    );
    assert_eq!(
        save(&app, &id, "one-more", &body).await.0,
        StatusCode::BAD_REQUEST
    );
    let deleted = app
        .delete(&format!("{}/s00", samples(&id)), &app.editor())
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        save(&app, &id, "one-more", &body).await.0,
        StatusCode::CREATED
    );
    assert_eq!(list(&app, &id).await["totalCount"], 20);
}

async fn viewers_read_editors_write_and_another_projects_belt_is_not_found(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt(&app).await;
    assert_eq!(
        save(&app, &id, "kept", &events(&[1])).await.0,
        StatusCode::CREATED
    );
    let path = format!("{}/kept", samples(&id));
    let viewer = app.viewer();
    assert_eq!(names(&list(&app, &id).await), ["kept"]);
    assert_eq!(app.get(&path, &viewer).await.status(), StatusCode::OK);
    // The role answers before the refused name or body.
    let bad_name = format!("{}/-bad", samples(&id));
    for refused in [
        app.put(&path, &viewer, &events(&[2])).await,
        app.put(&bad_name, &viewer, &json!({})).await,
        app.delete(&path, &viewer).await,
        app.delete(&bad_name, &viewer).await,
    ] {
        assert_error(refused, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    }
    let (_, one) = json_of(app.get(&path, &viewer).await).await;
    assert_eq!(one["events"], events(&[1])["events"], "nothing changed");
    // Another project's editor: 403 in this project, and this belt is not in theirs.
    let other = app.token("other", &["editor"]);
    assert_eq!(
        app.get(&samples(&id), &other).await.status(),
        StatusCode::FORBIDDEN
    );
    let theirs = format!("/projects/other/belts/{id}/samples");
    for response in [
        app.get(&theirs, &other).await,
        app.get(&format!("{theirs}/kept"), &other).await,
        app.put(&format!("{theirs}/kept"), &other, &events(&[6]))
            .await,
        app.delete(&format!("{theirs}/kept"), &other).await,
    ] {
        assert_error(response, StatusCode::NOT_FOUND, "entity_not_found").await;
    }
    let invoke = format!("/projects/other/belts/{id}/invoke");
    let replay = app.post(&invoke, &other, &json!({"sample": "kept"})).await;
    assert_error(replay, StatusCode::NOT_FOUND, "entity_not_found").await;
    let unknown = "/projects/global/belts/999999/samples";
    assert_error(
        app.get(unknown, &viewer).await,
        StatusCode::NOT_FOUND,
        "entity_not_found",
    )
    .await;
    let put = app
        .put(&format!("{unknown}/kept"), &app.editor(), &events(&[1]))
        .await;
    assert_error(put, StatusCode::NOT_FOUND, "entity_not_found").await;
    // The v2 API only: the legacy root has no samples.
    let legacy = app.get(&format!("/belts/{id}/samples"), &viewer).await;
    assert_eq!(legacy.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        one["_links"]["self"]["href"],
        format!("{}{path}", app.address)
    );
}

/// Rows of `belt_samples` for belt `id`, read behind the app's back.
async fn stored_rows(app: &TestApp, id: &str) -> i64 {
    use sqlx::Connection;
    let sql = format!("SELECT COUNT(*) FROM belt_samples WHERE belt_id = {id}");
    match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
        }
    }
}

async fn the_samples_go_with_their_belt(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let body = json!({"id": "4712", "name": "short-lived", "eventTypes": ["test-a"]});
    let id = app.create_belt("global", &body).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = belt(&app).await;
    for name in ["a", "b"] {
        assert_eq!(
            save(&app, &id, name, &events(&[1])).await.0,
            StatusCode::CREATED
        );
    }
    assert_eq!(
        save(&app, &other, "a", &events(&[1])).await.0,
        StatusCode::CREATED
    );
    assert_eq!(stored_rows(&app, &id).await, 2);
    let deleted = app
        .delete(&format!("/projects/global/belts/{id}"), &app.editor())
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let again = app
            .post("/projects/global/belts", &app.editor(), &body)
            .await;
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", again.status());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stored_rows(&app, &id).await, 0, "removed with the belt");
    assert_eq!(list(&app, &id).await, json!({"totalCount": 0, "items": []}));
    assert_eq!(
        names(&list(&app, &other).await),
        ["a"],
        "another belt's are kept"
    );
}

async fn a_dry_run_answers_as_the_save_or_delete_would_and_keeps_nothing(backend: Backend) {
    let app = TestApp::spawn_dev_with_args(backend, &[]).await;
    let id = belt(&app).await;
    assert_eq!(
        save(&app, &id, "kept", &events(&[1])).await.0,
        StatusCode::CREATED
    );
    let before = list(&app, &id).await;
    let kept = format!("{}/kept?dryRun=true", samples(&id));
    let new = format!("{}/new?dryRun=true", samples(&id));
    let tried = app.put(&new, &app.editor(), &events(&[2])).await;
    assert_eq!(tried.status(), StatusCode::CREATED);
    assert!(tried.headers().get(LOCATION).is_some());
    let (_, answer) = json_of(tried).await;
    assert_eq!(answer["events"], events(&[2])["events"], "{answer}");
    let replaced = app.put(&kept, &app.editor(), &events(&[3])).await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let deleted = app.delete(&kept, &app.editor()).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let absent = app.delete(&new, &app.editor()).await;
    assert_error(absent, StatusCode::NOT_FOUND, "entity_not_found").await;
    assert_eq!(list(&app, &id).await, before, "a dry run keeps nothing");
    // A full belt is refused by a dry run as by the real save.
    for n in 1..20 {
        save(&app, &id, &format!("s{n}"), &events(&[n])).await;
    }
    let full = app.put(&new, &app.editor(), &events(&[2])).await;
    let message = assert_error(full, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.starts_with("Parameter 'name'"), "{message}");
    // `dryRun` is read as every flag, after the role.
    let maybe = format!("{}/kept?dryRun=maybe", samples(&id));
    let refused = app.put(&maybe, &app.editor(), &events(&[4])).await;
    let message = assert_error(refused, StatusCode::BAD_REQUEST, "bad_parameter_value").await;
    assert!(message.contains("'dryRun'"), "{message}");
    let viewer = app.delete(&maybe, &app.viewer()).await;
    assert_error(viewer, StatusCode::FORBIDDEN, "entity_not_accessible").await;
    let (_, one) = json_of(
        app.get(&format!("{}/kept", samples(&id)), &app.viewer())
            .await,
    )
    .await;
    assert_eq!(one["events"], events(&[1])["events"]);
}
