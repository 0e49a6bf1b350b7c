//! A fresh, uniquely named database per test on the PostgreSQL of `BELT_TEST_DATABASE_URL`. When
//! the variable is unset, the machine's PostgreSQL is started the way CI starts it
//! (`scripts/postgres.sh`, which prints its URL): PostgreSQL tests are never skipped silently.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;

/// The server's admin URL: `BELT_TEST_DATABASE_URL`, else the one `scripts/postgres.sh` prints.
pub fn admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("BELT_TEST_DATABASE_URL") {
            return url;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/postgres.sh");
        let output = std::process::Command::new("bash")
            .arg(script)
            .output()
            .expect("running scripts/postgres.sh");
        assert!(
            output.status.success(),
            "PostgreSQL tests need a server: set BELT_TEST_DATABASE_URL or let scripts/postgres.sh \
             start one. It said:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    })
}

/// A name no other test (of this or another process) uses: pid, clock, counter.
pub fn unique_suffix() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000, n)
}

/// A database created for one test.
#[derive(Debug, Clone)]
pub struct FreshDatabase {
    /// Its URL, the admin URL's server and query with its own name.
    pub url: String,
    pub name: String,
}

/// Creates `{prefix}_{unique}` on the test server.
pub async fn fresh_database(prefix: &str) -> FreshDatabase {
    let admin = admin_url();
    let name = format!("{prefix}_{}", unique_suffix());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("connecting to the test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    let mut url = url::Url::parse(admin).expect("BELT_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    FreshDatabase {
        url: url.to_string(),
        name,
    }
}

/// Drops the database `name` if it exists, forcing out sessions a killed server left.
pub async fn drop_database(name: &str) {
    let mut conn = sqlx::PgConnection::connect(admin_url())
        .await
        .expect("connecting to the test PostgreSQL");
    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let _ = sqlx::query(&drop).execute(&mut conn).await;
}

/// `fresh_database` for a test without a runtime of its own (a plain `#[test]`).
pub fn fresh_database_blocking(prefix: &str) -> FreshDatabase {
    blocking(fresh_database(prefix))
}

/// `drop_database` for a test without a runtime of its own.
pub fn drop_database_blocking(name: &str) {
    blocking(drop_database(name))
}

fn blocking<T>(work: impl std::future::Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for one database call");
    runtime.block_on(work)
}
