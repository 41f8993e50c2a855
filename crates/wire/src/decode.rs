//! Turns an HTTP request's target, content type and body into an operation and its checked
//! JSON input.

use serde_json::Value;

use crate::{Operation, ProtonError, TARGET_PREFIX, validate};

/// The deepest nesting of arrays and objects a request body may have. Proton's deepest input
/// nests far less; the limit keeps hostile input from costing stack or time.
pub const MAX_DEPTH: usize = 64;

/// The content types awsJson1_0 clients send; parameters such as `charset` are ignored.
const CONTENT_TYPES: [&str; 2] = ["application/x-amz-json-1.0", "application/json"];

/// How many characters of an unknown target an error message echoes.
const TARGET_ECHO_LIMIT: usize = 100;

/// Reads a request: finds the operation named by `X-Amz-Target`, checks the content type,
/// parses the body (empty means `{}`), and validates it against the operation's input shape.
///
/// The input returned has its `null` members removed, since the protocol treats `null` as
/// absent, so the typed input can be read from it directly.
pub fn decode_request(
    target: Option<&str>,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(Operation, Value), ProtonError> {
    let operation = operation(target)?;
    check_content_type(content_type)?;
    let mut input = parse_body(body)?;

    validate(operation.input_shape(), &input)?;
    remove_nulls(&mut input);
    Ok((operation, input))
}

fn operation(target: Option<&str>) -> Result<Operation, ProtonError> {
    let Some(target) = target else {
        return Err(ProtonError::unknown_operation(format!(
            "missing X-Amz-Target header; send e.g. X-Amz-Target: {TARGET_PREFIX}.ListEnvironments"
        )));
    };
    Operation::from_target(target).ok_or_else(|| {
        let shown: String = target.chars().take(TARGET_ECHO_LIMIT).collect();
        ProtonError::unknown_operation(format!(
            "X-Amz-Target '{shown}' names no operation; send \
             {TARGET_PREFIX}.<Operation>, e.g. {TARGET_PREFIX}.ListEnvironments"
        ))
    })
}

fn check_content_type(content_type: Option<&str>) -> Result<(), ProtonError> {
    let Some(content_type) = content_type else {
        return Ok(());
    };
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if CONTENT_TYPES
        .iter()
        .any(|accepted| media_type.eq_ignore_ascii_case(accepted))
    {
        return Ok(());
    }
    let shown: String = media_type.chars().take(TARGET_ECHO_LIMIT).collect();
    Err(ProtonError::serialization(format!(
        "unsupported Content-Type '{shown}'; send {}",
        CONTENT_TYPES.join(" or ")
    )))
}

fn parse_body(body: &[u8]) -> Result<Value, ProtonError> {
    let text = std::str::from_utf8(body)
        .map_err(|err| ProtonError::serialization(format!("request body is not UTF-8: {err}")))?;
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    // Checked before parsing, so deep input is refused without building (or dropping) it.
    if nesting_depth(text.as_bytes()) > MAX_DEPTH {
        return Err(ProtonError::serialization(format!(
            "request body nests JSON deeper than {MAX_DEPTH} levels"
        )));
    }
    let value: Value = serde_json::from_str(text).map_err(|err| {
        ProtonError::serialization(format!("request body is not valid JSON: {err}"))
    })?;
    if !value.is_object() {
        return Err(ProtonError::serialization(format!(
            "request body must be a JSON object, not {}",
            kind_of(&value)
        )));
    }
    Ok(value)
}

/// The deepest nesting of `[` and `{` outside strings, found in one pass without recursion.
fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            (false, _) => {}
        }
    }
    deepest
}

/// Removes `null` members of objects, at every depth (bounded by [`MAX_DEPTH`]).
fn remove_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, member| !member.is_null());
            map.values_mut().for_each(remove_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(remove_nulls),
        _ => {}
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::nesting_depth;

    #[test]
    fn brackets_inside_strings_do_not_nest() {
        assert_eq!(
            nesting_depth(br#"{"a": "[[[{{{\"", "b": [1, {"c": []}]}"#),
            4
        );
    }
}
