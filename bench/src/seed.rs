//! Fresh stores for each phase, seeded straight through `belt_api::store` (`insert_many`, one
//! transaction per batch) — never over HTTP — and dev tokens the spawned service accepts.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use belt_api::auth::{Access, Claims, DevKey};
use belt_api::config::{Cli, Command};
use belt_api::domain::belt::now_millis;
use belt_api::domain::input::parse_spec;
use belt_api::domain::{BeltDefaults, BeltSpec, Person, ProjectName};
use belt_api::store::{self, BeltStore, NewBelt, StoreOptions};
use clap::Parser;
use serde_json::{Map, Value};
use sqlx::Connection;

/// The v2 document's create example, as the tests use it.
pub const V2_EXAMPLE: &str = include_str!("../../tests/fixtures/v2/create-response-example.json");

/// Seeded names are `bench-<id>-<word>`; `search=<SEARCH_WORD>` matches one belt in ten.
pub const WORDS: [&str; 10] = [
    "amber", "birch", "cedar", "delta", "ember", "fjord", "grove", "heath", "inlet", "jade",
];
pub const SEARCH_WORD: &str = "amber";
const INSERT_BATCH: usize = 10_000;

pub fn seeded_name(id: u64) -> String {
    format!("bench-{id:06}-{}", WORDS[id as usize % WORDS.len()])
}

/// Seeded belts that match `SEARCH_WORD` when ids run 1..=count.
pub fn search_matches(count: u64) -> u64 {
    (1..=count)
        .filter(|id| *id as usize % WORDS.len() == 0)
        .count() as u64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The v2 example as a request body: without its `id` (each create must get a new one) and
/// with `name` replaced.
pub fn example_body(name: &str) -> Map<String, Value> {
    let Value::Object(mut body) = serde_json::from_str(V2_EXAMPLE).expect("the fixture is JSON")
    else {
        unreachable!("the fixture is an object")
    };
    body.remove("id");
    body.insert("name".into(), Value::String(name.into()));
    body
}

/// The service's defaults for fields a body leaves out, as `belt-api serve` computes them.
pub fn service_defaults() -> anyhow::Result<BeltDefaults> {
    let Command::Serve(config) = Cli::try_parse_from(["belt-api", "serve"])?.command else {
        unreachable!("parsed serve")
    };
    BeltDefaults::from_config(&config.defaults).map_err(anyhow::Error::msg)
}

/// The v2 example parsed once by the service's own parser; seeds and bare-DB writes clone it.
pub fn example_spec(defaults: &BeltDefaults) -> anyhow::Result<BeltSpec> {
    parse_spec(&example_body("template"), defaults)
        .map(|input| input.spec)
        .map_err(|err| anyhow::anyhow!("the v2 example does not parse: {err}"))
}

pub fn bench_author() -> Person {
    Person {
        name: "Bench User".into(),
        email: "bench@localhost".into(),
    }
}

/// One store under test: its URL, its data dir and, for PostgreSQL, the database to drop.
pub struct Database {
    pub url: String,
    pub data_dir: PathBuf,
    admin_url: Option<String>,
    pg_name: Option<String>,
}

impl Database {
    /// A new SQLite file, or a new PostgreSQL database on the server `admin_url` names.
    ///
    /// Not `belt_test_support::postgres`, which the tests share: that one serves tests (the
    /// server of `BELT_TEST_DATABASE_URL` or the one `scripts/postgres.sh` starts, a panic on
    /// failure), while the bench is a program an operator runs against the server they name
    /// (`--postgres-url`) and reports its failures as errors; a test crate in a shipped
    /// binary's dependencies would also bring its fake Kubernetes API along.
    pub async fn fresh(
        backend: Backend,
        work_dir: &Path,
        label: &str,
        admin_url: Option<&str>,
    ) -> anyhow::Result<Database> {
        let data_dir = work_dir.join(format!("{}-{label}", backend.name()));
        if data_dir.exists() {
            std::fs::remove_dir_all(&data_dir)?;
        }
        std::fs::create_dir_all(&data_dir)?;
        match backend {
            Backend::Sqlite => Ok(Database {
                url: format!("sqlite://{}/belts.db", data_dir.display()),
                data_dir,
                admin_url: None,
                pg_name: None,
            }),
            Backend::Postgres => {
                let admin = admin_url.context("PostgreSQL needs --postgres-url")?;
                let name = format!("belt_bench_{}_{label}", std::process::id());
                let mut conn = sqlx::PgConnection::connect(admin)
                    .await
                    .context("connecting to PostgreSQL")?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
                    .execute(&mut conn)
                    .await?;
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .context("creating the bench database")?;
                Ok(Database {
                    url: with_database(admin, &name)?,
                    data_dir,
                    admin_url: Some(admin.to_string()),
                    pg_name: Some(name),
                })
            }
        }
    }

    /// The store exactly as the service opens it (same driver, pool size and timeout).
    pub async fn open_store(&self, pool_size: u32) -> anyhow::Result<Arc<dyn BeltStore>> {
        store::connect(
            &self.url,
            StoreOptions {
                max_connections: pool_size,
                timeout: Duration::from_secs(5),
                revision_retention: 50,
            },
        )
        .await
    }

    /// On PostgreSQL, gathers the planner statistics autovacuum would have gathered by the time a
    /// real store held this many belts (a freshly seeded table has none, and gets worse plans).
    /// SQLite gets nothing: the service never runs ANALYZE there.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        if self.pg_name.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await?;
            sqlx::query("ANALYZE belts").execute(&mut conn).await?;
        }
        Ok(())
    }

    /// Removes the data dir and, on PostgreSQL, the database.
    pub async fn drop(self) -> anyhow::Result<()> {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.pg_name) {
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        std::fs::remove_dir_all(&self.data_dir).ok();
        Ok(())
    }
}

