//! Environments and their deployments end to end: Create, Get, List, Update (every deployment
//! type), Delete; Get, List and Delete Deployment; outputs, notify, provisioned resources, tags,
//! pagination, and the SDK's paginators and waiter.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use std::time::Duration;

use aws_sdk_proton::client::Waiters as _;
use aws_sdk_proton::types::{
    Deployment, DeploymentState, DeploymentStatus, DeploymentUpdateType, EnvironmentTemplateFilter,
    Output, Tag,
};
use common::{GatedSpec, Protond, code, lines, message, wait_for_file};

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

async fn outputs(server: &Protond, env: &str, deployment: Option<&str>) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = server
        .client()
        .list_environment_outputs()
        .environment_name(env)
        .set_deployment_id(deployment.map(str::to_owned))
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

fn pair(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}

fn state_spec(state: Option<&DeploymentState>) -> Option<String> {
    match state? {
        DeploymentState::Environment(state) => state.spec.clone(),
        other => panic!("not an environment state: {other:?}"),
    }
}

async fn update(
    server: &Protond,
    name: &str,
    kind: DeploymentUpdateType,
    major: Option<&str>,
    minor: Option<&str>,
) -> Result<aws_sdk_proton::types::Environment, String> {
    server
        .client()
        .update_environment()
        .name(name)
        .deployment_type(kind)
        .set_template_major_version(major.map(str::to_owned))
        .set_template_minor_version(minor.map(str::to_owned))
        .send()
        .await
        .map(|o| o.environment.expect("an environment"))
        .map_err(|e| format!("{}: {}", code(&e), message(&e)))
}

#[tokio::test]
async fn created_environment_deploys_and_reports_its_outputs() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let spec = GatedSpec::new(&dir).spec();

    let created = server.create_environment("env", "tpl", &spec).await;
    assert_eq!(created.deployment_status, DeploymentStatus::InProgress);
    assert_eq!(
        created.arn,
        "arn:aws:proton:us-east-1:123456789012:environment/env"
    );
    assert_eq!(
        (
            &*created.template_name,
            &*created.template_major_version,
            &*created.template_minor_version
        ),
        ("tpl", "1", "0")
    );
    assert_eq!(created.spec.as_deref(), Some(spec.as_str()));
    let id = created.last_attempted_deployment_id.clone().unwrap();
    assert_eq!(created.last_succeeded_deployment_id, None);

    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.last_attempted_deployment_id.as_deref(), Some(&*id));
    assert_eq!(env.last_succeeded_deployment_id.as_deref(), Some(&*id));
    assert_eq!(env.spec.as_deref(), Some(spec.as_str()));
    assert_eq!(lines(&dir.join("provisioned")), ["one"]);

    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(d.environment_name, "env");
    assert_eq!(d.target_arn, env.arn);
    assert_eq!(d.initial_state, None);
    assert_eq!(
        state_spec(d.target_state.as_ref()).as_deref(),
        Some(spec.as_str())
    );
    assert!(d.completed_at.is_some());

    let dir_text = dir.display().to_string();
    assert_eq!(
        outputs(&server, "env", None).await,
        [pair("Dir", &dir_text), pair("Label", "one")]
    );
    let resources = server
        .client()
        .list_environment_provisioned_resources()
        .environment_name("env")
        .send()
        .await
        .expect("ListEnvironmentProvisionedResources");
    assert!(resources.provisioned_resources.is_empty());

    let listed = server.client().list_environments().send().await.unwrap();
    let names: Vec<&str> = listed.environments.iter().map(|e| &*e.name).collect();
    assert_eq!(names, ["env"]);
    assert_eq!(
        listed.environments[0].deployment_status,
        DeploymentStatus::Succeeded
    );
}

async fn create_again(server: &Protond, spec: &str) -> Result<String, String> {
    server
        .client()
        .create_environment()
        .name("env")
        .template_name("tpl")
        .template_major_version("1")
        .spec(spec)
        .proton_service_role_arn("arn:aws:iam::123456789012:role/proton")
        .send()
        .await
        .map(|o| o.environment.unwrap().arn)
        .map_err(|e| format!("{}: {}", code(&e), message(&e)))
}

