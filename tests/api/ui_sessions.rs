//! Console sessions kept in the store (docs/console.md#sign-in-and-sessions): a restart keeps the
//! user signed in, two instances on one PostgreSQL share a session and its sign-out, the stored
//! rows hold nothing usable, a tampered cookie or row is not signed in, and the number of live
//! sessions stays bounded however many sign in at once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;

use crate::backend_tests;
use crate::helpers::*;
use crate::ui::{hidden, Browser};

backend_tests!(
    a_session_survives_a_restart_on_the_same_database,
    a_tampered_cookie_or_row_is_not_signed_in,
    the_number_of_live_sessions_is_bounded_and_expired_ones_are_purged,
);

/// The dev-mode app on `url`, a database other instances may share.
pub async fn dev_app_on(backend: Backend, url: &str) -> TestApp {
    let options = Options {
        dev_mode: true,
        database_url: Some(url.to_string()),
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

/// A database for several instances in turn (SQLite) or at once (PostgreSQL); keep the directory.
pub async fn shared_database(backend: Backend) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}/belts.db", dir.path().display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    (dir, url)
}

/// Runs statements on the database directly, as an operator (or an intruder) would.
pub async fn execute(backend: Backend, url: &str, statement: &str) {
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(statement).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// The single text column of each row `query` answers.
pub async fn texts(backend: Backend, url: &str, query: &str) -> Vec<String> {
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(query).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.into_iter().map(|(text,)| text).collect()
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as(query).fetch_all(&pool).await.unwrap();
            pool.close().await;
            rows.into_iter().map(|(text,)| text).collect()
        }
    }
}

async fn count(backend: Backend, url: &str, filter: &str) -> i64 {
    let query = format!("SELECT CAST(COUNT(*) AS TEXT) FROM console_sessions {filter}");
    texts(backend, url, &query).await[0].parse().unwrap()
}

/// `(status, Location)` of a page for `cookie` on `app`.
async fn page(app: &TestApp, cookie: &str) -> (StatusCode, String) {
    let browser = Browser {
        app,
        cookie: cookie.to_string(),
    };
    let (status, body) = browser.get("/ui/projects/global/belts").await;
    (status, body)
}

async fn a_session_survives_a_restart_on_the_same_database(backend: Backend) {
    let (_dir, url) = shared_database(backend).await;
    let app = dev_app_on(backend, &url).await;
    let cookie = Browser::sign_in(&app, "global", "editor").await.cookie;
    let (status, before) = page(&app, &cookie).await;
    assert_eq!(status, StatusCode::OK);
    drop(app);

    let app = dev_app_on(backend, &url).await;
    let browser = Browser { app: &app, cookie };
    let (status, after) = browser.get("/ui/projects/global/belts").await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert!(after.contains("Signed in as Ada"), "{after}");
    assert_eq!(hidden(&after, "csrf"), hidden(&before, "csrf"));
    let out = browser
        .post("/ui/logout", &format!("csrf={}", hidden(&after, "csrf")))
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let (status, _) = browser.get("/ui/projects/global/belts").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

/// PostgreSQL only, as `migrations.rs`: two running instances need a database two processes
/// share, and SQLite's data directory is one instance's. Not named `…::postgres`, so that CI's
/// count of tests run on both databases stays a count of pairs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_a_session_and_a_sign_out_ends_it_on_both() {
    let backend = Backend::Postgres;
    let url = fresh_postgres_database().await;
    let (a, b) = (
        dev_app_on(backend, &url).await,
        dev_app_on(backend, &url).await,
    );
    let cookie = Browser::sign_in(&a, "global", "editor").await.cookie;
    let on_b = Browser {
        app: &b,
        cookie: cookie.clone(),
    };
    let (status, page_b) = on_b.get("/ui/projects/global/belts").await;
    assert_eq!(status, StatusCode::OK, "{page_b}");
    assert!(page_b.contains("Signed in as Ada"), "{page_b}");
    let (status, _) = page(&a, &cookie).await;
    assert_eq!(status, StatusCode::OK);

    let out = on_b
        .post("/ui/logout", &format!("csrf={}", hidden(&page_b, "csrf")))
        .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let refused = (a.client)
        .get(format!("{}/ui/projects/global/belts", a.address))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER, "A refuses at once");
    assert_eq!(refused.headers()[LOCATION], "/ui/login");
}

