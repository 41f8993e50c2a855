//! A typed view of the parts of a botocore service model that the generator reads.
//!
//! The generator is a build tool run by developers, so a model it does not understand is a
//! panic naming the shape, not a recoverable error.

use std::collections::BTreeMap;

use serde_json::Value;

/// The shapes (sorted by name) and operations (sorted by name) of one service model.
pub struct Model<'a> {
    pub target_prefix: &'a str,
    pub shapes: BTreeMap<&'a str, Shape<'a>>,
    pub operations: Vec<Operation<'a>>,
}

/// One operation: its name and the shapes of its input and output, when it has them.
pub struct Operation<'a> {
    pub name: &'a str,
    pub input: Option<&'a str>,
    pub output: Option<&'a str>,
}

/// One shape, reduced to what the wire crate needs.
pub enum Shape<'a> {
    Structure(Structure<'a>),
    List {
        member: &'a str,
        min: Option<i64>,
        max: Option<i64>,
    },
    String(StringShape<'a>),
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
    Timestamp,
}

/// A structure, union or exception.
pub struct Structure<'a> {
    pub members: Vec<Member<'a>>,
    pub union: bool,
    pub exception: bool,
    pub sensitive: bool,
}

/// A member of a structure, in model order.
pub struct Member<'a> {
    pub name: &'a str,
    pub target: &'a str,
    pub required: bool,
}

/// A string shape: either an enum (`values` non-empty) or a constrained string.
pub struct StringShape<'a> {
    pub values: Vec<&'a str>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub pattern: Option<&'a str>,
    pub sensitive: bool,
}

impl<'a> Model<'a> {
    /// Reads the model, panicking with the shape's name on anything unexpected.
    pub fn read(model: &'a Value) -> Self {
        let target_prefix = str_at(model, &["metadata", "targetPrefix"]).expect("targetPrefix");
        let shapes = object(model, "shapes")
            .iter()
            .map(|(name, shape)| (name.as_str(), Shape::read(name, shape)))
            .collect();
        let mut operations: Vec<Operation<'a>> = object(model, "operations")
            .iter()
            .map(|(name, op)| Operation::read(name, op))
            .collect();
        operations.sort_by_key(|op| op.name);
        Model {
            target_prefix,
            shapes,
            operations,
        }
    }

    /// The shape called `name`; the model refers only to shapes it defines.
    pub fn shape(&self, name: &str) -> &Shape<'a> {
        self.shapes
            .get(name)
            .unwrap_or_else(|| panic!("the model has no shape {name}"))
    }
}

impl<'a> Operation<'a> {
    fn read(name: &'a str, op: &'a Value) -> Self {
        let input = str_at(op, &["input", "shape"]);
        let output = str_at(op, &["output", "shape"]);
        Operation {
            name,
            input,
            output,
        }
    }
}

impl<'a> Shape<'a> {
    fn read(name: &str, shape: &'a Value) -> Self {
        let min = shape.get("min").and_then(Value::as_i64);
        let max = shape.get("max").and_then(Value::as_i64);
        match shape.get("type").and_then(Value::as_str) {
            Some("structure") => Shape::Structure(Structure::read(name, shape)),
            Some("list") => {
                let member = str_at(shape, &["member", "shape"]).expect("list member");
                Shape::List { member, min, max }
            }
            Some("string") => Shape::String(StringShape::read(shape, min, max)),
            Some("integer") | Some("long") => Shape::Integer { min, max },
            Some("boolean") => Shape::Boolean,
            Some("timestamp") => Shape::Timestamp,
            other => panic!("shape {name} has unsupported type {other:?}"),
        }
    }
}

impl<'a> Structure<'a> {
    fn read(name: &str, shape: &'a Value) -> Self {
        let required: Vec<&str> = shape
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let members = object(shape, "members")
            .iter()
            .map(|(member, spec)| Member {
                name: member,
                target: str_at(spec, &["shape"])
                    .unwrap_or_else(|| panic!("member {name}.{member} has no shape")),
                required: required.contains(&member.as_str()),
            })
            .collect();
        Structure {
            members,
            union: flag(shape, "union"),
            exception: flag(shape, "exception"),
            sensitive: flag(shape, "sensitive"),
        }
    }
}

impl<'a> StringShape<'a> {
    fn read(shape: &'a Value, min: Option<i64>, max: Option<i64>) -> Self {
        let values = shape
            .get("enum")
            .and_then(Value::as_array)
            .map(|values| values.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let pattern = shape.get("pattern").and_then(Value::as_str);
        StringShape {
            values,
            min,
            max,
            pattern,
            sensitive: flag(shape, "sensitive"),
        }
    }
}

/// The object under `key`, which the model always has.
fn object<'a>(value: &'a Value, key: &str) -> &'a serde_json::Map<String, Value> {
    value
        .get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("model has no {key}"))
}

fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |value, key| value.get(key))?
        .as_str()
}

fn flag(shape: &Value, key: &str) -> bool {
    shape.get(key).and_then(Value::as_bool).unwrap_or(false)
}
