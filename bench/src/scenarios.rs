//! The measured operations. Each has one request maker — sent to the service and, unchanged, to
//! the bare-HTTP server — and one bare-database worker that does the store calls its handler does
//! (same store code, driver and pool size), without HTTP, auth or rendering.

use std::net::SocketAddr;
use std::sync::Arc;

use belt_api::domain::belt::now_millis;
use belt_api::domain::transition::{self, Request as Asked};
use belt_api::domain::{BeltId, BeltSpec, Precondition, ProjectName};
use belt_api::store::{BeltStore, Commit, ListQuery, LockedOutcome, NewBelt};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;
use serde::Serialize;

use crate::load::{MakeRequest, Worker};
use crate::seed::{self, bench_author, seeded_name, SEARCH_WORD};

pub const PAGE_SIZE: u64 = 20;
const NAME_SLOT: &str = "__BENCH_NAME__";
const DESCRIPTION_SLOT: &str = "__BENCH_DESCRIPTION__";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Get,
    List,
    Create,
    Update,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::List => "list",
            Operation::Create => "create",
            Operation::Update => "update",
        }
    }
}

/// What the operations need to know about the seeded store.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub belts: u64,
    /// Belts matching `search=SEARCH_WORD`.
    pub matches: u64,
}

impl Seeded {
    pub fn new(belts: u64) -> Seeded {
        Seeded {
            belts,
            matches: seed::search_matches(belts),
        }
    }

    fn random_id(&self, rng: &mut fastrand::Rng) -> u64 {
        rng.u64(1..=self.belts)
    }

    fn random_offset(&self, rng: &mut fastrand::Rng) -> u64 {
        rng.u64(0..=self.matches.saturating_sub(PAGE_SIZE))
    }
}

/// The belt worker `index` updates: its own, so updates never contend on one row.
pub fn updated_id(index: usize) -> u64 {
    index as u64 + 1
}

pub fn get_request(address: SocketAddr, path: &str, token: Option<&str>) -> Request<Full<Bytes>> {
    request(address, Method::GET, path, token, Bytes::new())
}

fn request(
    address: SocketAddr,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, address.to_string());
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if !body.is_empty() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder.body(Full::new(body)).expect("a valid request")
}

/// A JSON body template with slots for the name and the description.
fn body_template(description: bool) -> String {
    let mut body = seed::example_body(NAME_SLOT);
    if description {
        body.insert("description".into(), DESCRIPTION_SLOT.into());
    }
    serde_json::to_string(&body).expect("serializable")
}

/// The request maker for `operation`; `tag` keeps created names unique across runs.
pub fn http_requests(
    operation: Operation,
    address: SocketAddr,
    token: Option<String>,
    seeded: Seeded,
    tag: &str,
) -> Arc<MakeRequest> {
    let tag = tag.to_string();
    match operation {
        Operation::Get => Arc::new(move |_, _, rng| {
            let path = format!("/projects/global/belts/{}", seeded.random_id(rng));
            get_request(address, &path, token.as_deref())
        }),
        Operation::List => Arc::new(move |_, _, rng| {
            let path = format!(
                "/projects/global/belts?search={SEARCH_WORD}&pagesize={PAGE_SIZE}&offset={}",
                seeded.random_offset(rng)
            );
            get_request(address, &path, token.as_deref())
        }),
        Operation::Create => {
            let template = body_template(false);
            Arc::new(move |index, seq, _| {
                let name = format!("bench-create-{tag}-{index}-{seq}");
                let body = template.replace(NAME_SLOT, &name);
                request(
                    address,
                    Method::POST,
                    "/projects/global/belts",
                    token.as_deref(),
                    body.into(),
                )
            })
        }
        Operation::Update => {
            let template = body_template(true);
            Arc::new(move |index, seq, _| {
                let id = updated_id(index);
                let body = template
                    .replace(NAME_SLOT, &seeded_name(id))
                    .replace(DESCRIPTION_SLOT, &format!("{tag} update {seq}"));
                request(
                    address,
                    Method::PUT,
                    &format!("/projects/global/belts/{id}"),
                    token.as_deref(),
                    body.into(),
                )
            })
        }
    }
}

/// The bare-database ceiling of one operation, for one worker.
pub struct DbWorker {
    operation: Operation,
    store: Arc<dyn BeltStore>,
    template: Arc<BeltSpec>,
    seeded: Seeded,
    index: usize,
    tag: Arc<str>,
    project: ProjectName,
    rng: fastrand::Rng,
}

impl DbWorker {
    pub fn new(
        operation: Operation,
        store: Arc<dyn BeltStore>,
        template: Arc<BeltSpec>,
        seeded: Seeded,
        index: usize,
        tag: Arc<str>,
    ) -> DbWorker {
        DbWorker {
            operation,
            store,
            template,
            seeded,
            index,
            tag,
            project: ProjectName::global(),
            rng: fastrand::Rng::with_seed(0xdb ^ index as u64),
        }
    }

    async fn step(&mut self, seq: u64) -> anyhow::Result<()> {
        match self.operation {
            Operation::Get => {
                let id = belt_id(self.seeded.random_id(&mut self.rng))?;
                self.store
                    .get(&self.project, id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("belt {id} not found"))?;
            }
            Operation::List => {
                let query = ListQuery {
                    search: SEARCH_WORD.into(),
                    offset: self.seeded.random_offset(&mut self.rng),
                    limit: PAGE_SIZE,
                };
                self.store.list(&self.project, &query).await?;
            }
            Operation::Create => {
                let spec = BeltSpec {
                    name: format!("bench-dbcreate-{}-{}-{seq}", self.tag, self.index),
                    ..(*self.template).clone()
                };
                self.store
                    .create(
                        NewBelt {
                            id: None,
                            project: self.project.clone(),
                            spec,
                            author: bench_author(),
                            at: now_millis(),
                        },
                        Commit::Yes,
                    )
                    .await?;
            }
            Operation::Update => {
                // As the handler (`Belts::replace`): the replace decided on the belt under its
                // row lock, and stored with its revision and its event in one transaction.
                let id = belt_id(updated_id(self.index))?;
                let spec = BeltSpec {
                    name: seeded_name(id.get() as u64),
                    description: format!("{} dbupdate {seq}", self.tag),
                    ..(*self.template).clone()
                };
                let ask = Asked {
                    expect: Precondition::Any,
                    by: bench_author(),
                    at: now_millis(),
                };
                let decide =
                    Box::new(move |current: &_| transition::replace(current, &ask, spec, None));
                match (self.store)
                    .write_locked(&self.project, id, decide, Commit::Yes)
                    .await?
                {
                    LockedOutcome::Written(_) => {}
                    other => anyhow::bail!("update of belt {id}: {other:?}"),
                }
            }
        }
        Ok(())
    }
}

fn belt_id(id: u64) -> anyhow::Result<BeltId> {
    i64::try_from(id)
        .ok()
        .and_then(BeltId::new)
        .ok_or_else(|| anyhow::anyhow!("{id} is not a belt id"))
}

impl Worker for DbWorker {
    async fn call(&mut self, seq: u64) -> Result<(), String> {
        self.step(seq)
            .await
            .map_err(|err| format!("{} on the store: {err:#}", self.operation.name()))
    }
}
