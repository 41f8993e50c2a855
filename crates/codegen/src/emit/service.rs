//! Emits `service.rs`: the `ProtonService` trait and `dispatch`.

use crate::UNIT;
use crate::model::Model;
use crate::names::snake_case;

const PREAMBLE: &str = "\
//! The `ProtonService` trait, one method per operation, and `dispatch`, which routes a decoded
//! request to its method.
//!
//! Every method has a default body answering that protond does not implement the operation, so
//! an implementation overrides, with `async fn`, exactly the operations it serves.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::operations::Operation;
use super::types::*;
use crate::{ProtonError, ProtonResult, RequestContext};

/// Serves the operations of the Proton API.
pub trait ProtonService: Send + Sync {";

const POSTAMBLE: &str = "
/// Reads an operation's input from its (already validated) JSON value.
fn read_input<T: DeserializeOwned>(input: serde_json::Value) -> ProtonResult<T> {
    serde_json::from_value(input).map_err(|err| ProtonError::serialization(err.to_string()))
}

/// Writes an operation's output as the JSON response body.
fn write_output<T: Serialize>(output: &T) -> ProtonResult<Vec<u8>> {
    serde_json::to_vec(output).map_err(|_| ProtonError::internal())
}
";

/// The text of `service.rs`, before formatting.
pub fn emit(model: &Model) -> String {
    let mut out = String::from(PREAMBLE);
    for op in &model.operations {
        let (input, output) = (op.input.unwrap_or(UNIT), op.output.unwrap_or(UNIT));
        out.push_str(&format!(
            "
    /// Serves `{name}`.
    fn {method}(
        &self,
        ctx: &RequestContext,
        input: {input},
    ) -> impl Future<Output = ProtonResult<{output}>> + Send {{
        let _ = (ctx, input);
        async {{ Err(ProtonError::not_implemented(\"{name}\")) }}
    }}
",
            name = op.name,
            method = snake_case(op.name),
        ));
    }
    out.push_str(DISPATCH_HEAD);
    for op in &model.operations {
        out.push_str(&format!(
            "        Operation::{name} => {{
            write_output(&service.{method}(ctx, read_input(input)?).await?)
        }}
",
            name = op.name,
            method = snake_case(op.name),
        ));
    }
    out.push_str("    }\n}\n");
    out.push_str(POSTAMBLE);
    out
}

const DISPATCH_HEAD: &str = "}

/// Runs `operation` on `service` with a decoded and validated `input`, and answers the JSON
/// response body. An input that does not fit the operation's input type is a
/// `SerializationException`.
pub async fn dispatch<S: ProtonService>(
    service: &S,
    ctx: &RequestContext,
    operation: Operation,
    input: serde_json::Value,
) -> ProtonResult<Vec<u8>> {
    match operation {
";
