//! Specs: the YAML a user passes to CreateEnvironment/UpdateEnvironment, and its validation
//! against a schema.
//!
//! A spec reads `proton: EnvironmentSpec` then `spec:` with the inputs. Parsing is bounded: the
//! text may be at most [`MAX_SPEC_BYTES`] (the API's own limit on `spec`), and the YAML parser
//! refuses alias expansion that would multiply the document (billion laughs) and nesting past
//! its recursion limit. Validation follows Proton: a value of the wrong type, outside its
//! bounds, or a field the schema does not define is an error that names the field.

use serde_json::{Map, Value};

use crate::schema::{Bound, Kind, Node, Schema};

/// Largest spec accepted, in bytes: the `spec` member's length limit in the Proton API model.
pub const MAX_SPEC_BYTES: usize = 51_200;
/// Deepest nesting of values validated.
const MAX_DEPTH: usize = 32;

/// A parsed spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The `proton` line: `EnvironmentSpec` for environments.
    pub proton: String,
    /// The `spec` mapping, in the order written. An absent or empty `spec:` is empty.
    pub spec: Map<String, Value>,
}

/// Why a spec is refused: the field (`spec.vpc_cidr`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct SpecError {
    /// The dotted path of the field; `spec` for the document as a whole.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl SpecError {
    pub(crate) fn new(field: &str, reason: impl Into<String>) -> SpecError {
        SpecError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }
}

/// Parses spec YAML into its kind and inputs, without looking at any schema.
pub fn parse_spec(yaml: &str) -> Result<Spec, SpecError> {
    if yaml.len() > MAX_SPEC_BYTES {
        let reason = format!(
            "is {} bytes, more than the limit of {MAX_SPEC_BYTES}",
            yaml.len()
        );
        return Err(SpecError::new("spec", reason));
    }
    let raw: serde_norway::Value = serde_norway::from_str(yaml)
        .map_err(|e| SpecError::new("spec", format!("not valid YAML: {e}")))?;
    // JSON has no NaN or infinity: converted, they would silently become null (absent).
    if let Some(path) = non_finite(&raw, "spec") {
        return Err(SpecError::new(
            &path,
            "must be a finite number, not .nan or .inf",
        ));
    }
    let root: Value = serde_norway::from_value(raw)
        .map_err(|e| SpecError::new("spec", format!("not valid YAML: {e}")))?;
    let Value::Object(mut root) = root else {
        return Err(SpecError::new(
            "spec",
            "must be a YAML mapping with proton: and spec:",
        ));
    };
    let proton = match root.remove("proton") {
        Some(Value::String(kind)) => kind,
        Some(_) => return Err(SpecError::new("proton", "must be a string")),
        None => return Err(SpecError::new("proton", "required")),
    };
    let spec = match root.remove("spec") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(spec)) => spec,
        Some(_) => return Err(SpecError::new("spec", "must be a mapping of inputs")),
    };
    if let Some(key) = root.keys().next() {
        return Err(SpecError::new(key, "not a known top-level key of a spec"));
    }
    Ok(Spec { proton, spec })
}