#[tokio::test]
async fn create_environment_retry_returns_it_and_a_different_request_is_refused() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let spec = GatedSpec::new(&server.scratch("env")).spec();
    let first = server.create_environment("env", "tpl", &spec).await;
    let again = server.create_environment("env", "tpl", &spec).await;
    assert_eq!(again.arn, first.arn);
    assert_eq!(
        again.last_attempted_deployment_id,
        first.last_attempted_deployment_id
    );

    // Proton's idempotency rules: other parameters for the same name are a mismatch.
    let other = GatedSpec::new(&server.scratch("env")).label("two").spec();
    let refused = create_again(&server, &other).await.expect_err("a mismatch");
    assert!(
        refused.starts_with("ValidationException: IdempotentParameterMismatch"),
        "{refused}"
    );
    server.settled("env").await;
    let deployments = server
        .client()
        .list_deployments()
        .environment_name("env")
        .send()
        .await
        .unwrap();
    assert_eq!(
        deployments.deployments.len(),
        1,
        "the retry deployed nothing"
    );

    // Once the environment was updated, the first request is no longer a retry.
    server.update_spec("env", &other).await;
    server.settled("env").await;
    let refused = create_again(&server, &spec)
        .await
        .expect_err("changed since");
    assert!(refused.starts_with("ConflictException"), "{refused}");
}

#[tokio::test]
async fn spec_against_the_schema_is_refused_naming_the_field() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let cases = [
        // The label's pattern allows lower case only.
        (GatedSpec::new(&dir).label("UPPER").spec(), "label"),
        // `dir` is required.
        (
            "proton: EnvironmentSpec\nspec:\n  label: one\n".to_owned(),
            "dir",
        ),
        // `fail` is a boolean.
        (
            format!("{}  fail: maybe\n", GatedSpec::new(&dir).spec()),
            "fail",
        ),
    ];
    for (spec, field) in cases {
        let error = server
            .client()
            .create_environment()
            .name("env")
            .template_name("tpl")
            .template_major_version("1")
            .spec(&spec)
            .send()
            .await
            .expect_err("an invalid spec");
        assert_eq!(code(&error), "ValidationException", "{spec}");
        assert!(message(&error).contains(field), "{field}: {error:?}");
    }
    let error = server
        .client()
        .get_environment()
        .name("env")
        .send()
        .await
        .expect_err("nothing was created");
    assert_eq!(code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn update_none_changes_metadata_only_and_refuses_a_spec() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let before = server.deployed_environment("env", "tpl").await;

    let updated = server
        .client()
        .update_environment()
        .name("env")
        .deployment_type(DeploymentUpdateType::None)
        .description("described")
        .send()
        .await
        .expect("UpdateEnvironment NONE")
        .environment
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("described"));
    assert_eq!(updated.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(
        updated.last_attempted_deployment_id,
        before.last_attempted_deployment_id
    );
    let env = server.environment("env").await;
    assert_eq!(env.description.as_deref(), Some("described"));

    let error = server
        .client()
        .update_environment()
        .name("env")
        .deployment_type(DeploymentUpdateType::None)
        .spec(GatedSpec::new(&server.scratch("env")).label("two").spec())
        .send()
        .await
        .expect_err("NONE with a spec");
    assert_eq!(code(&error), "ValidationException");
    assert!(message(&error).contains("spec"), "{error:?}");
}

#[tokio::test]
async fn update_current_version_redeploys_the_spec_and_refuses_version_fields() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let before = server.deployed_environment("env", "tpl").await;

    let refused = update(
        &server,
        "env",
        DeploymentUpdateType::CurrentVersion,
        Some("1"),
        None,
    )
    .await
    .expect_err("CURRENT_VERSION with a major version");
    assert!(refused.starts_with("ValidationException"), "{refused}");
    assert!(refused.contains("templateMajorVersion"), "{refused}");

    let dir = server.scratch("env");
    let two = GatedSpec::new(&dir).label("two").spec();
    let updated = server.update_spec("env", &two).await;
    assert_eq!(updated.deployment_status, DeploymentStatus::InProgress);
    // The environment shows its last successful spec while the new one deploys.
    assert_eq!(updated.spec, before.spec);
    let id = updated.last_attempted_deployment_id.unwrap();
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.spec.as_deref(), Some(two.as_str()));
    assert_eq!(env.template_minor_version, "0");
    assert_eq!(env.last_succeeded_deployment_id.as_deref(), Some(&*id));

    let d = deployment(&server, &id).await;
    assert_eq!(state_spec(d.initial_state.as_ref()), before.spec);
    assert_eq!(
        state_spec(d.target_state.as_ref()).as_deref(),
        Some(two.as_str())
    );
    assert_eq!(
        d.last_succeeded_deployment_id,
        before.last_succeeded_deployment_id
    );
    assert_eq!(
        d.last_attempted_deployment_id,
        before.last_attempted_deployment_id
    );
    assert_eq!(lines(&dir.join("provisioned")), ["two"]);
}

