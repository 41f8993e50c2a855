//! Decoding rejects bad requests with the error a Proton client expects.

use protond_wire::{ErrorKind, Operation, ProtonError, decode_request};
use serde_json::json;

const JSON_1_0: Option<&str> = Some("application/x-amz-json-1.0");
const LIST_ENVIRONMENTS: Option<&str> = Some("AwsProton20200720.ListEnvironments");

fn decode_error(target: Option<&str>, content_type: Option<&str>, body: &[u8]) -> ProtonError {
    decode_request(target, content_type, body).expect_err("the request must be refused")
}

#[test]
fn empty_body_means_an_empty_object() {
    let (operation, input) = decode_request(LIST_ENVIRONMENTS, JSON_1_0, b"").unwrap();
    assert_eq!(operation, Operation::ListEnvironments);
    assert_eq!(input, json!({}));
}

#[test]
fn missing_target_is_unknown_operation_with_a_hint() {
    let err = decode_error(None, JSON_1_0, b"{}");
    assert_eq!(err.kind(), ErrorKind::UnknownOperation);
    assert_eq!(err.status(), 400);
    assert!(
        err.message()
            .contains("X-Amz-Target: AwsProton20200720.ListEnvironments")
    );
}

#[test]
fn unknown_target_is_unknown_operation() {
    for target in [
        "AwsProton20200720.LaunchRocket",
        "DynamoDB_20120810.ListTables",
        "",
    ] {
        let err = decode_error(Some(target), JSON_1_0, b"{}");
        assert_eq!(err.kind(), ErrorKind::UnknownOperation, "{target}");
        assert_eq!(err.code(), "UnknownOperationException");
    }
}

#[test]
fn malformed_json_is_a_serialization_exception() {
    let err = decode_error(LIST_ENVIRONMENTS, JSON_1_0, b"{\"maxResults\": ");
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert_eq!(err.status(), 400);
    assert!(
        err.message().contains("not valid JSON"),
        "{}",
        err.message()
    );
}

#[test]
fn invalid_utf8_is_a_serialization_exception() {
    let err = decode_error(LIST_ENVIRONMENTS, JSON_1_0, b"{\"nextToken\": \"\xff\"}");
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(err.message().contains("UTF-8"));
}

#[test]
fn top_level_array_is_a_serialization_exception() {
    let err = decode_error(LIST_ENVIRONMENTS, JSON_1_0, b"[]");
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(err.message().contains("must be a JSON object"));
}

#[test]
fn wrong_content_type_is_refused() {
    let err = decode_error(LIST_ENVIRONMENTS, Some("text/plain"), b"{}");
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(err.message().contains("application/x-amz-json-1.0"));
}

#[test]
fn json_content_types_with_parameters_are_accepted() {
    for content_type in [
        Some("application/x-amz-json-1.0"),
        Some("application/json; charset=utf-8"),
        Some("Application/X-Amz-Json-1.0 ; charset=UTF-8"),
        None,
    ] {
        assert!(
            decode_request(LIST_ENVIRONMENTS, content_type, b"{}").is_ok(),
            "{content_type:?}"
        );
    }
}

#[test]
fn nesting_deeper_than_64_levels_is_refused() {
    let deep = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    let body = format!("{{\"x\": {}}}", deep(63));
    let err = decode_error(LIST_ENVIRONMENTS, JSON_1_0, body.as_bytes());
    // 64 levels pass the depth check and reach validation, which refuses the unknown member.
    assert_eq!(err.kind(), ErrorKind::Validation);

    let body = format!("{{\"x\": {}}}", deep(64));
    let err = decode_error(LIST_ENVIRONMENTS, JSON_1_0, body.as_bytes());
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(err.message().contains("deeper than 64"));
}

#[test]
fn very_deep_nesting_never_overflows_the_stack() {
    let body = "[".repeat(1_000_000);
    let err = decode_error(LIST_ENVIRONMENTS, JSON_1_0, body.as_bytes());
    assert_eq!(err.kind(), ErrorKind::Serialization);
}

#[test]
fn null_members_are_absent() {
    let body = br#"{"nextToken": null, "maxResults": 10, "environmentTemplates": null}"#;
    let (_, input) = decode_request(LIST_ENVIRONMENTS, JSON_1_0, body).unwrap();
    assert_eq!(input, json!({"maxResults": 10}));
}

#[test]
fn input_is_validated_against_the_operation() {
    let target = Some("AwsProton20200720.GetEnvironment");
    let err = decode_error(target, JSON_1_0, b"{}");
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert_eq!(
        err.message(),
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: \
         Member must not be null"
    );
}
