//! Test-invoke (docs/api.md#test-invoke): the belt's callback, or a draft of it, run on sample
//! events in the sandbox, answering what each event produced. Nothing is stored or deployed.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Access, Asked, BeltError, Caller};
use crate::domain::input::parse_body;
use crate::domain::replica::{Platform, ReplicaSpec, CALLBACK_FILE, REQUIREMENTS_FILE};
use crate::domain::samples::{parse_events, SampleEvent, SampleName};
use crate::domain::{Belt, BeltDefaults, BeltSpec, Invalid, ProjectName};
use crate::invoke::{Invoke, InvokeReport, InvokeRequest, Tenant};
use crate::store::BeltStore;

mod draft;

/// Events one invocation may carry.
pub const MAX_INVOKE_EVENTS: usize = crate::domain::samples::MAX_EVENTS;

/// The test-invoke use case: reads the belt, runs the invoker.
pub struct Invocations {
    store: Arc<dyn BeltStore>,
    invoker: Arc<dyn Invoke>,
    defaults: Arc<BeltDefaults>,
    /// Whether an update shows the `grnry-source` header, as the replicas' updates do.
    source_header: bool,
}

/// The events to run: given in the body, or saved with the belt under a name.
#[derive(Debug)]
enum Events {
    Given(Vec<SampleEvent>),
    Saved(SampleName),
}

/// What the body asks for, checked.
#[derive(Debug)]
struct Asking {
    events: Events,
    extractor_fn: Option<String>,
    requirements_py: Option<String>,
    parameter: Option<String>,
}

/// `events`, or `sample` naming a saved sample: exactly one of the two (`null` is left out).
fn events_of(body: &Map<String, Value>) -> Result<Events, Invalid> {
    let given = |name: &str| body.get(name).filter(|value| !value.is_null());
    match (given("events"), given("sample")) {
        (Some(_), Some(_)) => Err(Invalid::field(
            "sample",
            "cannot be given with 'events': send the events, or the name of a saved sample",
        )),
        (None, Some(Value::String(name))) => Ok(Events::Saved(SampleName::parse(name, "sample")?)),
        (None, Some(_)) => Err(Invalid::field(
            "sample",
            "must be the name of a sample saved with the belt",
        )),
        (Some(events), None) => Ok(Events::Given(parse_events(Some(events))?)),
        (None, None) => Err(Invalid::field(
            "events",
            "must be a list of sample events, unless 'sample' names a saved sample",
        )),
    }
}

/// An optional string field; `null` and `""` mean "as stored".
fn text_field(body: &Map<String, Value>, name: &str) -> Result<Option<String>, Invalid> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(Invalid::field(name, "must be a string")),
    }
}

fn parse(bytes: &[u8], defaults: &BeltDefaults) -> Result<Asking, Invalid> {
    let body = parse_body(bytes)?;
    crate::domain::fields::refuse_nul_in_body(&body)?;
    let requirements_py = text_field(&body, "requirementsPy")?;
    if let Some(requirements) = &requirements_py {
        crate::domain::requirements::check_requirements(requirements)
            .and_then(|()| defaults.policy.check_requirements(requirements))
            .map_err(|reason| Invalid::field("requirementsPy", reason))?;
    }
    Ok(Asking {
        events: events_of(&body)?,
        extractor_fn: text_field(&body, "extractorFn")?,
        requirements_py,
        parameter: text_field(&body, "parameter")?,
    })
}

impl Invocations {
    pub fn new(
        store: Arc<dyn BeltStore>,
        invoker: Arc<dyn Invoke>,
        defaults: Arc<BeltDefaults>,
    ) -> Self {
        Invocations {
            store,
            invoker,
            defaults,
            source_header: false,
        }
    }

    /// Test-invoke shows the records a replica would produce: with the `grnry-source` header
    /// exactly when the replicas write it (`Platform::source_header`).
    pub fn with_source_header(mut self, source_header: bool) -> Self {
        self.source_header = source_header;
        self
    }

    /// The `editor` role, then the body, then the belt; the run answers whatever the user's code
    /// did, and fails only when belt-api could not run it (busy, unavailable).
    pub async fn invoke(&self, asked: Asked<'_>, body: &[u8]) -> Result<InvokeReport, BeltError> {
        let asking = asked.permit(Access::Write, parse(body, &self.defaults))?;
        let belt = self
            .store
            .get(asked.project, asked.id)
            .await?
            .ok_or(BeltError::NotFound(asked.id))?;
        let events = self.events(asked, asking.events).await?;
        let mut spec = belt.spec.clone();
        if let Some(callback) = asking.extractor_fn {
            spec.extractor_fn = callback;
        }
        if let Some(requirements) = asking.requirements_py {
            spec.requirements_py = requirements;
        }
        if let Some(parameter) = asking.parameter {
            spec.parameter = parameter;
        }
        let tenant = Tenant::Belt(belt.id.get().unsigned_abs());
        self.run(&belt, &spec, tenant, events).await
    }

