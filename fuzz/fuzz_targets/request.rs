//! Feeds `protond_wire::decode_request` (target lookup, content type, JSON parsing, validation
//! against the model) what an HTTP request could carry.
//!
//! Input: `target \n content-type \n body`. An empty first or second line means the header is
//! absent, so `\n\n{}` is a request without `X-Amz-Target` or `Content-Type`; a target line
//! starting with `.` gets the `AwsProton20200720` prefix, which spares the fuzzer spelling it.
//! An input with fewer than two newlines is all body, sent to `CreateEnvironment`.
//!
//! Checked beyond "does not panic": a refusal is a 4xx, never a 5xx (issue 3, hostile input);
//! an accepted input has no `null` member; and an accepted input reads as the operation's typed
//! input, which `dispatch` proves by reaching the service (here one that implements nothing)
//! instead of answering a `SerializationException`.

#![no_main]

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use protond_wire::{ErrorKind, ProtonService, RequestContext, TARGET_PREFIX};
use serde_json::Value;

/// A service with every operation left at its default answer, `NotImplemented`.
struct Nothing;

impl ProtonService for Nothing {}

fuzz_target!(|data: &[u8]| {
    let (target, content_type, body) = split(data);
    let target = target.map(|t| match t.strip_prefix('.') {
        Some(operation) => format!("{TARGET_PREFIX}.{operation}"),
        None => t.to_string(),
    });
    let result = protond_wire::decode_request(target.as_deref(), content_type.as_deref(), body);
    let (operation, input) = match result {
        Ok(decoded) => decoded,
        Err(error) => {
            assert!(error.status() < 500, "a bad request answered {error:?}");
            return;
        }
    };
    assert!(!holds_null(&input), "null left in {input}");

    let ctx = RequestContext {
        request_id: "fuzz".into(),
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        access_key_id: None,
        deployment_id: None,
    };
    let future = pin!(protond_wire::dispatch(
        &Nothing,
        &ctx,
        operation,
        input.clone()
    ));
    let Poll::Ready(answer) = future.poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("dispatch to a service that implements nothing did not finish at once");
    };
    let error = answer.expect_err("a service that implements nothing answered");
    assert_eq!(
        error.kind(),
        ErrorKind::NotImplemented,
        "{} accepted an input its type refuses: {error:?}\ninput: {input}",
        operation.name()
    );
});

/// Splits the input into the target, the content type (each `None` when empty or not UTF-8)
/// and the body.
fn split(data: &[u8]) -> (Option<String>, Option<String>, &[u8]) {
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (Some(target), Some(content_type), Some(body)) = (parts.next(), parts.next(), parts.next())
    else {
        let target = format!("{TARGET_PREFIX}.CreateEnvironment");
        let content_type = "application/x-amz-json-1.0".to_string();
        return (Some(target), Some(content_type), data);
    };
    let header = |bytes: &[u8]| {
        let text = std::str::from_utf8(bytes).ok()?;
        (!text.is_empty()).then(|| text.to_string())
    };
    (header(target), header(content_type), body)
}

/// Whether an object member anywhere in `value` is `null` (array items are not members).
fn holds_null(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(holds_null),
        Value::Object(members) => members.values().any(|m| m.is_null() || holds_null(m)),
        _ => false,
    }
}
