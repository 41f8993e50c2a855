//! The vocabulary of the generated shape table (`generated::shapes::SHAPES`), and lookup in it.

use crate::generated::shapes::SHAPES;

/// One shape of the Proton model, as validation needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The shape's name in the model, such as `EnvironmentName`.
    pub name: &'static str,
    /// Whether values of this shape must never be echoed in messages or logs.
    pub sensitive: bool,
    /// What the shape is, with its constraints.
    pub kind: ShapeKind,
}

/// What a shape is, with the constraints the model puts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    /// A JSON object with the given members.
    Structure(&'static [Member]),
    /// A JSON object with exactly one of the given members set.
    Union(&'static [Member]),
    /// A JSON array of `member`, with bounds on its length.
    List {
        /// The shape of every item.
        member: &'static str,
        /// The least number of items.
        min: Option<i64>,
        /// The greatest number of items.
        max: Option<i64>,
    },
    /// A JSON string, with bounds on its length in Unicode scalar values and a pattern.
    String {
        /// The least length.
        min: Option<i64>,
        /// The greatest length.
        max: Option<i64>,
        /// The pattern the string must contain a match of.
        pattern: Option<Pattern>,
    },
    /// A JSON string that is one of the given values.
    Enum(&'static [&'static str]),
    /// A JSON integer that fits in 32 bits, with bounds on its value.
    Integer {
        /// The least value.
        min: Option<i64>,
        /// The greatest value.
        max: Option<i64>,
    },
    /// A JSON boolean.
    Boolean,
    /// A JSON number of seconds since the Unix epoch.
    Timestamp,
}

/// A member of a structure or union.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The member's name on the wire, such as `templateName`.
    pub name: &'static str,
    /// The member's shape.
    pub target: &'static str,
    /// Whether the member must be present (and not `null`).
    pub required: bool,
}

/// A model pattern, both as the model writes it and as the `regex` crate runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern as written in the model (ECMAScript syntax), quoted in error messages.
    pub model: &'static str,
    /// The same pattern for the `regex` crate, with `\d` and `\w` spelled out as ASCII.
    pub regex: &'static str,
}

/// The shape called `name`, if the model has one.
pub fn find(name: &str) -> Option<&'static Shape> {
    SHAPES
        .binary_search_by(|shape| shape.name.cmp(name))
        .ok()
        .map(|index| &SHAPES[index])
}

/// Every shape of the model, sorted by name.
pub fn all() -> &'static [Shape] {
    SHAPES
}