#[tokio::test]
async fn update_minor_version_moves_to_the_recommended_or_a_named_minor() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;
    assert_eq!(
        server.publish_gated("tpl", Some("1")).await,
        ("1".into(), "1".into())
    );
    assert_eq!(
        server.publish_gated("tpl", Some("1")).await,
        ("1".into(), "2".into())
    );

    update(
        &server,
        "env",
        DeploymentUpdateType::MinorVersion,
        None,
        None,
    )
    .await
    .expect("MINOR_VERSION to the recommended minor");
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.template_minor_version, "2");

    update(
        &server,
        "env",
        DeploymentUpdateType::MinorVersion,
        None,
        Some("1"),
    )
    .await
    .expect("MINOR_VERSION to a named minor");
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(
        (&*env.template_major_version, &*env.template_minor_version),
        ("1", "1")
    );
}

#[tokio::test]
async fn update_major_version_moves_to_a_higher_major_only() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;

    let refused = update(
        &server,
        "env",
        DeploymentUpdateType::MajorVersion,
        None,
        None,
    )
    .await
    .expect_err("no higher major yet");
    assert!(refused.starts_with("ValidationException"), "{refused}");

    assert_eq!(
        server.publish_gated("tpl", None).await,
        ("2".into(), "0".into())
    );
    let refused = update(
        &server,
        "env",
        DeploymentUpdateType::MajorVersion,
        Some("1"),
        None,
    )
    .await
    .expect_err("MAJOR_VERSION to the same major");
    assert!(refused.starts_with("ValidationException"), "{refused}");

    update(
        &server,
        "env",
        DeploymentUpdateType::MajorVersion,
        None,
        None,
    )
    .await
    .expect("MAJOR_VERSION to the recommended major");
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(
        (&*env.template_major_version, &*env.template_minor_version),
        ("2", "0")
    );
}

#[tokio::test]
async fn changes_during_a_deployment_are_conflicts() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;
    let dir = server.scratch("env");
    let two = GatedSpec::new(&dir).label("two").gated(&dir.join("gate"));
    let updated = server.update_spec("env", &two.spec()).await;
    let id = updated.last_attempted_deployment_id.unwrap();
    wait_for_file(&dir.join("waiting-two")).await;

    let three = GatedSpec::new(&dir).label("three").spec();
    let error = server
        .client()
        .update_environment()
        .name("env")
        .deployment_type(DeploymentUpdateType::CurrentVersion)
        .spec(three)
        .send()
        .await
        .expect_err("an update during a deployment");
    assert_eq!(code(&error), "ConflictException");
    let error = server
        .client()
        .delete_environment()
        .name("env")
        .send()
        .await
        .expect_err("a delete during a deployment");
    assert_eq!(code(&error), "ConflictException");
    let error = server
        .client()
        .delete_deployment()
        .id(&id)
        .send()
        .await
        .expect_err("deleting a running deployment");
    assert_eq!(code(&error), "ConflictException");
    // Metadata can still change.
    server
        .client()
        .update_environment()
        .name("env")
        .deployment_type(DeploymentUpdateType::None)
        .description("still here")
        .send()
        .await
        .expect("UpdateEnvironment NONE during a deployment");

    std::fs::write(dir.join("gate"), "").unwrap();
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.spec.as_deref(), Some(two.spec().as_str()));
    assert_eq!(env.description.as_deref(), Some("still here"));
}

/// protond starts at most two deployments per core at once, but a deployment whose commands
/// run no longer counts: more long deployments than that all run together.
#[tokio::test]
async fn deployments_whose_commands_run_do_not_hold_back_the_next() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Two more than the server's turns (two per core, on this same machine), on any machine.
    let count = 2 * cores + 2;
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let mut dirs = Vec::new();
    for i in 0..count {
        let name = format!("env-{i}");
        let dir = server.scratch(&name);
        let spec = GatedSpec::new(&dir).gated(&dir.join("gate")).spec();
        server.create_environment(&name, "tpl", &spec).await;
        dirs.push((name, dir));
    }
    for (_, dir) in &dirs {
        wait_for_file(&dir.join("waiting-one")).await;
    }
    for (_, dir) in &dirs {
        std::fs::write(dir.join("gate"), "").unwrap();
    }
    for (name, _) in &dirs {
        let env = server.settled(name).await;
        assert_eq!(
            env.deployment_status,
            DeploymentStatus::Succeeded,
            "{env:?}"
        );
    }
}

