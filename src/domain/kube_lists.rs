//! `volumes`, `volumeMounts` and `extraEnv`: lists of Kubernetes objects that clients send in many
//! shapes (docs/api.md#tolerant-input-canonical-output). They are decoded into the real Kubernetes
//! types, so anything a cluster would refuse is refused here, and re-encoded canonically.

use k8s_openapi::api::core::v1::{EnvVar, Volume, VolumeMount};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeList {
    Volumes,
    VolumeMounts,
    ExtraEnv,
}

impl KubeList {
    /// The field name, which is also the key of the wrapping object (`{"volumes": [...]}`).
    pub fn field(self) -> &'static str {
        match self {
            KubeList::Volumes => "volumes",
            KubeList::VolumeMounts => "volumeMounts",
            KubeList::ExtraEnv => "extraEnv",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            KubeList::Volumes => "Volume",
            KubeList::VolumeMounts => "VolumeMount",
            KubeList::ExtraEnv => "EnvVar",
        }
    }
}

/// Decodes any accepted shape into canonical objects; `Ok(None)` means "none".
/// The error is the reason only; the caller names the field.
pub fn decode(kind: KubeList, value: &Value) -> Result<Option<Vec<Value>>, String> {
    let items = match value {
        Value::Null => return Ok(None),
        Value::String(text) if text.trim().is_empty() => return Ok(None),
        Value::String(text) => {
            let inner: Value =
                serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?;
            if inner.is_string() {
                return Err("is a JSON string holding another JSON string".into());
            }
            return decode(kind, &inner);
        }
        Value::Array(items) => items,
        Value::Object(map) => match map.get(kind.field()) {
            Some(Value::Array(items)) if map.len() == 1 => items,
            Some(Value::Null) if map.len() == 1 => return Ok(None),
            _ => {
                return Err(format!(
                    "must be a list of Kubernetes {} objects, or an object {{\"{}\": [...]}}",
                    kind.kind(),
                    kind.field()
                ))
            }
        },
        _ => {
            return Err(format!(
                "must be a list of Kubernetes {} objects",
                kind.kind()
            ))
        }
    };
    if items.is_empty() {
        return Ok(None);
    }
    let canonical = match kind {
        KubeList::Volumes => canonical_items::<Volume>(kind, items, |v| &v.name)?,
        KubeList::VolumeMounts => {
            let mounts = canonical_items::<VolumeMount>(kind, items, |m| &m.name)?;
            // k8s-openapi fills a missing required string with "", so check what a cluster would.
            if let Some(index) = mounts
                .iter()
                .position(|m| m["mountPath"].as_str().is_none_or(|p| p.trim().is_empty()))
            {
                return Err(format!("item {index} has an empty 'mountPath'"));
            }
            mounts
        }
        KubeList::ExtraEnv => canonical_items::<EnvVar>(kind, items, |e| &e.name)?,
    };
    Ok(Some(canonical))
}

fn canonical_items<T: DeserializeOwned + Serialize>(
    kind: KubeList,
    items: &[Value],
    name_of: impl Fn(&T) -> &String,
) -> Result<Vec<Value>, String> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let parsed: T = serde_json::from_value(item.clone()).map_err(|e| {
                format!(
                    "item {index} is not a valid Kubernetes {}: {e}",
                    kind.kind()
                )
            })?;
            let name = name_of(&parsed);
            if name.trim().is_empty() {
                return Err(format!("item {index} has an empty 'name'"));
            }
            // Mounts may mount one volume at several paths; volumes and env names must be unique.
            if kind != KubeList::VolumeMounts && !seen.insert(name.clone()) {
                return Err(format!("item {index} repeats the name '{name}'"));
            }
            serde_json::to_value(&parsed).map_err(|e| e.to_string())
        })
        .collect()
}

/// The v2 output shape: a JSON-encoded string of the wrapping object, or `null`.
pub fn encode(kind: KubeList, items: &Option<Vec<Value>>) -> Value {
    match items {
        None => Value::Null,
        Some(items) => {
            let wrapped = serde_json::json!({ kind.field(): items });
            Value::String(wrapped.to_string())
        }
    }
}

