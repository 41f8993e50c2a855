//! Validation reports each kind of constraint the model defines, naming the field.

use protond_wire::{ErrorKind, validate};
use serde_json::{Value, json};

fn refusal(shape: &str, input: Value) -> String {
    let err = validate(shape, &input).expect_err("the input must be refused");
    assert_eq!(err.kind(), ErrorKind::Validation, "{}", err.message());
    err.message().to_string()
}

fn valid_environment() -> Value {
    json!({
        "name": "staging",
        "templateName": "vpc-base",
        "templateMajorVersion": "1",
        "spec": "proton: EnvironmentSpec",
    })
}

fn with(mut input: Value, key: &str, value: Value) -> Value {
    input[key] = value;
    input
}

#[test]
fn a_valid_input_passes() {
    assert_eq!(
        validate("CreateEnvironmentInput", &valid_environment()),
        Ok(())
    );
}

#[test]
fn required_member_missing() {
    let mut input = valid_environment();
    input.as_object_mut().unwrap().remove("templateName");
    assert_eq!(
        refusal("CreateEnvironmentInput", input),
        "1 validation error detected: Value null at 'templateName' failed to satisfy \
         constraint: Member must not be null"
    );
}

#[test]
fn required_member_null_counts_as_missing() {
    let input = with(valid_environment(), "name", Value::Null);
    assert!(refusal("CreateEnvironmentInput", input).contains("Value null at 'name'"));
}

#[test]
fn string_too_long() {
    let input = with(valid_environment(), "name", json!("a".repeat(101)));
    let message = refusal("CreateEnvironmentInput", input);
    assert!(
        message.ends_with(
            "at 'name' failed to satisfy constraint: \
             Member must have length less than or equal to 100"
        ),
        "{message}"
    );
    // Long values are cut short when echoed.
    assert!(
        message.contains(&format!("Value '{}...'", "a".repeat(64))),
        "{message}"
    );
}

#[test]
fn string_length_counts_unicode_scalar_values() {
    // 100 two-byte characters are 100 long, not 200.
    let input = with(valid_environment(), "description", json!("é".repeat(100)));
    assert_eq!(validate("CreateEnvironmentInput", &input), Ok(()));
}

#[test]
fn string_too_short() {
    let input = with(valid_environment(), "name", json!(""));
    assert!(
        refusal("CreateEnvironmentInput", input)
            .contains("Member must have length greater than or equal to 1")
    );
}

#[test]
fn pattern_mismatch_quotes_the_model_pattern() {
    let input = with(valid_environment(), "name", json!("-bad name"));
    assert_eq!(
        refusal("CreateEnvironmentInput", input),
        "1 validation error detected: Value '-bad name' at 'name' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: ^[0-9A-Za-z]+[0-9A-Za-z_\\-]*$"
    );
}

#[test]
fn enum_value_outside_the_set() {
    let input = json!({"name": "staging", "deploymentType": "SIDEWAYS"});
    assert_eq!(
        refusal("UpdateEnvironmentInput", input),
        "1 validation error detected: Value 'SIDEWAYS' at 'deploymentType' failed to satisfy \
         constraint: Member must satisfy enum value set: \
         [NONE, CURRENT_VERSION, MINOR_VERSION, MAJOR_VERSION]"
    );
}

#[test]
fn integer_out_of_range() {
    assert!(
        refusal("ListEnvironmentsInput", json!({"maxResults": 101})).contains(
            "Value '101' at 'maxResults' failed to satisfy constraint: \
                 Member must have value less than or equal to 100"
        )
    );
    assert!(
        refusal("ListEnvironmentsInput", json!({"maxResults": 0}))
            .contains("Member must have value greater than or equal to 1")
    );
}

#[test]
fn list_too_long_and_nested_paths_are_dotted() {
    let tags: Vec<Value> = (0..51)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let input = with(valid_environment(), "tags", json!(tags));
    assert!(refusal("CreateEnvironmentInput", input).contains(
        "Value at 'tags' failed to satisfy constraint: \
                 Member must have length less than or equal to 50"
    ));
    let input = with(valid_environment(), "tags", json!([{"key": "team"}]));
    assert!(refusal("CreateEnvironmentInput", input).contains("Value null at 'tags.0.value'"));
}

#[test]
fn sensitive_values_are_never_echoed() {
    let input = with(valid_environment(), "spec", json!(""));
    let message = refusal("CreateEnvironmentInput", input);
    assert!(
        message.contains("Value at 'spec' failed to satisfy constraint"),
        "{message}"
    );

    let secret = "s3cr3t-".repeat(10_000);
    let input = with(valid_environment(), "spec", json!(secret));
    assert!(!refusal("CreateEnvironmentInput", input).contains("s3cr3t"));
}

#[test]
fn unknown_members_are_named() {
    let input = with(valid_environment(), "templateNmae", json!("vpc-base"));
    let message = refusal("CreateEnvironmentInput", input);
    assert!(message.contains("'templateNmae'"), "{message}");
}

#[test]
fn every_violation_is_counted() {
    let input = json!({"name": "", "templateName": "", "templateMajorVersion": "1", "spec": "x"});
    let message = refusal("CreateEnvironmentInput", input);
    assert!(
        message.starts_with("4 validation errors detected: "),
        "{message}"
    );
    assert!(message.contains("at 'name'") && message.contains("; Value '' at 'templateName'"));
}

#[test]
fn union_needs_exactly_one_member() {
    let input = json!({"templateName": "vpc-base", "source": {}});
    let message = refusal("CreateEnvironmentTemplateVersionInput", input);
    assert!(
        message.contains(
            "Value at 'source' failed to satisfy constraint: \
             Member must have exactly one of [s3] set"
        ),
        "{message}"
    );
    let input = json!({"templateName": "vpc-base", "source": {"s3": {"bucket": "b", "key": "k"}}});
    assert!(message_of_ok_or_err(input).contains("at 'source.s3.bucket'"));
}

fn message_of_ok_or_err(input: Value) -> String {
    match validate("CreateEnvironmentTemplateVersionInput", &input) {
        Ok(()) => String::new(),
        Err(err) => err.message().to_string(),
    }
}

#[test]
fn wrong_json_type_is_a_serialization_exception() {
    let input = with(valid_environment(), "name", json!(42));
    let err = validate("CreateEnvironmentInput", &input).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert_eq!(
        err.message(),
        "Value at 'name' must be a string, not a number"
    );

    let err = validate("ListEnvironmentsInput", &json!({"maxResults": 1.5})).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
}

#[test]
fn timestamps_are_numbers() {
    let environment = json!({
        "arn": "arn:aws:proton:us-east-1:123456789012:environment/staging",
        "createdAt": 1700000000,
        "deploymentStatus": "SUCCEEDED",
        "lastDeploymentAttemptedAt": 1700000000.5,
        "lastDeploymentSucceededAt": 1700000001,
        "name": "staging",
        "templateMajorVersion": "1",
        "templateMinorVersion": "0",
        "templateName": "vpc-base",
    });
    assert_eq!(validate("Environment", &environment), Ok(()));
    let input = with(environment, "createdAt", json!("2023-11-14T22:13:20Z"));
    let err = validate("Environment", &input).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(
        err.message()
            .contains("'createdAt' must be a number of epoch seconds")
    );
}