#[tokio::test]
async fn failed_provisioning_ends_failed_naming_the_command() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let mut spec = GatedSpec::new(&server.scratch("env"));
    spec.fail = true;
    server.create_environment("env", "tpl", &spec.spec()).await;
    let env = server.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed);
    let why = env.deployment_status_message.unwrap_or_default();
    assert!(why.contains("provision command 1"), "{why}");
    assert!(why.contains("exit status 3"), "{why}");
    assert_eq!(env.last_succeeded_deployment_id, None);
}

#[tokio::test]
async fn delete_environment_deprovisions_and_keeps_the_deployment_record() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;
    let deleting = server
        .client()
        .delete_environment()
        .name("env")
        .send()
        .await
        .expect("DeleteEnvironment")
        .environment
        .unwrap();
    assert_eq!(
        deleting.deployment_status,
        DeploymentStatus::DeleteInProgress
    );
    let id = deleting.last_attempted_deployment_id.unwrap();

    let started = std::time::Instant::now();
    while server
        .client()
        .get_environment()
        .name("env")
        .send()
        .await
        .is_ok()
    {
        assert!(started.elapsed() < common::DEADLINE, "env never went");
        tokio::time::sleep(common::POLL).await;
    }
    let d = deployment(&server, &id).await;
    assert_eq!(d.deployment_status, DeploymentStatus::DeleteComplete);
    assert_eq!(d.target_state, None);
    let dir = server.scratch("env");
    assert_eq!(
        lines(&dir.join("history")),
        ["provision one", "deprovision one"]
    );
    assert!(!dir.join("provisioned").exists());
}

