//! `schema/schema.yaml`: the OpenAPI 3.0 subset Proton supports for template inputs.
//!
//! Layout: `schema.format.openapi`, `schema.environment_input_type` naming one of
//! `schema.types`, and under `types` OpenAPI schema objects. Understood keywords: `type`
//! (string, number, integer, boolean, array, object), `properties`, `required`, `default`,
//! `enum`, `minLength`, `maxLength`, `pattern`, `minimum`, `maximum`, `exclusiveMinimum`,
//! `exclusiveMaximum` (booleans, as in OpenAPI 3.0), `items`, `minItems`, `maxItems`,
//! `uniqueItems`, `title`, `description`, and `$ref: "#/types/<Name>"`. Other keywords
//! (`format`, `example`, vendor extensions) are accepted and ignored.
//!
//! Patterns use the `regex` crate's syntax, which lacks look-around and back-references; a
//! pattern needing them is refused at registration rather than misread later. A pattern
//! matches anywhere in the value unless it anchors itself, as in JSON Schema.

use serde_json::{Map, Value};

use crate::spec::{Spec, SpecError};

/// Largest compiled size of one pattern, so a schema cannot make us build a huge automaton.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;
/// Deepest nesting of schema objects accepted.
const MAX_DEPTH: usize = 32;

/// A parsed, checked schema file.
#[derive(Debug, Clone)]
pub struct Schema {
    source: String,
    environment_input_type: Option<String>,
    types: Vec<(String, Node)>,
}

/// Why a schema file is refused: `path` is the dotted location in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SchemaError {
    /// Where in the file, for example `schema.types.Input.properties.cidr.pattern`.
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

/// One schema object.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub kind: Kind,
    pub default: Option<Value>,
    pub allowed: Option<Vec<Value>>,
}

/// The type-specific part of a schema object.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    String {
        min_length: Option<u64>,
        max_length: Option<u64>,
        pattern: Option<Pattern>,
    },
    Number {
        integer: bool,
        minimum: Option<Bound>,
        maximum: Option<Bound>,
    },
    Boolean,
    Array {
        items: Option<Box<Node>>,
        min_items: Option<u64>,
        max_items: Option<u64>,
        unique: bool,
    },
    Object {
        properties: Vec<(String, Node)>,
        required: Vec<String>,
    },
    Ref(String),
}

/// A compiled `pattern` with its source, which error messages quote.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub source: String,
    pub regex: regex::Regex,
}

/// A numeric bound and whether it is exclusive.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    pub value: f64,
    pub exclusive: bool,
}

