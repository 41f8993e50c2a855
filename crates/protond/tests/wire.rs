//! The awsJson1_0 front door seen from the wire: raw HTTP requests written by hand, and the
//! answer to an operation protond does not implement yet.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use common::{Protond, code, message};

const TARGET: &str = "X-Amz-Target";
const JSON_1_0: (&str, &str) = ("Content-Type", "application/x-amz-json-1.0");

fn target(operation: &str) -> String {
    format!("AwsProton20200720.{operation}")
}

#[test]
fn missing_target_is_a_400_naming_the_header() {
    let server = Protond::start();
    let response = server.raw(&[JSON_1_0], "{}");
    assert_eq!(response.status, 400);
    let body = response.json();
    let kind = body["__type"].as_str().unwrap_or_default();
    assert!(kind.ends_with("#UnknownOperationException"), "{body}");
    let text = body["message"].as_str().unwrap_or_default();
    assert!(text.contains("X-Amz-Target"), "{body}");
    assert!(response.header("x-amzn-requestid").is_some());
    let error_type = response.header("x-amzn-errortype").unwrap_or_default();
    assert!(kind.ends_with(error_type), "{error_type} vs {kind}");
}

#[test]
fn plain_json_content_type_is_accepted() {
    let server = Protond::start();
    let op = target("ListEnvironmentTemplates");
    let response = server.raw(&[(TARGET, &op), ("Content-Type", "application/json")], "{}");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["templates"], serde_json::json!([]));
    assert!(response.header("x-amzn-requestid").is_some());
}

#[test]
fn empty_body_means_an_empty_object() {
    let server = Protond::start();
    let op = target("ListEnvironments");
    let response = server.raw(&[(TARGET, &op), JSON_1_0], "");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.json()["environments"], serde_json::json!([]));
}

#[test]
fn malformed_json_is_a_serialization_exception() {
    let server = Protond::start();
    let op = target("CreateEnvironmentTemplate");
    let response = server.raw(&[(TARGET, &op), JSON_1_0], "{\"name\": ");
    assert_eq!(response.status, 400);
    // Protocol errors belong to the service framework's namespace, as AWS sends them.
    let body = response.json();
    let kind = body["__type"].as_str().unwrap_or_default();
    assert!(kind.ends_with("#SerializationException"), "{body}");
    assert_eq!(
        response.header("x-amzn-errortype"),
        Some("SerializationException")
    );
    assert!(response.header("x-amzn-requestid").is_some());
}

#[test]
fn unknown_target_is_an_unknown_operation() {
    let server = Protond::start();
    let op = target("MakeCoffee");
    let response = server.raw(&[(TARGET, &op), JSON_1_0], "{}");
    assert_eq!(response.status, 400);
    let body = response.json();
    let kind = body["__type"].as_str().unwrap_or_default();
    assert!(kind.ends_with("#UnknownOperationException"), "{body}");
    assert!(body["message"].as_str().unwrap().contains("MakeCoffee"));
    assert!(response.header("x-amzn-requestid").is_some());
}

#[test]
fn missing_required_member_is_a_validation_error_naming_it() {
    let server = Protond::start();
    let op = target("CreateEnvironmentTemplate");
    let response = server.raw(&[(TARGET, &op), JSON_1_0], "{}");
    assert_eq!(response.status, 400);
    let body = response.json();
    assert_eq!(
        body["__type"],
        "com.amazonaws.proton.v20200720#ValidationException"
    );
    assert!(body["message"].as_str().unwrap().contains("name"), "{body}");
}

#[test]
fn every_response_carries_a_request_id() {
    let server = Protond::start();
    let get = target("GetEnvironment");
    let list = target("ListEnvironmentTemplates");
    let requests: [(&[(&str, &str)], &str); 4] = [
        (&[(TARGET, &list), JSON_1_0], "{}"),
        (&[(TARGET, &get), JSON_1_0], "{\"name\": \"nowhere\"}"),
        (&[(TARGET, &get), JSON_1_0], "[]"),
        (&[JSON_1_0], ""),
    ];
    let mut ids = Vec::new();
    for (headers, body) in requests {
        let response = server.raw(headers, body);
        let id = response.header("x-amzn-requestid");
        assert!(id.is_some_and(|id| !id.is_empty()), "{response:?}");
        ids.push(id.unwrap().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "request ids are distinct");
}

#[tokio::test]
async fn unimplemented_operation_answers_an_error_naming_it() {
    let server = Protond::start();
    let error = server
        .client()
        .list_services()
        .send()
        .await
        .expect_err("not built yet");
    assert!(message(&error).contains("ListServices"), "{error:?}");
    assert_ne!(code(&error), "InternalServerException");
}