fn with_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url).context("parsing the PostgreSQL URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Inserts `count` belts named `seeded_name(1..=count)` in batches of `INSERT_BATCH`, each batch
/// one `insert_many` transaction. The store assigns the ids, so they run 1..=count on a fresh
/// store and its id sequence stays ahead of them (later creates do not probe taken ids).
pub async fn seed(
    store: &dyn BeltStore,
    template: &BeltSpec,
    count: u64,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let project = ProjectName::global();
    let author = bench_author();
    let at = now_millis();
    let mut next = 1;
    while next <= count {
        let last = (next + INSERT_BATCH as u64 - 1).min(count);
        let batch = (next..=last)
            .map(|id| NewBelt {
                id: None,
                project: project.clone(),
                spec: BeltSpec {
                    name: seeded_name(id),
                    ..template.clone()
                },
                author: author.clone(),
                at,
            })
            .collect();
        let inserted = store.insert_many(batch).await?;
        anyhow::ensure!(
            inserted == last - next + 1,
            "insert_many stored {inserted} of {} belts",
            last - next + 1
        );
        next = last + 1;
    }
    Ok(started.elapsed())
}

/// A dev token with the editor role in `global`, signed with the key in `data_dir` (the key the
/// service started on that dir trusts).
pub fn editor_token(data_dir: &Path) -> anyhow::Result<String> {
    let key = DevKey::load_or_create(data_dir)?;
    let claims = Claims {
        sub: Some("bench@localhost".into()),
        name: Some("Bench User".into()),
        email: Some("bench@localhost".into()),
        resource_access: [(
            ProjectName::GLOBAL.to_string(),
            Access {
                roles: vec!["editor".into()],
            },
        )]
        .into(),
        ..Default::default()
    };
    key.mint(&claims, Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_keep_their_query() {
        assert_eq!(
            with_database(
                "postgres://root@localhost/postgres?host=/var/run/postgresql&port=5432",
                "b1"
            )
            .unwrap(),
            "postgres://root@localhost/b1?host=/var/run/postgresql&port=5432"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432", "b2").unwrap(),
            "postgres://u:p@db:5432/b2"
        );
    }

    #[test]
    fn one_seeded_name_in_ten_matches_the_search() {
        assert_eq!(search_matches(1000), 100);
        assert!(seeded_name(10).contains(SEARCH_WORD));
        assert!(!seeded_name(11).contains(SEARCH_WORD));
    }

    #[test]
    fn the_example_parses_without_its_id() {
        let defaults = service_defaults().unwrap();
        let spec = example_spec(&defaults).unwrap();
        assert_eq!(spec.name, "template");
        assert!(!example_body("x").contains_key("id"));
    }
}
