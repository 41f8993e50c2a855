//! Emits `operations.rs`: the `Operation` enum and what the model says about each operation.

use crate::UNIT;
use crate::model::Model;

/// The text of `operations.rs`, before formatting.
pub fn emit(model: &Model) -> String {
    let prefix = model.target_prefix;
    let count = model.operations.len();
    let mut variants = String::new();
    let mut all = String::new();
    let mut from_name = String::new();
    let mut name = String::new();
    let mut input = String::new();
    let mut output = String::new();
    for op in &model.operations {
        let n = op.name;
        variants.push_str(&format!("    /// `{prefix}.{n}`.\n    {n},\n"));
        all.push_str(&format!("        Self::{n},\n"));
        from_name.push_str(&format!("            \"{n}\" => Some(Self::{n}),\n"));
        name.push_str(&format!("            Self::{n} => \"{n}\",\n"));
        input.push_str(&format!(
            "            Self::{n} => \"{}\",\n",
            op.input.unwrap_or(UNIT)
        ));
        output.push_str(&format!(
            "            Self::{n} => \"{}\",\n",
            op.output.unwrap_or(UNIT)
        ));
    }
    format!(
        "//! The operations of the Proton API, named as in `X-Amz-Target`.

use std::fmt;

/// The prefix of every `X-Amz-Target` header value: `{prefix}.<Operation>`.
pub const TARGET_PREFIX: &str = \"{prefix}\";

/// One operation of the Proton API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {{
{variants}}}

impl Operation {{
    /// Every operation, sorted by name.
    pub const ALL: [Operation; {count}] = [
{all}    ];

    /// The operation named by a full `X-Amz-Target` value, such as
    /// `{prefix}.CreateEnvironment`.
    pub fn from_target(target: &str) -> Option<Self> {{
        let name = target.strip_prefix(TARGET_PREFIX)?.strip_prefix('.')?;
        Self::from_name(name)
    }}

    /// The operation called `name`, such as `CreateEnvironment`.
    pub fn from_name(name: &str) -> Option<Self> {{
        match name {{
{from_name}            _ => None,
        }}
    }}

    /// The operation's name, such as `CreateEnvironment`.
    pub fn name(self) -> &'static str {{
        match self {{
{name}        }}
    }}

    /// The model shape of the operation's input.
    pub fn input_shape(self) -> &'static str {{
        match self {{
{input}        }}
    }}

    /// The model shape of the operation's output.
    pub fn output_shape(self) -> &'static str {{
        match self {{
{output}        }}
    }}
}}

impl fmt::Display for Operation {{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {{
        f.write_str(self.name())
    }}
}}
"
    )
}