    /// The `editor` role on the project, then the body: a draft of a belt not saved yet, run
    /// under a tenant of its own (`Tenant::Draft`), sharing the project's slots with its belts.
    pub async fn invoke_draft(
        &self,
        caller: &Caller,
        project: &ProjectName,
        body: &[u8],
    ) -> Result<InvokeReport, BeltError> {
        let (events, spec) =
            caller.permit(project, Access::Write, draft::parse(body, &self.defaults))?;
        let belt = draft::belt(project, spec);
        self.run(&belt, &belt.spec, Tenant::Draft, events).await
    }

    /// Runs `spec` as the replica of `belt` would run it, on `events`.
    async fn run(
        &self,
        belt: &Belt,
        spec: &BeltSpec,
        tenant: Tenant,
        events: Vec<SampleEvent>,
    ) -> Result<InvokeReport, BeltError> {
        // No Kafka address: an invocation reads and writes no topic.
        let platform = Platform {
            source_header: self.source_header,
            ..Platform::default()
        };
        let replica = ReplicaSpec::build(belt, spec, belt.version, 0, false, &platform);
        let file = |name: &str| replica.files.get(name).cloned().unwrap_or_default();
        let mut env = ReplicaSpec::plain_env(&replica);
        if tenant == Tenant::Draft {
            draft::without_id(&mut env);
        }
        let request = InvokeRequest {
            project: belt.project.as_str().to_string(),
            tenant,
            callback: file(CALLBACK_FILE),
            requirements: file(REQUIREMENTS_FILE),
            env,
            events,
            replica,
        };
        Ok(self.invoker.invoke(request).await?)
    }

    /// The events given, or those of the sample saved with the belt under the name given; a
    /// name it does not keep is refused naming `sample`.
    async fn events(
        &self,
        asked: Asked<'_>,
        events: Events,
    ) -> Result<Vec<SampleEvent>, BeltError> {
        let name = match events {
            Events::Given(events) => return Ok(events),
            Events::Saved(name) => name,
        };
        match self.store.sample(asked.project, asked.id, &name).await? {
            Some(sample) => Ok(sample.events.into_events()),
            None => Err(Invalid::field(
                "sample",
                format!(
                    "must name a sample saved with belt {}, but it keeps none named '{name}'",
                    asked.id
                ),
            )
            .into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: serde_json::Value) -> String {
        let bytes = serde_json::to_vec(&body).unwrap();
        parse(&bytes, &crate::domain::defaults::for_tests())
            .unwrap_err()
            .message
    }

    #[test]
    fn bad_bodies_name_the_field() {
        assert!(refused(serde_json::json!({})).contains("'events'"));
        let many: Vec<_> = (0..101).map(|_| serde_json::json!({"event": {}})).collect();
        assert!(refused(serde_json::json!({ "events": many })).contains("'events'"));
        assert!(
            refused(serde_json::json!({"events": [{"headers": {}}]})).contains("events[0].event")
        );
        let headers = serde_json::json!({"events": [{"event": 1, "headers": {"a": 1}}]});
        assert!(refused(headers).contains("events[0].headers"));
        let draft = serde_json::json!({"events": [{"event": 1}], "extractorFn": 3});
        assert!(refused(draft).contains("'extractorFn'"));
    }

    #[test]
    fn a_saved_sample_is_named_instead_of_events_never_with_them() {
        let both = serde_json::json!({"events": [{"event": 1}], "sample": "s"});
        assert!(refused(both).starts_with("Parameter 'sample' cannot be given with 'events'"));
        assert!(refused(serde_json::json!({"sample": 7})).contains("'sample'"));
        assert!(refused(serde_json::json!({"sample": "a/b"})).contains("'sample'"));
        let body = serde_json::json!({"sample": "order-7", "events": null});
        let asking = parse(
            &serde_json::to_vec(&body).unwrap(),
            &crate::domain::defaults::for_tests(),
        )
        .unwrap();
        assert!(matches!(asking.events, Events::Saved(name) if name.as_str() == "order-7"));
    }

    #[test]
    fn a_good_body_keeps_headers_and_profile() {
        let body = serde_json::json!({"events": [{"event": {"x": 1}, "headers": {"h": "v"}, "profile": {"p": 1}}]});
        let asking = parse(
            &serde_json::to_vec(&body).unwrap(),
            &crate::domain::defaults::for_tests(),
        )
        .unwrap();
        let Events::Given(events) = asking.events else {
            panic!("{:?}", asking.events)
        };
        assert_eq!(events[0].headers["h"], "v");
        assert_eq!(events[0].profile, Some(serde_json::json!({"p": 1})));
        assert!(asking.extractor_fn.is_none());
    }
}