async fn a_tampered_cookie_or_row_is_not_signed_in(backend: Backend) {
    let (_dir, url) = shared_database(backend).await;
    let app = dev_app_on(backend, &url).await;
    let cookie = Browser::sign_in(&app, "global", "editor").await.cookie;
    let other = Browser::sign_in(&app, "global", "viewer").await.cookie;
    let secret = cookie.strip_prefix("belt_session=").unwrap().to_string();
    let mut bytes = URL_SAFE_NO_PAD.decode(&secret).unwrap();
    bytes[0] ^= 1;
    let flipped = URL_SAFE_NO_PAD.encode(&bytes);
    let row_key = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &bytes));
    let mut refused = vec![
        format!("belt_session={flipped}"),
        format!("belt_session={}", &secret[..secret.len() - 2]),
        format!("belt_session={secret}AA"),
        "belt_session=not base64!".to_string(),
        "belt_session=".to_string(),
    ];
    // The row key itself, as a reader of the database would present it.
    bytes[0] ^= 1;
    refused.push(format!(
        "belt_session={}",
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &bytes))
    ));
    for cookie in &refused {
        let (status, body) = page(&app, cookie).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{cookie}: {body}");
    }
    assert_ne!(row_key, secret);

    // A sealed value moved to another row, or altered in place, opens nowhere.
    execute(
        backend,
        &url,
        "UPDATE console_sessions SET sealed = (SELECT sealed FROM console_sessions \
         WHERE role = 'viewer') WHERE role = 'editor'",
    )
    .await;
    assert_eq!(page(&app, &cookie).await.0, StatusCode::SEE_OTHER);
    assert_eq!(page(&app, &other).await.0, StatusCode::OK);
    let sealed = texts(
        backend,
        &url,
        "SELECT sealed FROM console_sessions WHERE role = 'viewer'",
    )
    .await
    .remove(0);
    let mut altered = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
    let middle = altered.len() / 2;
    altered[middle] ^= 1;
    let altered = URL_SAFE_NO_PAD.encode(altered);
    execute(
        backend,
        &url,
        &format!("UPDATE console_sessions SET sealed = '{altered}' WHERE role = 'viewer'"),
    )
    .await;
    assert_eq!(page(&app, &other).await.0, StatusCode::SEE_OTHER);
}

/// A dev sign-in's answer: 303 with a cookie, or the 503 of the bound.
async fn dev_sign_in(app: &TestApp) -> StatusCode {
    let response = (app.client)
        .post(format!("{}/ui/login", app.address))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("name=Ada&project=global&role=viewer")
        .send()
        .await
        .unwrap();
    response.status()
}

/// `n` sessions stored directly, expiring at `expires_at` (Unix seconds).
async fn fill(backend: Backend, url: &str, n: u32, expires_at: i64, tag: &str) {
    let rows = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             INSERT INTO console_sessions (key, project, role, expires_at, version, sealed) \
             SELECT '{tag}' || i, 'global', 'viewer', {expires_at}, 1, 'x' FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO console_sessions (key, project, role, expires_at, version, sealed) \
             SELECT '{tag}' || i, 'global', 'viewer', {expires_at}, 1, 'x' \
             FROM generate_series(1, {n}) AS i"
        ),
    };
    execute(backend, url, &rows).await;
}

async fn the_number_of_live_sessions_is_bounded_and_expired_ones_are_purged(backend: Backend) {
    const MAX: u32 = 10_000;
    let (_dir, url) = shared_database(backend).await;
    let app = dev_app_on(backend, &url).await;
    let second = match backend {
        Backend::Postgres => Some(dev_app_on(backend, &url).await),
        Backend::Sqlite => None,
    };
    fill(backend, &url, MAX - 10, now() + 3600, "live-").await;
    fill(backend, &url, 50, now() - 1, "expired-").await;
    // Twenty at once, over two instances on PostgreSQL: ten find room.
    let apps: Vec<&TestApp> = (0..20)
        .map(|i| match (&second, i % 2) {
            (Some(second), 1) => second,
            _ => &app,
        })
        .collect();
    let answers = futures::future::join_all(apps.into_iter().map(dev_sign_in)).await;
    let signed_in = answers.iter().filter(|s| **s == StatusCode::SEE_OTHER);
    let full = answers
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((signed_in.count(), full.count()), (10, 10), "{answers:?}");
    assert_eq!(count(backend, &url, "").await, i64::from(MAX));
    assert_eq!(
        count(backend, &url, "WHERE key LIKE 'expired-%'").await,
        0,
        "purged"
    );
    let (status, _) = Browser {
        app: &app,
        cookie: String::new(),
    }
    .get("/ui/login")
    .await;
    assert_eq!(status, StatusCode::OK, "the sign-in page still shows");
    assert_eq!(dev_sign_in(&app).await, StatusCode::SERVICE_UNAVAILABLE);

    // Sessions that expire make room again.
    execute(
        backend,
        &url,
        &format!(
            "UPDATE console_sessions SET expires_at = {} WHERE key = 'live-1'",
            now() - 1
        ),
    )
    .await;
    assert_eq!(dev_sign_in(&app).await, StatusCode::SEE_OTHER);
}
