//! CancelEnvironmentDeployment end to end, with the gated bundle deciding when provisioning
//! ends so that each of the three outcomes (CANCELLED, FAILED, SUCCEEDED) is deterministic; and
//! a deployment interrupted by a crash of protond.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use aws_sdk_proton::types::{Deployment, DeploymentState, DeploymentStatus, Environment};
use common::{GatedSpec, Protond, code, lines, message, process_alive, wait_for_file};

async fn deployment(server: &Protond, id: &str) -> Deployment {
    server
        .client()
        .get_deployment()
        .id(id)
        .send()
        .await
        .expect("GetDeployment")
        .deployment
        .expect("a deployment")
}

async fn cancel(server: &Protond, name: &str) -> Environment {
    server
        .client()
        .cancel_environment_deployment()
        .environment_name(name)
        .send()
        .await
        .expect("CancelEnvironmentDeployment")
        .environment
        .expect("an environment")
}

fn target_spec(deployment: &Deployment) -> Option<String> {
    match deployment.target_state.as_ref()? {
        DeploymentState::Environment(state) => state.spec.clone(),
        other => panic!("not an environment state: {other:?}"),
    }
}

fn initial_spec(deployment: &Deployment) -> Option<String> {
    match deployment.initial_state.as_ref()? {
        DeploymentState::Environment(state) => state.spec.clone(),
        other => panic!("not an environment state: {other:?}"),
    }
}

/// A deployed environment `env` (spec `one`) and an update to spec `two` whose commands are
/// waiting at their gate. Returns the environment before the update, the two specs and the
/// update's deployment id.
async fn update_waiting_at_gate(server: &Protond, env: &str) -> (Environment, GatedSpec, String) {
    server.publish_gated("tpl", None).await;
    let before = server.deployed_environment(env, "tpl").await;
    let dir = server.scratch(env);
    let two = GatedSpec::new(&dir).label("two").gated(&dir.join("gate"));
    let updated = server.update_spec(env, &two.spec()).await;
    assert_eq!(updated.deployment_status, DeploymentStatus::InProgress);
    wait_for_file(&dir.join("waiting-two")).await;
    let id = updated
        .last_attempted_deployment_id
        .expect("a deployment id");
    (before, two, id)
}

#[tokio::test]
async fn cancel_while_commands_wait_restores_the_previous_spec() {
    let server = Protond::start();
    let (before, two, id) = update_waiting_at_gate(&server, "env").await;

    let cancelling = cancel(&server, "env").await;
    assert_eq!(cancelling.deployment_status, DeploymentStatus::Cancelling);
    let status = deployment(&server, &id).await.deployment_status;
    assert!(
        matches!(
            status,
            DeploymentStatus::Cancelling | DeploymentStatus::Cancelled
        ),
        "{status}"
    );

    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Cancelled);
    assert_eq!(
        env.deployment_status_message.as_deref(),
        Some("User initiated cancellation.")
    );
    assert_eq!(
        env.spec, before.spec,
        "the environment shows its previous spec"
    );
    assert_eq!(env.template_minor_version, before.template_minor_version);
    assert_eq!(env.last_attempted_deployment_id.as_deref(), Some(&*id));
    assert_eq!(
        env.last_succeeded_deployment_id,
        before.last_succeeded_deployment_id
    );

    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::Cancelled);
    assert_eq!(
        d.deployment_status_message.as_deref(),
        Some("User initiated cancellation.")
    );
    assert_eq!(initial_spec(&d), before.spec);
    assert_eq!(target_spec(&d).as_deref(), Some(two.spec().as_str()));
    assert!(d.completed_at.is_some());

    // The restore ran the provision commands again, with the previous spec.
    let history = lines(&two.dir.join("history"));
    assert_eq!(
        history,
        ["provision one", "provision two", "provision one"],
        "{history:?}"
    );
    assert_eq!(lines(&two.dir.join("provisioned")), ["one"]);
}

#[tokio::test]
async fn cancel_whose_restore_fails_ends_failed_with_the_reason() {
    let server = Protond::start();
    let (before, two, id) = update_waiting_at_gate(&server, "env").await;
    // From now on every provisioning fails, the restore included.
    std::fs::write(two.dir.join("break-provision"), "").unwrap();

    let cancelling = cancel(&server, "env").await;
    assert_eq!(cancelling.deployment_status, DeploymentStatus::Cancelling);

    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");
    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::Failed);
    let why = d.deployment_status_message.unwrap_or_default();
    assert!(why.contains("cancel failed"), "{why}");
    assert!(why.contains("restore"), "{why}");
    assert_eq!(env.deployment_status_message.as_deref(), Some(why.as_str()));
    assert_eq!(env.spec, before.spec, "a failed deployment changes no spec");
    let history = lines(&two.dir.join("history"));
    assert_eq!(history, ["provision one", "provision two", "provision one"]);
}

#[tokio::test]
async fn cancel_after_completion_is_a_conflict_and_keeps_succeeded() {
    let server = Protond::start();
    let (_, two, id) = update_waiting_at_gate(&server, "env").await;
    std::fs::write(two.dir.join("gate"), "").unwrap();
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);

    let error = server
        .client()
        .cancel_environment_deployment()
        .environment_name("env")
        .send()
        .await
        .expect_err("nothing to cancel");
    assert_eq!(code(&error), "ConflictException");

    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::Succeeded);
    let env = server.environment("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.spec.as_deref(), Some(two.spec().as_str()));
    assert_eq!(env.last_succeeded_deployment_id.as_deref(), Some(&*id));
}

