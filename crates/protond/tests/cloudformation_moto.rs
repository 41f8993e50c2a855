//! The public `lambda-env` bundle, unchanged, deployed through protond into moto's
//! CloudFormation (a third-party engine that parses templates, creates resources and resolves
//! outputs). scripts/test starts `moto_server` on 127.0.0.1 and names it in
//! `PROTOND_TEST_MOTO_ENDPOINT`; without it this test prints a note and does nothing.
//!
//! moto completes every operation inside the call and has no failure or rollback states, so
//! only what it does faithfully is checked here: create, outputs and resources. Everything else
//! is covered against the project's own stand-in (tests/cloudformation.rs).

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use aws_sdk_proton::types::{DeploymentStatus, TemplateVersionStatus};
use common::Protond;

const ENDPOINT_VARIABLE: &str = "PROTOND_TEST_MOTO_ENDPOINT";

/// The moto endpoint, only when it is on loopback: a test never reaches another host.
fn moto_endpoint() -> Option<String> {
    let endpoint = std::env::var(ENDPOINT_VARIABLE).ok()?;
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "{ENDPOINT_VARIABLE} must be a 127.0.0.1 URL, not {endpoint}"
    );
    Some(endpoint)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_env_bundle_deploys_into_moto_with_outputs_and_resources() {
    let Some(endpoint) = moto_endpoint() else {
        println!("note: {ENDPOINT_VARIABLE} is not set (moto is not running); skipped");
        return;
    };
    let Some(bundles) = common::real_bundles() else {
        println!("note: ../shared/fixtures/real-bundles is absent; skipped");
        return;
    };
    let root = bundles.join("cloudformation/lambda-multi-svc");

    let mut server = Protond::start();
    let home = server.data_dir().parent().expect("a home").to_owned();
    let config = format!(
        "[cloudformation]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"AKIDMOTO\"\nsecret_access_key = \"moto\"\npoll_interval_ms = 100\n"
    );
    std::fs::write(home.join("protond.toml"), config).expect("the configuration");
    // The harness writes its own configuration at start; a restart makes it read ours.
    server.kill_and_restart();

    let template = format!("lambda-env-{}", common::unique());
    server.create_template(&template).await;
    let key = format!("{template}/bundle.tar.gz");
    let v = server
        .register(&template, None, &root.join("lambda-env/v1"), &key)
        .await;
    assert_eq!(v.status, TemplateVersionStatus::Draft, "{v:?}");
    server
        .publish(&template, &v.major_version, &v.minor_version)
        .await;
    let spec = std::fs::read_to_string(root.join("specs/env-spec.yaml")).expect("the spec");
    let name = format!("moto-{}", common::unique());
    server.create_environment(&name, &template, &spec).await;

    let env = server.settled(&name).await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );
    let outputs = server
        .client()
        .list_environment_outputs()
        .environment_name(&name)
        .send()
        .await
        .expect("ListEnvironmentOutputs")
        .outputs;
    let value = |key: &str| {
        outputs
            .iter()
            .find(|o| o.key.as_deref() == Some(key))
            .and_then(|o| o.value_string.clone())
            .unwrap_or_else(|| panic!("no output {key}: {outputs:?}"))
    };
    assert!(!value("TableName").is_empty());
    assert!(
        value("AppBucketArn").starts_with("arn:aws:s3:::"),
        "{outputs:?}"
    );

    let resources = server
        .client()
        .list_environment_provisioned_resources()
        .environment_name(&name)
        .send()
        .await
        .expect("ListEnvironmentProvisionedResources")
        .provisioned_resources;
    let mut names: Vec<_> = resources.iter().filter_map(|r| r.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["AppBucket", "AppTable"], "{resources:?}");
    assert!(resources.iter().all(|r| r.identifier.is_some()));
}