fn error(path: &str, reason: impl Into<String>) -> SchemaError {
    SchemaError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

impl Schema {
    /// Parses and checks a schema file: structure, types, patterns, references and defaults.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let root: Value =
            serde_norway::from_str(text).map_err(|e| error("schema", e.to_string()))?;
        let schema = root
            .get("schema")
            .ok_or_else(|| error("schema", "missing"))?;
        let openapi = schema.get("format").and_then(|f| f.get("openapi"));
        if !openapi.is_some_and(Value::is_string) {
            return Err(error(
                "schema.format.openapi",
                "required (for example \"3.0.0\")",
            ));
        }
        let types = schema
            .get("types")
            .and_then(Value::as_object)
            .ok_or_else(|| error("schema.types", "required, a map of type names"))?;
        let types = types
            .iter()
            .map(|(name, t)| {
                Ok((
                    name.clone(),
                    parse_node(t, &format!("schema.types.{name}"), 0)?,
                ))
            })
            .collect::<Result<Vec<_>, SchemaError>>()?;
        let environment_input_type = match schema.get("environment_input_type") {
            None => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => {
                return Err(error(
                    "schema.environment_input_type",
                    "must be a type name",
                ));
            }
        };
        let schema = Schema {
            source: text.to_string(),
            environment_input_type,
            types,
        };
        schema.check_references()?;
        schema.check_defaults()?;
        if let Some(name) = &schema.environment_input_type {
            schema.check_input_type(name, "schema.environment_input_type")?;
        }
        Ok(schema)
    }

    /// The schema file as registered, for `GetEnvironmentTemplateVersion`'s `schema` field.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The name of the environment input type, required for an environment template.
    pub fn environment_input_type(&self) -> Result<&str, SchemaError> {
        self.environment_input_type
            .as_deref()
            .ok_or_else(|| error("schema.environment_input_type", "required"))
    }

    /// Validates a spec against the environment input type, applies defaults (also inside
    /// nested objects) and returns the inputs object, keys in schema order.
    pub fn environment_inputs(&self, spec: &Spec) -> Result<Value, SpecError> {
        if spec.proton != "EnvironmentSpec" {
            let reason = format!("must be EnvironmentSpec, not {:?}", spec.proton);
            return Err(SpecError::new("proton", reason));
        }
        let name = self
            .environment_input_type()
            .map_err(|e| SpecError::new("spec", e.reason))?;
        let node = self
            .named(name)
            .ok_or_else(|| SpecError::new("spec", "no input type"))?;
        let inputs = Value::Object(spec.spec.clone());
        crate::spec::validate(self, node, inputs, "spec", 0)
    }

    /// The type called `name` under `types`.
    pub(crate) fn named(&self, name: &str) -> Option<&Node> {
        self.types
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
    }

    /// Follows `$ref`s to a concrete node. Chains are bounded at parse time.
    pub(crate) fn resolve<'a>(&'a self, mut node: &'a Node) -> &'a Node {
        for _ in 0..=self.types.len() {
            match &node.kind {
                Kind::Ref(name) => match self.named(name) {
                    Some(target) => node = target,
                    None => return node,
                },
                _ => return node,
            }
        }
        node
    }

    fn check_input_type(&self, name: &str, path: &str) -> Result<(), SchemaError> {
        let node = self
            .named(name)
            .ok_or_else(|| error(path, format!("names {name:?}, which is not under types")))?;
        match self.resolve(node).kind {
            Kind::Object { .. } => Ok(()),
            _ => Err(error(path, format!("type {name:?} must be an object"))),
        }
    }

    /// Every `$ref` names a type, and no chain of references loops without reaching a type.
    fn check_references(&self) -> Result<(), SchemaError> {
        for (name, node) in &self.types {
            let path = format!("schema.types.{name}");
            self.walk(node, &path, &mut |node, path| {
                self.check_reference(node, path)
            })?;
        }
        Ok(())
    }

    fn check_reference(&self, node: &Node, path: &str) -> Result<(), SchemaError> {
        let mut current = node;
        for _ in 0..=self.types.len() {
            let Kind::Ref(target) = &current.kind else {
                return Ok(());
            };
            current = self
                .named(target)
                .ok_or_else(|| error(path, format!("$ref names unknown type {target:?}")))?;
        }
        Err(error(path, "$ref loops without reaching a type"))
    }

    /// Every `default` satisfies its own schema object.
    fn check_defaults(&self) -> Result<(), SchemaError> {
        for (name, node) in &self.types {
            let path = format!("schema.types.{name}");
            self.walk(node, &path, &mut |node, path| match &node.default {
                Some(default) => crate::spec::validate(self, node, default.clone(), "default", 0)
                    .map(|_| ())
                    .map_err(|e| error(path, format!("default is invalid: {e}"))),
                None => Ok(()),
            })?;
        }
        Ok(())
    }

    fn walk(
        &self,
        node: &Node,
        path: &str,
        visit: &mut dyn FnMut(&Node, &str) -> Result<(), SchemaError>,
    ) -> Result<(), SchemaError> {
        visit(node, path)?;
        match &node.kind {
            Kind::Array {
                items: Some(items), ..
            } => self.walk(items, &format!("{path}.items"), visit),
            Kind::Object { properties, .. } => {
                for (name, child) in properties {
                    self.walk(child, &format!("{path}.properties.{name}"), visit)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn parse_node(value: &Value, path: &str, depth: usize) -> Result<Node, SchemaError> {
    if depth > MAX_DEPTH {
        return Err(error(
            path,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let object = value
        .as_object()
        .ok_or_else(|| error(path, "must be a schema object"))?;
    let kind = parse_kind(object, path, depth)?;
    let allowed = match object.get("enum") {
        None => None,
        Some(Value::Array(values)) if !values.is_empty() => Some(values.clone()),
        Some(_) => return Err(error(&format!("{path}.enum"), "must be a non-empty list")),
    };
    Ok(Node {
        kind,
        default: object.get("default").cloned(),
        allowed,
    })
}

fn parse_kind(object: &Map<String, Value>, path: &str, depth: usize) -> Result<Kind, SchemaError> {
    if let Some(reference) = object.get("$ref") {
        let target = reference.as_str().and_then(|r| r.strip_prefix("#/types/"));
        let target = target.ok_or_else(|| error(path, "$ref must look like #/types/<Name>"))?;
        return Ok(Kind::Ref(target.to_string()));
    }
    let declared = match object.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Err(error(&format!("{path}.type"), "must be a type name")),
        None if object.contains_key("properties") => "object",
        None => return Err(error(path, "type is required")),
    };
    match declared {
        "string" => parse_string(object, path),
        "number" | "integer" => parse_number(object, path, declared == "integer"),
        "boolean" => Ok(Kind::Boolean),
        "array" => parse_array(object, path, depth),
        "object" => parse_object(object, path, depth),
        other => Err(error(
            &format!("{path}.type"),
            format!(
                "unknown type {other:?} \
                 (expected string, number, integer, boolean, array or object)"
            ),
        )),
    }
}

fn count(object: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, SchemaError> {
    match object.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            error(
                &format!("{path}.{key}"),
                "must be a whole number of 0 or more",
            )
        }),
    }
}

fn flag(object: &Map<String, Value>, key: &str, path: &str) -> Result<bool, SchemaError> {
    match object.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(error(&format!("{path}.{key}"), "must be true or false")),
    }
}

fn parse_string(object: &Map<String, Value>, path: &str) -> Result<Kind, SchemaError> {
    let pattern = match object.get("pattern") {
        None => None,
        Some(Value::String(source)) => Some(compile(source, &format!("{path}.pattern"))?),
        Some(_) => return Err(error(&format!("{path}.pattern"), "must be a string")),
    };
    Ok(Kind::String {
        min_length: count(object, "minLength", path)?,
        max_length: count(object, "maxLength", path)?,
        pattern,
    })
}

fn compile(source: &str, path: &str) -> Result<Pattern, SchemaError> {
    let regex = regex::RegexBuilder::new(source)
        .size_limit(PATTERN_SIZE_LIMIT)
        .build()
        .map_err(|e| error(path, format!("invalid pattern: {e}")))?;
    Ok(Pattern {
        source: source.to_string(),
        regex,
    })
}

fn parse_number(
    object: &Map<String, Value>,
    path: &str,
    integer: bool,
) -> Result<Kind, SchemaError> {
    let bound = |key: &str, exclusive_key: &str| -> Result<Option<Bound>, SchemaError> {
        let exclusive = flag(object, exclusive_key, path)?;
        match object.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|value| Some(Bound { value, exclusive }))
                .ok_or_else(|| error(&format!("{path}.{key}"), "must be a number")),
        }
    };
    Ok(Kind::Number {
        integer,
        minimum: bound("minimum", "exclusiveMinimum")?,
        maximum: bound("maximum", "exclusiveMaximum")?,
    })
}

fn parse_array(object: &Map<String, Value>, path: &str, depth: usize) -> Result<Kind, SchemaError> {
    let items = match object.get("items") {
        None => None,
        Some(items) => Some(Box::new(parse_node(
            items,
            &format!("{path}.items"),
            depth + 1,
        )?)),
    };
    Ok(Kind::Array {
        items,
        min_items: count(object, "minItems", path)?,
        max_items: count(object, "maxItems", path)?,
        unique: flag(object, "uniqueItems", path)?,
    })
}

fn parse_object(
    object: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<Kind, SchemaError> {
    let properties = match object.get("properties") {
        None => Vec::new(),
        Some(Value::Object(properties)) => properties
            .iter()
            .map(|(name, p)| {
                let child = format!("{path}.properties.{name}");
                Ok((name.clone(), parse_node(p, &child, depth + 1)?))
            })
            .collect::<Result<_, SchemaError>>()?,
        Some(_) => return Err(error(&format!("{path}.properties"), "must be a map")),
    };
    let required = match object.get("required") {
        None => Vec::new(),
        Some(Value::Array(names)) => names
            .iter()
            .map(|n| n.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| error(&format!("{path}.required"), "must list property names"))?,
        Some(_) => return Err(error(&format!("{path}.required"), "must be a list")),
    };
    if let Some(missing) = required
        .iter()
        .find(|r| !properties.iter().any(|(n, _)| n == *r))
    {
        let reason = format!("names {missing:?}, which is not under properties");
        return Err(error(&format!("{path}.required"), reason));
    }
    Ok(Kind::Object {
        properties,
        required,
    })
}