#[tokio::test]
async fn cancel_of_first_deployment_deprovisions_and_stays_cancelled() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let one = GatedSpec::new(&dir).gated(&dir.join("gate"));
    let created = server.create_environment("env", "tpl", &one.spec()).await;
    let id = created.last_attempted_deployment_id.expect("a deployment");
    wait_for_file(&dir.join("waiting-one")).await;

    let cancelling = cancel(&server, "env").await;
    assert_eq!(cancelling.deployment_status, DeploymentStatus::Cancelling);
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Cancelled);
    assert_eq!(
        env.deployment_status_message.as_deref(),
        Some("User initiated cancellation.")
    );
    assert_eq!(env.last_succeeded_deployment_id, None);
    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::Cancelled);
    assert_eq!(d.initial_state, None);
    assert_eq!(
        lines(&dir.join("history")),
        ["provision one", "deprovision one"]
    );

    // Nothing moves it on its own...
    let again = server.environment("env").await;
    assert_eq!(again.deployment_status, DeploymentStatus::Cancelled);
    // ...until it is updated.
    let plain = GatedSpec::new(&dir).label("two");
    server.update_spec("env", &plain.spec()).await;
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.spec.as_deref(), Some(plain.spec().as_str()));
}

#[tokio::test]
async fn cancelled_first_deployment_can_be_deleted() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let one = GatedSpec::new(&dir).gated(&dir.join("gate"));
    server.create_environment("env", "tpl", &one.spec()).await;
    wait_for_file(&dir.join("waiting-one")).await;
    cancel(&server, "env").await;
    assert_eq!(
        server.settled("env").await.deployment_status,
        DeploymentStatus::Cancelled
    );

    let deleting = server
        .client()
        .delete_environment()
        .name("env")
        .send()
        .await
        .expect("DeleteEnvironment")
        .environment
        .expect("an environment");
    assert_eq!(
        deleting.deployment_status,
        DeploymentStatus::DeleteInProgress
    );
    wait_until_gone(&server, "env").await;
}

async fn wait_until_gone(server: &Protond, name: &str) {
    let started = std::time::Instant::now();
    loop {
        match server.client().get_environment().name(name).send().await {
            Ok(_) => {}
            Err(e) if code(&e) == "ResourceNotFoundException" => return,
            Err(e) => panic!("{e:?}"),
        }
        assert!(started.elapsed() < common::DEADLINE, "{name} never went");
        tokio::time::sleep(common::POLL).await;
    }
}

#[tokio::test]
async fn cancel_with_nothing_in_progress_is_a_conflict() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;

    let error = server
        .client()
        .cancel_environment_deployment()
        .environment_name("env")
        .send()
        .await
        .expect_err("nothing to cancel");
    assert_eq!(code(&error), "ConflictException");
    assert!(
        message(&error).contains("no deployment in progress"),
        "{error:?}"
    );
}

#[tokio::test]
async fn cancel_of_unknown_environment_is_not_found() {
    let server = Protond::start();
    let error = server
        .client()
        .cancel_environment_deployment()
        .environment_name("nowhere")
        .send()
        .await
        .expect_err("no such environment");
    assert_eq!(code(&error), "ResourceNotFoundException");
    assert!(message(&error).contains("nowhere"), "{error:?}");
}

#[tokio::test]
async fn second_cancel_of_a_cancelled_deployment_is_a_conflict() {
    let server = Protond::start();
    let (_, _, _) = update_waiting_at_gate(&server, "env").await;
    cancel(&server, "env").await;
    server.settled("env").await;
    let error = server
        .client()
        .cancel_environment_deployment()
        .environment_name("env")
        .send()
        .await
        .expect_err("already cancelled");
    assert_eq!(code(&error), "ConflictException");
}

#[tokio::test]
async fn killed_server_ends_its_running_deployment_as_interrupted() {
    let mut server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let mut spec = GatedSpec::new(&dir).gated(&dir.join("gate"));
    spec.leftover = true;
    let created = server.create_environment("env", "tpl", &spec.spec()).await;
    let id = created.last_attempted_deployment_id.expect("a deployment");
    wait_for_file(&dir.join("waiting-one")).await;
    let leftover: i32 = std::fs::read_to_string(dir.join("leftover.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_alive(leftover));

    server.kill_and_restart();

    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");
    let why = env.deployment_status_message.clone().unwrap_or_default();
    assert!(why.contains("interrupted"), "{why}");
    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::Failed);
    assert_eq!(d.deployment_status_message.as_deref(), Some(why.as_str()));

    let started = std::time::Instant::now();
    while process_alive(leftover) {
        assert!(
            started.elapsed() < common::DEADLINE,
            "the leftover process {leftover} survived the restart"
        );
        tokio::time::sleep(common::POLL).await;
    }
    // The gate never opened, so provisioning never got past it.
    assert_eq!(lines(&dir.join("provisioned")), Vec::<String>::new());
}