#[tokio::test]
async fn notify_from_outside_records_outputs_on_the_running_deployment() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let spec = GatedSpec::new(&dir).gated(&dir.join("gate"));
    let created = server.create_environment("env", "tpl", &spec.spec()).await;
    let id = created.last_attempted_deployment_id.unwrap();
    wait_for_file(&dir.join("waiting-one")).await;

    server
        .client()
        .notify_resource_deployment_status_change()
        .resource_arn(&created.arn)
        .outputs(
            Output::builder()
                .key("FromTest")
                .value_string("yes")
                .build(),
        )
        .send()
        .await
        .expect("NotifyResourceDeploymentStatusChange");
    assert_eq!(
        outputs(&server, "env", Some(&id)).await,
        [pair("FromTest", "yes")]
    );
    // Not succeeded yet: the environment itself has no outputs.
    assert_eq!(outputs(&server, "env", None).await, []);

    std::fs::write(dir.join("gate"), "").unwrap();
    assert_eq!(
        server.settled("env").await.deployment_status,
        DeploymentStatus::Succeeded
    );
    let dir_text = dir.display().to_string();
    let expected = [
        pair("Dir", &dir_text),
        pair("FromTest", "yes"),
        pair("Label", "one"),
    ];
    assert_eq!(outputs(&server, "env", None).await, expected);

    let error = server
        .client()
        .notify_resource_deployment_status_change()
        .resource_arn(&created.arn)
        .outputs(Output::builder().key("Late").value_string("no").build())
        .send()
        .await
        .expect_err("the deployment has ended");
    assert_eq!(code(&error), "ConflictException");
    let error = server
        .client()
        .notify_resource_deployment_status_change()
        .resource_arn("arn:aws:proton:us-east-1:123456789012:environment/nowhere")
        .send()
        .await
        .expect_err("no such environment");
    assert_eq!(code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn outputs_by_deployment_id_are_those_of_that_deployment() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let first = server.deployed_environment("env", "tpl").await;
    let first_id = first.last_succeeded_deployment_id.unwrap();
    let dir = server.scratch("env");
    server
        .update_spec("env", &GatedSpec::new(&dir).label("two").spec())
        .await;
    server.settled("env").await;

    let label = |outputs: Vec<(String, String)>| {
        outputs
            .into_iter()
            .find(|(k, _)| k == "Label")
            .map(|(_, v)| v)
    };
    assert_eq!(
        label(outputs(&server, "env", None).await).as_deref(),
        Some("two")
    );
    assert_eq!(
        label(outputs(&server, "env", Some(&first_id)).await).as_deref(),
        Some("one")
    );
    let error = server
        .client()
        .list_environment_outputs()
        .environment_name("env")
        .deployment_id("0190a4e2-0000-7000-8000-000000000000")
        .send()
        .await
        .expect_err("no such deployment");
    assert_eq!(code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn deployments_list_newest_first_over_several_pages() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let dir = server.scratch("env");
    let mut ids = vec![
        server
            .deployed_environment("env", "tpl")
            .await
            .last_attempted_deployment_id
            .unwrap(),
    ];
    for n in 0..6 {
        let label = format!("n{n}");
        let env = server
            .update_spec("env", &GatedSpec::new(&dir).label(&label).spec())
            .await;
        ids.push(env.last_attempted_deployment_id.unwrap());
        server.settled("env").await;
    }
    ids.reverse();

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = server
            .client()
            .list_deployments()
            .environment_name("env")
            .max_results(3)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("ListDeployments");
        pages += 1;
        assert!(page.deployments.len() <= 3);
        seen.extend(page.deployments.into_iter().map(|d| d.id));
        token = page.next_token;
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every deployment once, newest first");

    let streamed: Vec<String> = server
        .client()
        .list_deployments()
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("the paginator")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(streamed, ids);

    // A finished deployment record can be deleted.
    let oldest = ids.last().unwrap();
    server
        .client()
        .delete_deployment()
        .id(oldest)
        .send()
        .await
        .expect("DeleteDeployment");
    let error = server
        .client()
        .get_deployment()
        .id(oldest)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn list_environments_filters_by_template_and_paginates() {
    let server = Protond::start();
    server.publish_gated("alpha", None).await;
    server.publish_gated("beta", None).await;
    for name in ["a1", "a2", "a3", "a4"] {
        let spec = GatedSpec::new(&server.scratch(name)).spec();
        server.create_environment(name, "alpha", &spec).await;
    }
    let spec = GatedSpec::new(&server.scratch("b1")).spec();
    server.create_environment("b1", "beta", &spec).await;
    for name in ["a1", "a2", "a3", "a4", "b1"] {
        server.settled(name).await;
    }

    let filter = EnvironmentTemplateFilter::builder()
        .template_name("beta")
        .major_version("1")
        .build()
        .unwrap();
    let beta = server
        .client()
        .list_environments()
        .environment_templates(filter)
        .send()
        .await
        .unwrap();
    let names: Vec<&str> = beta.environments.iter().map(|e| &*e.name).collect();
    assert_eq!(names, ["b1"]);

    let filter = EnvironmentTemplateFilter::builder()
        .template_name("alpha")
        .major_version("1")
        .build()
        .unwrap();
    let mut alpha: Vec<String> = server
        .client()
        .list_environments()
        .environment_templates(filter)
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("the paginator")
        .into_iter()
        .map(|e| e.name)
        .collect();
    alpha.sort();
    assert_eq!(alpha, ["a1", "a2", "a3", "a4"]);
}

#[tokio::test]
async fn waiter_returns_once_the_environment_is_deployed_or_failed() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let spec = GatedSpec::new(&server.scratch("good")).spec();
    server.create_environment("good", "tpl", &spec).await;
    let mut bad = GatedSpec::new(&server.scratch("bad"));
    bad.fail = true;
    server.create_environment("bad", "tpl", &bad.spec()).await;

    let deployed = server
        .client()
        .wait_until_environment_deployed()
        .name("good")
        .wait(Duration::from_secs(60))
        .await
        .expect("the waiter succeeds");
    let env = deployed.into_result().unwrap().environment.unwrap();
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);

    let failed = server
        .client()
        .wait_until_environment_deployed()
        .name("bad")
        .wait(Duration::from_secs(60))
        .await
        .expect_err("the waiter sees FAILED");
    assert!(format!("{failed:?}").contains("FailureState"), "{failed:?}");
}

