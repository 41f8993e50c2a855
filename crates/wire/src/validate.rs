//! Checks a request's JSON against the model's constraints before any handler runs.
//!
//! Every violation found is reported at once, in the style AWS services use
//! (`2 validation errors detected: Value 'x' at 'name' failed to satisfy constraint: ...`),
//! naming each field by a dotted path such as `tags.0.key`. A value whose JSON type is wrong
//! (a number where a string belongs) is a `SerializationException` instead, as it is on AWS,
//! because the request cannot be read as the operation's input at all.
//!
//! `null` counts as absent. Members the model does not define are rejected, so a misspelt
//! optional member is an error and not silently ignored. Values of sensitive shapes are never
//! echoed, and long values are cut short.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::ProtonError;
use crate::shape::{self, Member, Pattern, Shape, ShapeKind};

/// How many characters of a value a message echoes before cutting it short.
const ECHO_LIMIT: usize = 64;

/// How many violations a message lists; the count in front is always exact.
const LISTED_LIMIT: usize = 10;

/// Every pattern of the model, compiled once, keyed by its `regex` text.
///
/// A pattern that does not compile is left out and so not enforced; the test
/// `every_model_pattern_compiles` keeps that from happening.
static PATTERNS: LazyLock<HashMap<&'static str, Regex>> = LazyLock::new(|| {
    shape::all()
        .iter()
        .filter_map(|shape| match shape.kind {
            ShapeKind::String {
                pattern: Some(pattern),
                ..
            } => Some(pattern.regex),
            _ => None,
        })
        .filter_map(|regex| Some((regex, Regex::new(regex).ok()?)))
        .collect()
});

/// Checks `value` against the model shape called `shape`.
///
/// An unknown shape name is a bug in the caller and answers an internal error.
pub fn validate(shape: &str, value: &Value) -> Result<(), ProtonError> {
    let shape = shape::find(shape).ok_or_else(ProtonError::internal)?;
    let mut check = Check::default();
    check.value(shape, value, "", false);
    check.into_result()
}

/// The violations found so far.
#[derive(Default)]
struct Check {
    violations: Vec<String>,
    wrong_type: Option<String>,
}

impl Check {
    fn into_result(self) -> Result<(), ProtonError> {
        if let Some(message) = self.wrong_type {
            return Err(ProtonError::serialization(message));
        }
        let count = self.violations.len();
        match count {
            0 => Ok(()),
            1 => Err(ProtonError::validation(format!(
                "1 validation error detected: {}",
                self.violations[0]
            ))),
            _ => {
                let listed = self.violations[..count.min(LISTED_LIMIT)].join("; ");
                Err(ProtonError::validation(format!(
                    "{count} validation errors detected: {listed}"
                )))
            }
        }
    }

    /// Checks one present, non-null value; `secret` is set inside sensitive shapes.
    fn value(&mut self, shape: &Shape, value: &Value, path: &str, secret: bool) {
        let secret = secret || shape.sensitive;
        match shape.kind {
            ShapeKind::Structure(members) => self.structure(shape, members, value, path, secret),
            ShapeKind::Union(members) => self.union(shape, members, value, path, secret),
            ShapeKind::List { member, min, max } => {
                self.list(member, (min, max), value, path, secret)
            }
            ShapeKind::String { min, max, pattern } => {
                self.string((min, max), pattern, value, path, secret)
            }
            ShapeKind::Enum(values) => self.enumeration(values, value, path, secret),
            ShapeKind::Integer { min, max } => self.integer((min, max), value, path, secret),
            ShapeKind::Boolean => self.expect_type(value.is_boolean(), "a boolean", value, path),
            ShapeKind::Timestamp => {
                self.expect_type(value.is_number(), "a number of epoch seconds", value, path)
            }
        }
    }

    fn structure(
        &mut self,
        shape: &Shape,
        members: &[Member],
        value: &Value,
        path: &str,
        secret: bool,
    ) {
        let Some(object) = self.object(value, path) else {
            return;
        };
        self.unknown_members(shape, members, object, path);
        for member in members {
            let member_path = join(path, member.name);
            match object.get(member.name).filter(|v| !v.is_null()) {
                Some(value) => self.member(member, value, &member_path, secret),
                None if member.required => self.violate(
                    format!("Value null at '{member_path}'"),
                    "Member must not be null",
                ),
                None => {}
            }
        }
    }

    fn union(
        &mut self,
        shape: &Shape,
        members: &[Member],
        value: &Value,
        path: &str,
        secret: bool,
    ) {
        let Some(object) = self.object(value, path) else {
            return;
        };
        self.unknown_members(shape, members, object, path);
        let set: Vec<&Member> = members
            .iter()
            .filter(|m| object.get(m.name).is_some_and(|v| !v.is_null()))
            .collect();
        if set.len() != 1 {
            let names: Vec<&str> = members.iter().map(|m| m.name).collect();
            self.violate(
                format!("Value at '{}'", display_path(path)),
                &format!("Member must have exactly one of [{}] set", names.join(", ")),
            );
        }
        for member in set {
            self.member(
                member,
                &object[member.name],
                &join(path, member.name),
                secret,
            );
        }
    }

