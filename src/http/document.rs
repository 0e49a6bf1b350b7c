//! The belt document as the API shows it (docs/api.md#fields): the spec's own fields, declared
//! once in [`BeltSpec`], woven with what the service decided about the belt, in the v2 key order.
//! The export view (`?export=true`) derives from the same declaration.

mod weave;

use std::borrow::Cow;

use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::timestamp::format_timestamp;
use crate::domain::{Belt, BeltDefaults, BeltSpec, BeltStatus, Person};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Link {
    pub href: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelfLinks {
    #[serde(rename = "self")]
    pub self_: Link,
}

/// A belt as returned by every single-belt endpoint and in list items. It borrows the belt's spec
/// where it can: copying it was a visible share of a `GET` in the profile (bench/README.md).
#[derive(Debug, Clone)]
pub struct BeltDocument<'a> {
    pub spec: Cow<'a, BeltSpec>,
    pub about: About,
}

/// The document's fields that are not the user's: what the service decided about the belt.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct About {
    /// Counts effective updates, from "1".
    #[schema(example = "1")]
    pub version: String,
    pub project_name: String,
    #[schema(example = "grnry-belt-161")]
    pub kubernetes_name: String,
    pub created_by: Person,
    #[schema(example = "2021-09-24T08:38:50.848Z")]
    pub created_at: String,
    pub modified_by: Person,
    pub modified_at: String,
    #[schema(example = "grnry-belt-161-1562744768164")]
    pub kafka_consumer_group_name: String,
    /// Absent when the list was asked with `exclude=status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BeltStatus>,
    #[schema(example = "161")]
    pub id: String,
    #[serde(rename = "_links")]
    pub links: SelfLinks,
}

/// Where the service's fields sit among the spec's: before the named spec field. The rest
/// (`id`, `_links`) close the document.
const PLACES: [(&str, &[&str]); 5] = [
    ("name", &["version"]),
    ("description", &["projectName", "kubernetesName"]),
    (
        "assumedRole",
        &["createdBy", "createdAt", "modifiedBy", "modifiedAt"],
    ),
    ("beltType", &["kafkaConsumerGroupName"]),
    ("volumes", &["status"]),
];

/// The spec's entries in declaration order with the service's entries placed by [`PLACES`]: the
/// schema's `required` list, in the order the document is written by [`weave::weave`].
fn weave<T>(spec: Vec<T>, about: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
    let mut about: Vec<Option<T>> = about.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for item in spec {
        let names = PLACES.iter().filter(|(before, _)| *before == key(&item));
        for name in names.flat_map(|(_, names)| names.iter()) {
            let slot = about
                .iter_mut()
                .find(|slot| slot.as_ref().is_some_and(|placed| key(placed) == *name));
            out.extend(slot.and_then(Option::take));
        }
        out.push(item);
    }
    out.extend(about.into_iter().flatten());
    out
}

/// The JSON object `value` serializes to, as entries in order.
fn entries<T: Serialize>(value: &T) -> Result<Vec<(String, Value)>, serde_json::Error> {
    match serde_json::to_value(value)? {
        Value::Object(map) => Ok(map.into_iter().collect()),
        _ => Err(serde_json::Error::custom("not a JSON object")),
    }
}

impl<'a> BeltDocument<'a> {
    pub fn new(belt: &'a Belt, status: Option<BeltStatus>, self_href: String) -> Self {
        BeltDocument {
            spec: Cow::Borrowed(&belt.spec),
            about: About::of(belt, status, self_href),
        }
    }

    /// The document of a belt the caller no longer needs: its spec is moved, not copied.
    pub fn owned(
        belt: Belt,
        status: Option<BeltStatus>,
        self_href: String,
    ) -> BeltDocument<'static> {
        let about = About::of(&belt, status, self_href);
        BeltDocument {
            spec: Cow::Owned(belt.spec),
            about,
        }
    }
}

impl About {
    fn of(belt: &Belt, status: Option<BeltStatus>, self_href: String) -> Self {
        About {
            version: belt.version.to_string(),
            project_name: belt.project.to_string(),
            kubernetes_name: belt.kubernetes_name(),
            created_by: belt.created_by.clone(),
            created_at: format_timestamp(belt.created_at),
            modified_by: belt.modified_by.clone(),
            modified_at: format_timestamp(belt.modified_at),
            kafka_consumer_group_name: belt.kafka_consumer_group_name(),
            status,
            id: belt.id.to_string(),
            links: SelfLinks {
                self_: Link { href: self_href },
            },
        }
    }
}

/// Written field by field straight to the output: building a `serde_json::Value` of each part and
/// weaving their entries was most of the rendering cost in the profile (bench/README.md).
impl Serialize for BeltDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        weave::weave(&mut map, self.spec.as_ref(), &self.about, &PLACES)?;
        map.end()
    }
}

/// The object schema a derived `ToSchema` produces.
pub(super) fn object_schema<T: PartialSchema>() -> utoipa::openapi::schema::Object {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object,
        _ => unreachable!("a struct's schema is an object"),
    }
}

impl PartialSchema for BeltDocument<'_> {
    fn schema() -> RefOr<Schema> {
        let spec = object_schema::<BeltSpec>();
        let mut document = object_schema::<About>();
        document.description =
            Some("A belt as returned by every single-belt endpoint and in list items.".into());
        document.required = weave(spec.required, document.required, String::as_str);
        document.properties.extend(spec.properties);
        RefOr::T(Schema::Object(document))
    }
}

impl ToSchema for BeltDocument<'_> {
    fn name() -> std::borrow::Cow<'static, str> {
        "BeltDocument".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <BeltSpec as ToSchema>::schemas(schemas);
        <About as ToSchema>::schemas(schemas);
    }
}

/// Spec fields an export always holds, default or not: a POST needs them.
const ALWAYS_EXPORTED: [&str; 2] = ["name", "eventTypes"];

/// `?export=true`: only what a POST body needs to recreate this belt — the fields whose value
/// differs from the server default — plus `id`.
pub fn export(belt: &Belt, defaults: &BeltDefaults) -> Map<String, Value> {
    let spec = entries(&belt.spec).unwrap_or_default();
    let default = entries(&defaults.spec_for(&belt.spec)).unwrap_or_default();
    let mut out: Map<String, Value> = spec
        .into_iter()
        .zip(default)
        .filter(|((key, value), (_, default))| {
            ALWAYS_EXPORTED.contains(&key.as_str()) || value != default
        })
        .map(|(entry, _)| entry)
        .collect();
    out.insert("id".into(), Value::from(belt.id.to_string()));
    out
}

#[cfg(test)]
#[path = "document_tests.rs"]
mod tests;