#[tokio::test]
async fn environment_tags_can_be_added_listed_and_removed() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let env = server.deployed_environment("env", "tpl").await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();

    server
        .client()
        .tag_resource()
        .resource_arn(&env.arn)
        .tags(tag("team", "core"))
        .tags(tag("stage", "test"))
        .send()
        .await
        .expect("TagResource");
    server
        .client()
        .untag_resource()
        .resource_arn(&env.arn)
        .tag_keys("stage")
        .send()
        .await
        .expect("UntagResource");
    let tags = server
        .client()
        .list_tags_for_resource()
        .resource_arn(&env.arn)
        .send()
        .await
        .expect("ListTagsForResource")
        .tags;
    assert_eq!(tags, [tag("team", "core")]);

    let error = server
        .client()
        .list_tags_for_resource()
        .resource_arn("arn:aws:proton:us-east-1:123456789012:environment/nowhere")
        .send()
        .await
        .expect_err("no such environment");
    assert_eq!(code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn version_being_deployed_cannot_be_deleted() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;
    server.publish_gated("tpl", Some("1")).await;
    let dir = server.scratch("env");
    let gated = GatedSpec::new(&dir).label("two").gated(&dir.join("gate"));
    server
        .client()
        .update_environment()
        .name("env")
        .deployment_type(DeploymentUpdateType::MinorVersion)
        .template_minor_version("1")
        .spec(gated.spec())
        .send()
        .await
        .expect("UpdateEnvironment MINOR_VERSION");
    wait_for_file(&dir.join("waiting-two")).await;

    let deleted = server
        .client()
        .delete_environment_template_version()
        .template_name("tpl")
        .major_version("1")
        .minor_version("1")
        .send()
        .await;
    std::fs::write(dir.join("gate"), "").unwrap();
    let env = server.settled("env").await;
    let error = deleted.expect_err("the deployment in flight targets 1.1");
    assert_eq!(code(&error), "ConflictException");
    assert_eq!(env.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(env.template_minor_version, "1");
}

#[tokio::test]
async fn deleting_the_shown_deployment_keeps_the_environment_outputs_readable() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let env = server.deployed_environment("env", "tpl").await;
    let shown = env.last_succeeded_deployment_id.unwrap();
    // Either answer keeps the environment whole: refusing to delete the deployment the
    // environment shows, or deleting the record while the outputs stay readable.
    let deleted = server.client().delete_deployment().id(&shown).send().await;
    if let Err(error) = &deleted {
        assert_eq!(code(error), "ConflictException", "{error:?}");
    }
    let outputs = server
        .client()
        .list_environment_outputs()
        .environment_name("env")
        .send()
        .await
        .expect("ListEnvironmentOutputs of an environment whose deployment record is gone");
    let label = outputs
        .outputs
        .iter()
        .find(|o| o.key.as_deref() == Some("Label"));
    assert_eq!(label.and_then(|o| o.value_string.as_deref()), Some("one"));
}

#[tokio::test]
async fn example_local_env_deploys_and_reports_its_outputs() {
    let server = Protond::start();
    server.create_template("local").await;
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/local-env");
    let v = server
        .register("local", None, &example, "local/v1.tar.gz")
        .await;
    assert_eq!(
        v.status,
        aws_sdk_proton::types::TemplateVersionStatus::Draft,
        "{v:?}"
    );
    server.publish("local", "1", "0").await;
    let spec = std::fs::read_to_string(example.join("spec.yaml")).unwrap();
    server.create_environment("demo", "local", &spec).await;
    let env = server.settled("demo").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Succeeded,
        "{env:?}"
    );

    let found = outputs(&server, "demo", None).await;
    let home = common::example_root_of(&server).join("demo");
    assert!(found.contains(&pair("EnvironmentHome", &home.display().to_string())));
    assert!(found.contains(&pair("Greeting", "hello")));
    assert!(found.contains(&pair("Workers", "2")));
    // With the AWS CLI on the commands' PATH, provision.sh also reports through notify.
    let heartbeat = std::fs::read_to_string(home.join("heartbeat.pid")).unwrap();
    if found.iter().any(|(k, _)| k == "HeartbeatPid") {
        assert!(found.contains(&pair("HeartbeatPid", heartbeat.trim())));
    } else {
        eprintln!("note: no AWS CLI on PATH, so the notify outputs were not checked");
    }

    server
        .client()
        .delete_environment()
        .name("demo")
        .send()
        .await
        .expect("DeleteEnvironment");
    let started = std::time::Instant::now();
    while server
        .client()
        .get_environment()
        .name("demo")
        .send()
        .await
        .is_ok()
    {
        assert!(started.elapsed() < common::DEADLINE, "demo never went");
        tokio::time::sleep(common::POLL).await;
    }
    assert!(
        !home.exists(),
        "deprovision removes the environment's folder"
    );
}
