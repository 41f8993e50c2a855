//! Typed inputs and outputs read and write the JSON that Proton clients send and expect.

use std::fs;
use std::path::PathBuf;

use protond_wire::{
    CreateEnvironmentInput, DeploymentState, DeploymentStatus, EnvironmentState,
    GetEnvironmentOutput, S3ObjectSource, Tag, TemplateVersionSourceInput, Timestamp,
    decode_request, validate,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn create_environment_input_round_trips() {
    let json = fixture("create-environment-input.json");
    let body = serde_json::to_vec(&json).unwrap();
    let target = Some("AwsProton20200720.CreateEnvironment");
    let (_, value) = decode_request(target, None, &body).unwrap();

    let input: CreateEnvironmentInput = serde_json::from_value(value).unwrap();
    assert_eq!(input.name, "staging");
    assert_eq!(input.template_minor_version.as_deref(), Some("2"));
    assert_eq!(input.environment_account_connection_id, None);
    let tags = input.tags.clone().unwrap();
    assert_eq!(
        tags[0],
        Tag {
            key: "team".into(),
            value: "payments".into()
        }
    );

    assert_eq!(serde_json::to_value(&input).unwrap(), json);
}

#[test]
fn environment_output_round_trips_with_epoch_second_timestamps() {
    let json = fixture("get-environment-output.json");
    assert_eq!(validate("GetEnvironmentOutput", &json), Ok(()));

    let output: GetEnvironmentOutput = serde_json::from_value(json.clone()).unwrap();
    let environment = &output.environment;
    assert_eq!(environment.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(
        environment.created_at,
        Timestamp::from_unix_millis(1_700_000_000_000)
    );
    assert_eq!(
        environment.last_deployment_attempted_at.as_unix_millis(),
        1_700_000_001_250
    );

    assert_eq!(serde_json::to_value(&output).unwrap(), json);
}

#[test]
fn unions_are_written_as_a_single_member_object() {
    let state = DeploymentState::Environment(EnvironmentState {
        spec: Some("proton: EnvironmentSpec".into()),
        template_major_version: "1".into(),
        template_minor_version: "0".into(),
        template_name: "vpc-base".into(),
    });
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(
        json,
        json!({"environment": {
            "spec": "proton: EnvironmentSpec",
            "templateMajorVersion": "1",
            "templateMinorVersion": "0",
            "templateName": "vpc-base",
        }})
    );
    assert_eq!(
        serde_json::from_value::<DeploymentState>(json).unwrap(),
        state
    );

    let source: TemplateVersionSourceInput =
        serde_json::from_value(json!({"s3": {"bucket": "bundles", "key": "vpc.tar.gz"}})).unwrap();
    let expected = S3ObjectSource {
        bucket: "bundles".into(),
        key: "vpc.tar.gz".into(),
    };
    assert_eq!(source, TemplateVersionSourceInput::S3(expected));
}

#[test]
fn enums_show_their_wire_value() {
    assert_eq!(
        DeploymentStatus::DeleteInProgress.as_str(),
        "DELETE_IN_PROGRESS"
    );
    assert_eq!(DeploymentStatus::Cancelling.to_string(), "CANCELLING");
    assert_eq!(
        DeploymentStatus::from_wire("CANCELLED"),
        Some(DeploymentStatus::Cancelled)
    );
    assert_eq!(DeploymentStatus::ALL.len(), 8);
}

#[test]
fn empty_structures_read_and_write_an_empty_object() {
    let input: protond_wire::GetAccountSettingsInput = serde_json::from_value(json!({})).unwrap();
    assert_eq!(serde_json::to_value(input).unwrap(), json!({}));
}

#[test]
fn debug_never_prints_sensitive_members() {
    let json = fixture("create-environment-input.json");
    let input: CreateEnvironmentInput = serde_json::from_value(json).unwrap();
    let debug = format!("{input:?}");
    assert!(!debug.contains("vpc_cidr"), "{debug}");
    assert!(debug.contains("staging"), "{debug}");
}
