//! AWS-managed provisioning end to end: the real `protond` binary deploys a CloudFormation
//! bundle into the project's CloudFormation stand-in (tests/cfn_standin), driven through the
//! AWS SDK for Rust. Every path of the provisioner is scripted here: create, update, an update
//! that changes nothing, delete, failed creates, updates and deletes, and each end of a cancel.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod cfn_standin;
mod common;

use std::time::Instant;

use aws_sdk_proton::types::{DeploymentStatus, Environment, TemplateVersionStatus};
use cfn_standin::{Script, StandIn, Step};
use common::{DEADLINE, POLL, Protond, fixture, unique};

/// A protond whose CloudFormation is `standin`, with explicit loopback settings only.
fn server_for(standin: &StandIn) -> Protond {
    let mut server = Protond::start();
    let home = server.data_dir().parent().expect("a home").to_owned();
    let config = format!(
        "stop_grace_secs = 2\n\n[cloudformation]\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"AKIDSTANDIN\"\nsecret_access_key = \"stand-in\"\n\
         poll_interval_ms = 50\n",
        standin.endpoint()
    );
    std::fs::write(home.join("protond.toml"), config).expect("the configuration");
    // The harness writes its own configuration at start; a restart makes it read ours.
    server.kill_and_restart();
    server
}

/// Registers and publishes the `cfn-env` bundle as version 1.0 of a new template.
async fn cfn_template(server: &Protond) -> String {
    let template = format!("cfn-{}", unique());
    server.create_template(&template).await;
    let key = format!("{template}/bundle.tar.gz");
    let v = server
        .register(&template, None, &fixture("cfn-env"), &key)
        .await;
    assert_eq!(v.status, TemplateVersionStatus::Draft, "{v:?}");
    server
        .publish(&template, &v.major_version, &v.minor_version)
        .await;
    template
}

fn spec(label: &str) -> String {
    format!("proton: EnvironmentSpec\nspec:\n  label: {label}\n")
}

/// Starts everything and creates environment `name` with label `one`.
async fn environment(script: Script, name: &str) -> (StandIn, Protond) {
    let standin = StandIn::start(script).await;
    let server = server_for(&standin);
    let template = cfn_template(&server).await;
    server
        .create_environment(name, &template, &spec("one"))
        .await;
    (standin, server)
}

async fn outputs(server: &Protond, name: &str) -> Vec<(String, String)> {
    let mut found: Vec<_> = server
        .client()
        .list_environment_outputs()
        .environment_name(name)
        .send()
        .await
        .expect("ListEnvironmentOutputs")
        .outputs
        .into_iter()
        .map(|o| {
            (
                o.key.unwrap_or_default(),
                o.value_string.unwrap_or_default(),
            )
        })
        .collect();
    found.sort();
    found
}

async fn resources(server: &Protond, name: &str) -> Vec<(String, String)> {
    server
        .client()
        .list_environment_provisioned_resources()
        .environment_name(name)
        .send()
        .await
        .expect("ListEnvironmentProvisionedResources")
        .provisioned_resources
        .into_iter()
        .map(|r| (r.name.unwrap_or_default(), r.identifier.unwrap_or_default()))
        .collect()
}

async fn cancel(server: &Protond, name: &str) {
    server
        .client()
        .cancel_environment_deployment()
        .environment_name(name)
        .send()
        .await
        .expect("CancelEnvironmentDeployment");
}

async fn delete(server: &Protond, name: &str) {
    server
        .client()
        .delete_environment()
        .name(name)
        .send()
        .await
        .expect("DeleteEnvironment");
}

