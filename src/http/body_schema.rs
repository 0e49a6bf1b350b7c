//! The OpenAPI schema of a create or replace body, derived from the belt's one declaration.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::domain::BeltSpec;

/// The request body of create and replace: the fields of [`BeltSpec`] plus `id`, as the parser
/// takes them (`src/domain/input/`). Its schema derives from the spec's declaration.
pub struct BeltBody;

const BODY_DESCRIPTION: &str =
    "The request body of create and replace. Input is tolerant: numbers may be numeric strings,
booleans may be `\"true\"`/`\"false\"`, `\"\"` means the server default, and `volumes`,
`volumeMounts`, `extraEnv` may be a JSON-encoded string, a wrapping object or a bare list.
Unknown and legacy v1 fields are ignored.";

/// Fields a body must name; every other one has a server default.
const REQUIRED_IN_BODY: [&str; 2] = ["name", "eventTypes"];

impl PartialSchema for BeltBody {
    fn schema() -> RefOr<Schema> {
        let mut body = super::document::object_schema::<BeltSpec>();
        body.description = Some(BODY_DESCRIPTION.into());
        body.required = REQUIRED_IN_BODY.map(String::from).to_vec();
        for (name, property) in body.properties.iter_mut() {
            if !REQUIRED_IN_BODY.contains(&name.as_str()) {
                *property = loosened(property.clone());
            }
        }
        let id = ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![
                Type::String,
                Type::Integer,
                Type::Null,
            ]))
            .description(Some(
                "Used as the id of a new belt (1 to 9223372036854775807).",
            ))
            .build();
        body.properties.insert("id".into(), id.into());
        body.example = Some(serde_json::json!({
            "name": "hello-belt",
            "description": "Hello Belt Belt",
            "eventTypes": ["test-a", "test-b"],
            "requirementsPy": "package1==0.0.0\r\npackage2",
            "extractorVersion": "0.8.0",
            "profileType": "test-type"
        }));
        RefOr::T(Schema::Object(body))
    }
}

impl ToSchema for BeltBody {
    fn name() -> Cow<'static, str> {
        "BeltBody".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <BeltSpec as ToSchema>::schemas(schemas);
    }
}

/// A spec field's schema as input: it may be null or missing (the default), numbers and booleans
/// may come as strings.
fn loosened(property: RefOr<Schema>) -> RefOr<Schema> {
    match property {
        RefOr::T(Schema::Object(mut object)) => {
            object.schema_type = loosened_type(object.schema_type);
            RefOr::T(Schema::Object(object))
        }
        RefOr::T(Schema::Array(mut array)) => {
            array.schema_type = loosened_type(array.schema_type);
            RefOr::T(Schema::Array(array))
        }
        other => RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .item(other)
                .build(),
        )),
    }
}

fn loosened_type(schema_type: SchemaType) -> SchemaType {
    let mut types = match schema_type {
        SchemaType::Type(one) => vec![one],
        SchemaType::Array(types) => types,
        SchemaType::AnyValue => return SchemaType::AnyValue,
    };
    if types
        .iter()
        .any(|t| matches!(t, Type::Integer | Type::Boolean))
    {
        types.push(Type::String);
    }
    if !types.contains(&Type::Null) {
        types.push(Type::Null);
    }
    SchemaType::Array(types)
}