    fn member(&mut self, member: &Member, value: &Value, path: &str, secret: bool) {
        match shape::find(member.target) {
            Some(target) => self.value(target, value, path, secret),
            // The shape table is generated from the same model, so every target exists.
            None => self.violate(format!("Value at '{path}'"), "Member has an unknown shape"),
        }
    }

    fn unknown_members(
        &mut self,
        shape: &Shape,
        members: &[Member],
        object: &Map<String, Value>,
        path: &str,
    ) {
        for key in object.keys() {
            if !members.iter().any(|m| m.name == key.as_str()) {
                self.violate(
                    format!("Value at '{}'", join(path, key)),
                    &format!(
                        "Member must be a member of {} (unknown member '{}')",
                        shape.name,
                        cut(key)
                    ),
                );
            }
        }
    }

    fn list(&mut self, member: &str, bounds: Bounds, value: &Value, path: &str, secret: bool) {
        let Some(items) = value.as_array() else {
            return self.expect_type(false, "a list", value, path);
        };
        let subject = format!("Value at '{}'", display_path(path));
        self.length(subject, bounds, items.len());
        let Some(member_shape) = shape::find(member) else {
            return;
        };
        for (index, item) in items.iter().enumerate() {
            let item_path = join(path, &index.to_string());
            if item.is_null() {
                self.violate(
                    format!("Value null at '{item_path}'"),
                    "Member must not be null",
                );
            } else {
                self.value(member_shape, item, &item_path, secret);
            }
        }
    }

    fn string(
        &mut self,
        bounds: Bounds,
        pattern: Option<Pattern>,
        value: &Value,
        path: &str,
        secret: bool,
    ) {
        let Some(text) = value.as_str() else {
            return self.expect_type(false, "a string", value, path);
        };
        let subject = subject(text, path, secret);
        self.length(subject.clone(), bounds, text.chars().count());
        let Some(pattern) = pattern else { return };
        let matches = PATTERNS
            .get(pattern.regex)
            .is_none_or(|regex| regex.is_match(text));
        if !matches {
            let rule = format!(
                "Member must satisfy regular expression pattern: {}",
                pattern.model
            );
            self.violate(subject, &rule);
        }
    }

    fn enumeration(&mut self, values: &[&str], value: &Value, path: &str, secret: bool) {
        let Some(text) = value.as_str() else {
            return self.expect_type(false, "a string", value, path);
        };
        if !values.contains(&text) {
            let rule = format!(
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            );
            self.violate(subject(text, path, secret), &rule);
        }
    }

    fn integer(&mut self, (min, max): Bounds, value: &Value, path: &str, secret: bool) {
        let Some(number) = value.as_i64().filter(|n| i32::try_from(*n).is_ok()) else {
            return self.expect_type(false, "a 32-bit integer", value, path);
        };
        let subject = subject(&number.to_string(), path, secret);
        if let Some(min) = min.filter(|min| number < *min) {
            let rule = format!("Member must have value greater than or equal to {min}");
            self.violate(subject.clone(), &rule);
        }
        if let Some(max) = max.filter(|max| number > *max) {
            self.violate(
                subject,
                &format!("Member must have value less than or equal to {max}"),
            );
        }
    }

    fn length(&mut self, subject: String, (min, max): Bounds, length: usize) {
        let length = i64::try_from(length).unwrap_or(i64::MAX);
        if let Some(min) = min.filter(|min| length < *min) {
            let rule = format!("Member must have length greater than or equal to {min}");
            self.violate(subject.clone(), &rule);
        }
        if let Some(max) = max.filter(|max| length > *max) {
            self.violate(
                subject,
                &format!("Member must have length less than or equal to {max}"),
            );
        }
    }

    fn object<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        let object = value.as_object();
        self.expect_type(object.is_some(), "an object", value, path);
        object
    }

    /// Records a wrong JSON type; only the first is reported.
    fn expect_type(&mut self, ok: bool, expected: &str, value: &Value, path: &str) {
        if !ok && self.wrong_type.is_none() {
            let found = json_type(value);
            let at = display_path(path);
            self.wrong_type = Some(format!("Value at '{at}' must be {expected}, not {found}"));
        }
    }

    fn violate(&mut self, subject: String, rule: &str) {
        self.violations
            .push(format!("{subject} failed to satisfy constraint: {rule}"));
    }
}

/// The least and greatest length or value a shape allows.
type Bounds = (Option<i64>, Option<i64>);

/// `Value 'x' at 'path'`, or `Value at 'path'` when the value is sensitive.
fn subject(text: &str, path: &str, secret: bool) -> String {
    let path = display_path(path);
    if secret {
        format!("Value at '{path}'")
    } else {
        format!("Value '{}' at '{path}'", cut(text))
    }
}

/// `text` cut to [`ECHO_LIMIT`] characters, marked with `...` when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(ECHO_LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// The path of the whole input is empty; messages show it as `input`.
fn display_path(path: &str) -> &str {
    if path.is_empty() { "input" } else { path }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