/// Waits until the deletion of `name` ended: None when the environment is gone, or the
/// environment when the deletion failed.
async fn deletion_end(server: &Protond, name: &str) -> Option<Environment> {
    let started = Instant::now();
    loop {
        match server.client().get_environment().name(name).send().await {
            Err(e) => {
                assert_eq!(
                    common::code(&e.into_service_error()),
                    "ResourceNotFoundException"
                );
                return None;
            }
            Ok(answer) => {
                let env = answer.environment.expect("an environment");
                if env.deployment_status == DeploymentStatus::DeleteFailed {
                    return Some(env);
                }
            }
        }
        assert!(
            started.elapsed() < common::DEADLINE,
            "{name} still deleting"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the stand-in received `action` at least `times` times.
async fn received(standin: &StandIn, action: &str, times: usize) {
    let started = Instant::now();
    while standin.actions().iter().filter(|a| *a == action).count() < times {
        assert!(
            started.elapsed() < DEADLINE,
            "no {action}: {:?}",
            standin.actions()
        );
        tokio::time::sleep(POLL).await;
    }
}

fn pair(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}

/// The rendered templates of a deployment, printed by `protond deployment rendered`.
fn rendered(server: &Protond, deployment_id: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_protond"))
        .args(["deployment", "rendered", deployment_id, "--data-dir"])
        .arg(server.data_dir())
        .output()
        .expect("protond deployment rendered runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_update_and_delete_drive_one_stack() {
    let (standin, server) = environment(Script::default(), "web").await;
    let env = server.settled("web").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );

    // The stack is named after the environment, with the service role and capabilities.
    let create = standin
        .calls()
        .into_iter()
        .find(|c| c.action == "CreateStack")
        .expect("a CreateStack");
    assert_eq!(create.params["StackName"], "protond-env-web");
    assert_eq!(
        create.params["RoleARN"],
        "arn:aws:iam::123456789012:role/proton"
    );
    assert_eq!(
        create.params["Capabilities.member.3"],
        "CAPABILITY_AUTO_EXPAND"
    );
    assert!(create.params["TemplateBody"].contains("TopicName: \"web-one\""));
    let stack_outputs = vec![
        pair("Label", "one"),
        pair("TopicArn", "protond-env-web-TopicArn-value"),
    ];
    assert_eq!(outputs(&server, "web").await, stack_outputs);
    assert_eq!(
        resources(&server, "web").await,
        vec![pair("Topic", "protond-env-web-Topic")]
    );
    let first = env.last_attempted_deployment_id.clone().expect("an id");
    assert!(rendered(&server, &first).contains("TopicName: \"web-one\""));

    server.update_spec("web", &spec("two")).await;
    let env = server.settled("web").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );
    assert_eq!(outputs(&server, "web").await[0], pair("Label", "two"));
    assert_eq!(
        standin.status("protond-env-web").as_deref(),
        Some("UPDATE_COMPLETE")
    );

    // The same spec again renders the same template: CloudFormation has nothing to do.
    server.update_spec("web", &spec("two")).await;
    let env = server.settled("web").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );
    assert_eq!(outputs(&server, "web").await[0], pair("Label", "two"));

    delete(&server, "web").await;
    assert!(deletion_end(&server, "web").await.is_none());
    assert_eq!(standin.status("protond-env-web"), None);
    assert_eq!(
        standin.actions(),
        ["CreateStack", "UpdateStack", "UpdateStack", "DeleteStack"]
    );
}

fn failing_create() -> Script {
    Script {
        create: vec![
            Step::Resource("Topic", "CREATE_IN_PROGRESS", None),
            Step::Resource(
                "Topic",
                "CREATE_FAILED",
                Some("Topic web-one already exists"),
            ),
            Step::Stack(
                "ROLLBACK_IN_PROGRESS",
                Some("The following resource(s) failed to create: [Topic]."),
            ),
            Step::Resource("Topic", "DELETE_COMPLETE", None),
            Step::Stack("ROLLBACK_COMPLETE", None),
        ],
        ..Script::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_create_says_why_and_the_next_update_creates_the_stack_again() {
    let (standin, server) = environment(failing_create(), "web").await;
    let env = server.settled("web").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");
    let message = env.deployment_status_message.unwrap_or_default();
    assert!(message.contains("ROLLBACK_COMPLETE"), "{message}");
    assert!(
        message.contains("Topic CREATE_FAILED: Topic web-one already exists"),
        "{message}"
    );
    assert!(resources(&server, "web").await.is_empty());

    // A rolled-back stack cannot be updated: protond deletes it and creates it again.
    standin.set_script(Script::default());
    server.update_spec("web", &spec("two")).await;
    let env = server.settled("web").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );
    assert_eq!(
        standin.actions(),
        ["CreateStack", "DeleteStack", "CreateStack"]
    );
    assert_eq!(outputs(&server, "web").await[0], pair("Label", "two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_after_a_failed_create_removes_the_rolled_back_stack() {
    let (standin, server) = environment(failing_create(), "web").await;
    let env = server.settled("web").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");

    delete(&server, "web").await;
    assert!(deletion_end(&server, "web").await.is_none());
    assert_eq!(standin.status("protond-env-web"), None);
    assert_eq!(standin.actions(), ["CreateStack", "DeleteStack"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_delete_leaves_the_environment_delete_failed() {
    let script = Script {
        delete: vec![
            Step::Resource("Topic", "DELETE_FAILED", Some("Topic is in use")),
            Step::Stack(
                "DELETE_FAILED",
                Some("The following resource(s) failed to delete: [Topic]."),
            ),
        ],
        ..Script::default()
    };
    let (standin, server) = environment(script, "web").await;
    server.settled("web").await;

    delete(&server, "web").await;
    let env = deletion_end(&server, "web").await.expect("DELETE_FAILED");
    let message = env.deployment_status_message.unwrap_or_default();
    assert!(message.contains("DELETE_FAILED"), "{message}");
    assert!(message.contains("Topic is in use"), "{message}");
    assert_eq!(
        standin.status("protond-env-web").as_deref(),
        Some("DELETE_FAILED")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_update_rolls_back_and_keeps_the_previous_spec() {
    let script = Script {
        update: vec![
            Step::Resource("Topic", "UPDATE_FAILED", Some("Access denied")),
            Step::Stack(
                "UPDATE_ROLLBACK_IN_PROGRESS",
                Some("Resource update failed"),
            ),
            Step::Stack("UPDATE_ROLLBACK_COMPLETE", None),
        ],
        ..Script::default()
    };
    let (_standin, server) = environment(script, "web").await;
    server.settled("web").await;

    server.update_spec("web", &spec("two")).await;
    let env = server.settled("web").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");
    let message = env.deployment_status_message.clone().unwrap_or_default();
    assert!(message.contains("UPDATE_ROLLBACK_COMPLETE"), "{message}");
    assert!(message.contains("Access denied"), "{message}");
    assert_eq!(env.spec.as_deref(), Some(spec("one").as_str()));
    assert_eq!(outputs(&server, "web").await[0], pair("Label", "one"));
}

fn held_update() -> Script {
    Script {
        update: vec![
            Step::Resource("Topic", "UPDATE_IN_PROGRESS", None),
            Step::Hold,
        ],
        ..Script::default()
    }
}

/// Creates `web`, starts an update that CloudFormation holds, and cancels it.
async fn cancelled_update(script: Script) -> (StandIn, Protond, Environment) {
    let (standin, server) = environment(script, "web").await;
    server.settled("web").await;
    server.update_spec("web", &spec("two")).await;
    received(&standin, "UpdateStack", 1).await;
    cancel(&server, "web").await;
    let env = server.settled("web").await;
    (standin, server, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_update_ends_cancelled_once_the_rollback_completes() {
    let (standin, server, env) = cancelled_update(held_update()).await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Cancelled,
        "{env:?}"
    );
    assert_eq!(
        env.deployment_status_message.as_deref(),
        Some("User initiated cancellation.")
    );
    assert_eq!(env.spec.as_deref(), Some(spec("one").as_str()));
    assert!(standin.actions().contains(&"CancelUpdateStack".to_owned()));
    assert_eq!(
        standin.status("protond-env-web").as_deref(),
        Some("UPDATE_ROLLBACK_COMPLETE")
    );
    assert_eq!(outputs(&server, "web").await[0], pair("Label", "one"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_update_fails_with_the_reason_when_the_rollback_fails() {
    let script = Script {
        cancel_update: vec![
            Step::Stack("UPDATE_ROLLBACK_IN_PROGRESS", Some("User Initiated")),
            Step::Resource("Topic", "UPDATE_FAILED", Some("Role is invalid")),
            Step::Stack(
                "UPDATE_ROLLBACK_FAILED",
                Some("The following resource(s) failed to update: [Topic]."),
            ),
        ],
        ..held_update()
    };
    let (_standin, _server, env) = cancelled_update(script).await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");
    let message = env.deployment_status_message.unwrap_or_default();
    assert!(message.starts_with("cancel failed: "), "{message}");
    assert!(message.contains("UPDATE_ROLLBACK_FAILED"), "{message}");
    assert!(message.contains("Role is invalid"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_the_update_completed_keeps_succeeded() {
    let script = Script {
        cancel_too_late: true,
        ..held_update()
    };
    let (standin, server, env) = cancelled_update(script).await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );
    assert_eq!(env.spec.as_deref(), Some(spec("two").as_str()));
    assert!(standin.actions().contains(&"CancelUpdateStack".to_owned()));
    assert_eq!(outputs(&server, "web").await[0], pair("Label", "two"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_first_deployment_deletes_the_half_created_stack() {
    let script = Script {
        create: vec![
            Step::Resource("Topic", "CREATE_IN_PROGRESS", None),
            Step::Hold,
        ],
        ..Script::default()
    };
    let standin = StandIn::start(script).await;
    let server = server_for(&standin);
    let template = cfn_template(&server).await;
    server
        .create_environment("web", &template, &spec("one"))
        .await;
    received(&standin, "CreateStack", 1).await;
    cancel(&server, "web").await;

    let env = server.settled("web").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Cancelled,
        "{env:?}"
    );
    assert_eq!(standin.actions(), ["CreateStack", "DeleteStack"]);
    assert_eq!(standin.status("protond-env-web"), None);
}