/// Checks `value` against `node`, returning it with defaults applied. `path` names the value
/// in errors.
pub(crate) fn validate(
    schema: &Schema,
    node: &Node,
    value: Value,
    path: &str,
    depth: usize,
) -> Result<Value, SpecError> {
    if depth > MAX_DEPTH {
        return Err(SpecError::new(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let node = schema.resolve(node);
    let value = match &node.kind {
        Kind::String {
            min_length,
            max_length,
            pattern,
        } => {
            let text = value
                .as_str()
                .ok_or_else(|| SpecError::new(path, "must be a string"))?;
            let length = text.chars().count() as u64;
            if min_length.is_some_and(|min| length < min) {
                let reason = format!("must be at least {} characters long", min_length.unwrap());
                return Err(SpecError::new(path, reason));
            }
            if max_length.is_some_and(|max| length > max) {
                let reason = format!("must be at most {} characters long", max_length.unwrap());
                return Err(SpecError::new(path, reason));
            }
            if let Some(pattern) = pattern.as_ref().filter(|p| !p.regex.is_match(text)) {
                let reason = format!("must match pattern {}", pattern.source);
                return Err(SpecError::new(path, reason));
            }
            value
        }
        Kind::Number {
            integer,
            minimum,
            maximum,
        } => {
            check_number(&value, *integer, *minimum, *maximum, path)?;
            value
        }
        Kind::Boolean if value.is_boolean() => value,
        Kind::Boolean => return Err(SpecError::new(path, "must be true or false")),
        Kind::Array {
            items,
            min_items,
            max_items,
            unique,
        } => {
            let bounds = (*min_items, *max_items, *unique);
            validate_array(schema, items.as_deref(), bounds, value, path, depth)?
        }
        Kind::Object {
            properties,
            required,
        } => validate_object(schema, properties, required, value, path, depth)?,
        Kind::Ref(name) => return Err(SpecError::new(path, format!("unknown type {name}"))),
    };
    if let Some(allowed) = node.allowed.as_ref().filter(|a| !a.contains(&value)) {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(SpecError::new(
            path,
            format!("must be one of {}", list.join(", ")),
        ));
    }
    Ok(value)
}

fn check_number(
    value: &Value,
    integer: bool,
    minimum: Option<Bound>,
    maximum: Option<Bound>,
    path: &str,
) -> Result<(), SpecError> {
    let number = value
        .as_f64()
        .ok_or_else(|| SpecError::new(path, "must be a number"))?;
    let whole = value.is_i64() || value.is_u64() || number.fract() == 0.0;
    if integer && !whole {
        return Err(SpecError::new(path, "must be an integer"));
    }
    if let Some(min) = minimum {
        let fails = if min.exclusive {
            number <= min.value
        } else {
            number < min.value
        };
        if fails {
            let word = if min.exclusive {
                "greater than"
            } else {
                "at least"
            };
            return Err(SpecError::new(
                path,
                format!("must be {word} {}", min.value),
            ));
        }
    }
    if let Some(max) = maximum {
        let fails = if max.exclusive {
            number >= max.value
        } else {
            number > max.value
        };
        if fails {
            let word = if max.exclusive {
                "less than"
            } else {
                "at most"
            };
            return Err(SpecError::new(
                path,
                format!("must be {word} {}", max.value),
            ));
        }
    }
    Ok(())
}

fn validate_array(
    schema: &Schema,
    items: Option<&Node>,
    (min_items, max_items, unique): (Option<u64>, Option<u64>, bool),
    value: Value,
    path: &str,
    depth: usize,
) -> Result<Value, SpecError> {
    let Value::Array(elements) = value else {
        return Err(SpecError::new(path, "must be a list"));
    };
    let length = elements.len() as u64;
    if let Some(min) = min_items.filter(|min| length < *min) {
        return Err(SpecError::new(
            path,
            format!("must have at least {min} items"),
        ));
    }
    if let Some(max) = max_items.filter(|max| length > *max) {
        return Err(SpecError::new(
            path,
            format!("must have at most {max} items"),
        ));
    }
    let mut checked = Vec::with_capacity(elements.len());
    for (i, element) in elements.into_iter().enumerate() {
        let element_path = format!("{path}[{i}]");
        let element = match items {
            Some(items) => validate(schema, items, element, &element_path, depth + 1)?,
            None => element,
        };
        if unique && checked.contains(&element) {
            return Err(SpecError::new(&element_path, "duplicates an earlier item"));
        }
        checked.push(element);
    }
    Ok(Value::Array(checked))
}

fn validate_object(
    schema: &Schema,
    properties: &[(String, Node)],
    required: &[String],
    value: Value,
    path: &str,
    depth: usize,
) -> Result<Value, SpecError> {
    let Value::Object(mut fields) = value else {
        return Err(SpecError::new(path, "must be a mapping"));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !properties.iter().any(|(n, _)| n == *k))
    {
        return Err(SpecError::new(
            &format!("{path}.{unknown}"),
            "not defined in the schema",
        ));
    }
    let mut checked = Map::new();
    for (name, child) in properties {
        let field = format!("{path}.{name}");
        // A null (`name:` with nothing after it) counts as absent, as YAML writers intend.
        let given = fields.remove(name).filter(|v| !v.is_null());
        let value = match (given, &schema.resolve(child).default, &child.default) {
            (Some(v), _, _) => v,
            (None, _, Some(default)) | (None, Some(default), None) => default.clone(),
            (None, None, None) if required.contains(name) => {
                return Err(SpecError::new(&field, "required"));
            }
            (None, None, None) => continue,
        };
        checked.insert(
            name.clone(),
            validate(schema, child, value, &field, depth + 1)?,
        );
    }
    Ok(Value::Object(checked))
}

/// The path of the first NaN or infinite number in `value`, if any.
fn non_finite(value: &serde_norway::Value, path: &str) -> Option<String> {
    match value {
        serde_norway::Value::Number(n) => (n.is_nan() || n.is_infinite()).then(|| path.to_owned()),
        serde_norway::Value::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| non_finite(item, &format!("{path}[{i}]"))),
        serde_norway::Value::Mapping(map) => map.iter().find_map(|(key, item)| {
            let key = key
                .as_str()
                .map_or_else(|| format!("{key:?}"), str::to_owned);
            let path = if path == "spec" && key == "spec" {
                key
            } else {
                format!("{path}.{key}")
            };
            non_finite(item, &path)
        }),
        serde_norway::Value::Tagged(tagged) => non_finite(&tagged.value, path),
        _ => None,
    }
}
