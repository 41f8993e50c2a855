//! Emits `shapes.rs`: every shape of the model as data, for request validation.

use crate::UNIT;
use crate::emit::types::needs_unit;
use crate::model::{Member, Model, Shape, StringShape};

const PREAMBLE: &str = "\
//! Every shape of the Proton model as data, sorted by name, for `crate::validate`.

use crate::shape::{Member, Pattern, Shape, ShapeKind};

/// Every shape of the model, sorted by name.
pub static SHAPES: &[Shape] = &[
";

/// The text of `shapes.rs`, before formatting.
pub fn emit(model: &Model) -> String {
    let mut entries: Vec<(&str, String)> = model
        .shapes
        .iter()
        .map(|(name, shape)| (*name, entry(name, shape)))
        .collect();
    if needs_unit(model) {
        entries.push((
            UNIT,
            shape_literal(UNIT, false, "ShapeKind::Structure(&[])"),
        ));
        entries.sort_by_key(|(name, _)| *name);
    }
    let mut out = String::from(PREAMBLE);
    for (_, entry) in entries {
        out.push_str(&entry);
    }
    out.push_str("];\n");
    out
}

fn entry(name: &str, shape: &Shape) -> String {
    let (kind, sensitive) = match shape {
        Shape::Structure(s) => {
            let variant = if s.union { "Union" } else { "Structure" };
            (
                format!("ShapeKind::{variant}(&[{}])", members(&s.members)),
                s.sensitive,
            )
        }
        Shape::List { member, min, max } => (
            format!(
                "ShapeKind::List {{ member: {member:?}, min: {}, max: {} }}",
                opt(*min),
                opt(*max)
            ),
            false,
        ),
        Shape::String(s) if !s.values.is_empty() => {
            (format!("ShapeKind::Enum(&{:?})", s.values), s.sensitive)
        }
        Shape::String(s) => (string_kind(s), s.sensitive),
        Shape::Integer { min, max } => (
            format!(
                "ShapeKind::Integer {{ min: {}, max: {} }}",
                opt(*min),
                opt(*max)
            ),
            false,
        ),
        Shape::Boolean => ("ShapeKind::Boolean".to_string(), false),
        Shape::Timestamp => ("ShapeKind::Timestamp".to_string(), false),
    };
    shape_literal(name, sensitive, &kind)
}

fn shape_literal(name: &str, sensitive: bool, kind: &str) -> String {
    format!("    Shape {{ name: {name:?}, sensitive: {sensitive}, kind: {kind} }},\n")
}

fn members(members: &[Member]) -> String {
    let literals: Vec<String> = members
        .iter()
        .map(|m| {
            format!(
                "Member {{ name: {:?}, target: {:?}, required: {} }}",
                m.name, m.target, m.required
            )
        })
        .collect();
    literals.join(", ")
}

fn string_kind(s: &StringShape) -> String {
    let pattern = match s.pattern {
        Some(model) => format!(
            "Some(Pattern {{ model: {}, regex: {} }})",
            literal(model),
            literal(&translate_pattern(model))
        ),
        None => "None".to_string(),
    };
    format!(
        "ShapeKind::String {{ min: {}, max: {}, pattern: {pattern} }}",
        opt(s.min),
        opt(s.max)
    )
}

/// A string literal, split with `concat!` when long so generated lines stay within 100 columns.
fn literal(text: &str) -> String {
    const CHUNK: usize = 48;
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= CHUNK {
        return format!("{text:?}");
    }
    let chunks: Vec<String> = chars
        .chunks(CHUNK)
        .map(|chunk| format!("{:?}", chunk.iter().collect::<String>()))
        .collect();
    format!("concat!({})", chunks.join(", "))
}

fn opt(bound: Option<i64>) -> String {
    bound.map_or_else(|| "None".to_string(), |b| format!("Some({b})"))
}

/// Rewrites a model pattern (ECMAScript syntax, per Smithy) for the `regex` crate.
///
/// Both accept the syntax the Proton model uses; they differ in meaning only for the Perl
/// classes, which are ASCII in ECMAScript and Unicode-aware in `regex`. `\d` and `\w` are
/// therefore spelled out as their ASCII ranges, inside and outside brackets.
pub fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars.next().unwrap_or('\\');
                out.push_str(&translate_escape(escaped, in_class));
            }
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

fn translate_escape(escaped: char, in_class: bool) -> String {
    let range = match escaped {
        'd' => "0-9",
        'w' => "0-9A-Za-z_",
        other => return format!("\\{other}"),
    };
    if in_class {
        range.to_string()
    } else {
        format!("[{range}]")
    }
}

#[cfg(test)]
mod tests {
    use super::translate_pattern;

    #[test]
    fn perl_classes_become_ascii_ranges() {
        assert_eq!(translate_pattern(r"^\d{12}$"), "^[0-9]{12}$");
        assert_eq!(translate_pattern(r"[\w+=,.@-]+"), "[0-9A-Za-z_+=,.@-]+");
        assert_eq!(translate_pattern(r"[a-z0-9-\.]+"), r"[a-z0-9-\.]+");
    }
}