/// The stored and rendered form of the three list fields: the v2 JSON-encoded string, as
/// [`encode`] makes it but without copying the items first (every document renders it).
/// Reading takes every shape [`decode`] accepts, so specs stored as bare lists by earlier
/// versions load.
fn serialize<S: serde::Serializer>(
    kind: KubeList,
    items: &Option<Vec<Value>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match items {
        None => serializer.serialize_none(),
        Some(items) => {
            let wrapped = std::collections::BTreeMap::from([(kind.field(), items)]);
            let text = serde_json::to_string(&wrapped).map_err(serde::ser::Error::custom)?;
            serializer.serialize_str(&text)
        }
    }
}

fn deserialize<'de, D: serde::Deserializer<'de>>(
    kind: KubeList,
    deserializer: D,
) -> Result<Option<Vec<Value>>, D::Error> {
    let value = <Option<Value> as serde::Deserialize>::deserialize(deserializer)?;
    let value = value.unwrap_or(Value::Null);
    if let Some(items) = as_stored(kind, &value) {
        return Ok(Some(items));
    }
    decode(kind, &value).map_err(serde::de::Error::custom)
}

/// The items of the form [`serialize`] writes (`"{\"volumes\": [...]}"`), as they are. Only the
/// store reads a `BeltSpec` through serde, and what it holds in this form was written from items
/// [`decode`] had already made canonical; decoding each again through its Kubernetes type was
/// 6–13 % of a `GET`'s or a list's CPU (bench/README.md). `None` for any other shape, which
/// [`decode`] reads in full.
fn as_stored(kind: KubeList, value: &Value) -> Option<Vec<Value>> {
    let Value::String(text) = value else {
        return None;
    };
    let Ok(Value::Object(mut wrapper)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    match wrapper.remove(kind.field()) {
        Some(Value::Array(items)) if wrapper.is_empty() && !items.is_empty() => Some(items),
        _ => None,
    }
}

macro_rules! serde_as {
    ($module:ident, $kind:expr) => {
        /// `#[serde(with)]` for this list field (see [`encode`] and [`decode`]).
        pub mod $module {
            use super::*;

            pub fn serialize<S: serde::Serializer>(
                items: &Option<Vec<Value>>,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                super::serialize($kind, items, serializer)
            }

            pub fn deserialize<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Option<Vec<Value>>, D::Error> {
                super::deserialize($kind, deserializer)
            }
        }
    };
}

serde_as!(as_volumes, KubeList::Volumes);
serde_as!(as_volume_mounts, KubeList::VolumeMounts);
serde_as!(as_extra_env, KubeList::ExtraEnv);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_accepted_shape_decodes_to_the_same_list() {
        let list = json!([{"name": "FOO", "value": "bar"}]);
        let shapes = [
            json!("{\"extraEnv\": [{\"name\": \"FOO\", \"value\": \"bar\"}]}"),
            json!("[{\"name\": \"FOO\", \"value\": \"bar\"}]"),
            json!({"extraEnv": [{"name": "FOO", "value": "bar"}]}),
            list.clone(),
        ];
        for shape in shapes {
            let decoded = decode(KubeList::ExtraEnv, &shape).unwrap().unwrap();
            assert_eq!(Value::Array(decoded), list, "{shape}");
        }
    }

    #[test]
    fn empty_shapes_mean_none() {
        for shape in [
            json!(null),
            json!(""),
            json!([]),
            json!("[]"),
            json!({"volumes": []}),
        ] {
            assert_eq!(decode(KubeList::Volumes, &shape).unwrap(), None, "{shape}");
        }
    }

    #[test]
    fn the_v2_examples_decode() {
        let volumes = json!("{\"volumes\": [{\"name\": \"test\", \"configMap\": {\"name\": \"log-config\", \"items\": [{\"key\": \"log_level\", \"path\": \"log_level\"}]}}]}");
        let mounts = json!("{\"volumeMounts\": [{\"name\": \"test\", \"subPath\": \"\", \"readOnly\": true, \"mountPath\": \"/etc/test\", \"secretName\": \"test-certs\"}]}");
        let volumes = decode(KubeList::Volumes, &volumes).unwrap().unwrap();
        assert_eq!(volumes[0]["configMap"]["items"][0]["key"], "log_level");
        let mounts = decode(KubeList::VolumeMounts, &mounts).unwrap().unwrap();
        assert_eq!(mounts[0]["mountPath"], "/etc/test");
    }

    #[test]
    fn invalid_objects_are_refused_with_a_reason() {
        let missing_mount_path = json!([{"name": "x"}]);
        let err = decode(KubeList::VolumeMounts, &missing_mount_path).unwrap_err();
        assert!(err.contains("mountPath"), "{err}");
        let wrong_type = json!([{"name": "A", "value": 5}]);
        assert!(decode(KubeList::ExtraEnv, &wrong_type).is_err());
        assert!(decode(KubeList::ExtraEnv, &json!(42)).is_err());
        assert!(decode(KubeList::ExtraEnv, &json!("{not json")).is_err());
        assert!(decode(KubeList::ExtraEnv, &json!({"wrong": []})).is_err());
        let duplicate = json!([{"name": "A"}, {"name": "A"}]);
        assert!(decode(KubeList::ExtraEnv, &duplicate).is_err());
    }

    #[test]
    fn the_stored_form_reads_back_what_a_full_decode_gives() {
        let inputs = [
            (
                KubeList::Volumes,
                json!([
                    {"name": "test", "configMap": {"name": "log-config", "items": [{"key": "log_level", "path": "log_level"}]}},
                    {"emptyDir": {"sizeLimit": "1Gi"}, "name": "scratch"},
                    {"secret": {"secretName": "s", "defaultMode": 420, "optional": true}, "name": "certs"},
                ]),
            ),
            (
                KubeList::VolumeMounts,
                json!([
                    {"readOnly": true, "name": "test", "subPath": "", "mountPath": "/etc/test"},
                    {"name": "scratch", "mountPath": "/tmp/s"},
                ]),
            ),
            (
                KubeList::ExtraEnv,
                json!([
                    {"value": "bar", "name": "FOO"},
                    {"name": "FROM", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                    {"name": "EMPTY", "value": "\"quoted\" \u{1F600}"},
                ]),
            ),
        ];
        for (kind, input) in inputs {
            let canonical = decode(kind, &input).unwrap();
            let stored = serialize(kind, &canonical, serde_json::value::Serializer).unwrap();
            assert_eq!(stored, encode(kind, &canonical), "{kind:?}");
            let read = deserialize(kind, stored.clone()).unwrap();
            let decoded = decode(kind, &stored).unwrap();
            assert_eq!(
                serde_json::to_string(&read).unwrap(),
                serde_json::to_string(&decoded).unwrap(),
                "{kind:?}: the same objects, keys in the same order"
            );
        }
        // Other shapes still go through the full decode, refusals included.
        let bare = json!([{"name": "FOO", "value": "bar"}]);
        assert_eq!(
            deserialize(KubeList::ExtraEnv, bare.clone()).unwrap(),
            Some(vec![bare[0].clone()])
        );
        assert!(deserialize(KubeList::ExtraEnv, json!("{\"extraEnv\": 5}")).is_err());
        assert_eq!(
            deserialize(KubeList::ExtraEnv, json!("{\"extraEnv\": []}")).unwrap(),
            None
        );
        assert_eq!(deserialize(KubeList::ExtraEnv, Value::Null).unwrap(), None);
    }

    #[test]
    fn encode_keeps_the_v2_string_shape() {
        let items = Some(vec![json!({"name": "FOO", "value": "bar"})]);
        assert_eq!(
            encode(KubeList::ExtraEnv, &items),
            json!("{\"extraEnv\":[{\"name\":\"FOO\",\"value\":\"bar\"}]}")
        );
        assert_eq!(encode(KubeList::Volumes, &None), Value::Null);
    }
}
