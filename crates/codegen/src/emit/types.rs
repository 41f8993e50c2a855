//! Emits `types.rs`: one Rust type per structure, union and enum of the model.

use crate::model::{Member, Model, Shape, StringShape, Structure};
use crate::names::{field_name, upper_camel};
use crate::{UNIT, rust_type};

const PREAMBLE: &str = "\
//! The structures, unions and enums of the Proton model as Rust types.
//!
//! Required members are plain fields and optional ones `Option`s; lists are `Vec`s and strings
//! without an enum are `String`s. `Debug` never prints a member the model marks sensitive.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// What `Debug` prints in place of a member the model marks sensitive.
const REDACTED: &str = \"*** Sensitive Data Redacted ***\";
";

/// The text of `types.rs`, before formatting.
pub fn emit(model: &Model) -> String {
    let mut out = String::from(PREAMBLE);
    for (name, shape) in &model.shapes {
        match shape {
            Shape::Structure(s) if s.exception => {}
            Shape::Structure(s) if s.union => out.push_str(&union(model, name, s)),
            Shape::Structure(s) => out.push_str(&structure(model, name, s)),
            Shape::String(s) if !s.values.is_empty() => out.push_str(&enumeration(name, s)),
            _ => {}
        }
    }
    if needs_unit(model) {
        out.push_str(&structure(model, UNIT, &Structure::empty()));
    }
    out
}

/// Whether an operation lacks an input or output shape, and so uses the empty `Unit` struct.
pub fn needs_unit(model: &Model) -> bool {
    model
        .operations
        .iter()
        .any(|op| op.input.is_none() || op.output.is_none())
}

impl Structure<'_> {
    fn empty() -> Self {
        Structure {
            members: Vec::new(),
            union: false,
            exception: false,
            sensitive: false,
        }
    }
}

fn structure(model: &Model, name: &str, shape: &Structure) -> String {
    let all_optional = shape.members.iter().all(|m| !m.required);
    let redacted: Vec<bool> = shape
        .members
        .iter()
        .map(|m| shape.sensitive || sensitive(model, m))
        .collect();
    let custom_debug = redacted.contains(&true);
    let mut derives = vec!["Clone", "PartialEq", "Serialize", "Deserialize"];
    if !custom_debug {
        derives.insert(0, "Debug");
    }
    if all_optional {
        derives.push("Default");
    }
    let mut out = format!(
        "\n/// The `{name}` structure.\n#[derive({})]\npub struct {name} {{\n",
        derives.join(", ")
    );
    for member in &shape.members {
        out.push_str(&field(model, member));
    }
    out.push_str("}\n");
    if custom_debug {
        out.push_str(&redacting_debug(name, &shape.members, &redacted));
    }
    out
}

fn field(model: &Model, member: &Member) -> String {
    let ty = rust_type(model, member.target);
    let rename = format!("    #[serde(rename = \"{}\")]\n", member.name);
    let name = field_name(member.name);
    if member.required {
        format!("{rename}    pub {name}: {ty},\n")
    } else {
        format!(
            "{rename}    #[serde(default, skip_serializing_if = \"Option::is_none\")]\n    \
             pub {name}: Option<{ty}>,\n"
        )
    }
}

/// Whether a member's own target is marked sensitive (a sensitive structure redacts itself).
fn sensitive(model: &Model, member: &Member) -> bool {
    matches!(model.shape(member.target), Shape::String(s) if s.sensitive)
}

fn redacting_debug(name: &str, members: &[Member], redacted: &[bool]) -> String {
    let mut out = format!(
        "\nimpl fmt::Debug for {name} {{\n    \
         fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{\n        \
         f.debug_struct(\"{name}\")\n"
    );
    for (member, &redact) in members.iter().zip(redacted) {
        let field = field_name(member.name);
        let value = if redact {
            "&REDACTED".to_string()
        } else {
            format!("&self.{field}")
        };
        out.push_str(&format!(
            "            .field(\"{}\", {value})\n",
            field.trim_start_matches("r#")
        ));
    }
    out.push_str("            .finish()\n    }\n}\n");
    out
}

fn union(model: &Model, name: &str, shape: &Structure) -> String {
    let mut out = format!(
        "\n/// The `{name}` union: exactly one member is set.\n///\n\
         /// On the wire it is an object with that one member: `{{\"member\": value}}`.\n\
         #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]\npub enum {name} {{\n"
    );
    for member in &shape.members {
        out.push_str(&format!(
            "    #[serde(rename = \"{}\")]\n    {}({}),\n",
            member.name,
            upper_camel(member.name),
            rust_type(model, member.target)
        ));
    }
    out.push_str("}\n");
    out
}

fn enumeration(name: &str, shape: &StringShape) -> String {
    let mut out = format!(
        "\n/// The `{name}` enum.\n\
         #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]\n\
         pub enum {name} {{\n"
    );
    for value in &shape.values {
        out.push_str(&format!(
            "    #[serde(rename = \"{value}\")]\n    {},\n",
            upper_camel(value)
        ));
    }
    out.push_str("}\n");
    out.push_str(&enumeration_impl(name, shape));
    out
}

fn enumeration_impl(name: &str, shape: &StringShape) -> String {
    let variants: Vec<String> = shape.values.iter().map(|v| upper_camel(v)).collect();
    let all: Vec<String> = variants.iter().map(|v| format!("Self::{v}")).collect();
    let mut as_str = String::new();
    let mut parse = String::new();
    for (value, variant) in shape.values.iter().zip(&variants) {
        as_str.push_str(&format!("            Self::{variant} => \"{value}\",\n"));
        parse.push_str(&format!(
            "            \"{value}\" => Some(Self::{variant}),\n"
        ));
    }
    format!(
        "\nimpl {name} {{\n    \
         /// Every value, in model order.\n    \
         pub const ALL: &'static [Self] = &[{all}];\n\n    \
         /// The value as written on the wire.\n    \
         pub fn as_str(self) -> &'static str {{\n        \
         match self {{\n{as_str}        }}\n    }}\n\n    \
         /// The value written on the wire as `value`, if it is one.\n    \
         pub fn from_wire(value: &str) -> Option<Self> {{\n        \
         match value {{\n{parse}            \
         _ => None,\n        }}\n    }}\n}}\n\n\
         impl fmt::Display for {name} {{\n    \
         fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{\n        \
         f.write_str(self.as_str())\n    }}\n}}\n",
        all = all.join(", ")
    )
}
