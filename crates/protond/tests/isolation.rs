//! Accounts and regions: every call one caller makes on another's names and ARNs is answered as
//! if the resource did not exist, and the owner's resources are unchanged afterwards. And the
//! credentials a deployment's commands get reach only that deployment, never the operator's
//! keys.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use std::fmt::Debug;

use aws_sdk_proton::Client;
use aws_sdk_proton::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_proton::types::{
    DeploymentStatus, DeploymentUpdateType, Output, Tag, TemplateVersionStatus,
};
use common::{GatedSpec, Protond, fixture, unique, wait_for_file};

/// The harness's own client signs with AKIDTEST; here it acts in account A.
const A_ACCOUNT: &str = "111111111111";
const B_KEY: &str = "AKIDBRAVO";
const B_SECRET: &str = "bravo-secret-Lk3pR8vW";
const B_ACCOUNT: &str = "222222222222";

fn two_accounts() -> String {
    format!(
        "[[access_keys]]\n\
         access_key_id = \"AKIDTEST\"\n\
         secret_access_key = \"secret\"\n\
         account_id = \"{A_ACCOUNT}\"\n\
         \n\
         [[access_keys]]\n\
         access_key_id = \"{B_KEY}\"\n\
         secret_access_key = \"{B_SECRET}\"\n\
         account_id = \"{B_ACCOUNT}\"\n"
    )
}

/// What the owner made: a published template version, a deployed environment, and an
/// environment whose deployment waits at a gate.
struct Owned {
    template: String,
    template_arn: String,
    version_arn: String,
    env: String,
    env_arn: String,
    deployment: String,
    gated: String,
    gated_arn: String,
    gated_deployment: String,
    gate: std::path::PathBuf,
}

async fn set_up(server: &Protond) -> Owned {
    let client = server.client();
    let template = "owned".to_owned();
    server.publish_gated(&template, None).await;
    client
        .update_environment_template()
        .name(&template)
        .description("the owner's")
        .send()
        .await
        .unwrap();
    let env = server.deployed_environment("owned-env", &template).await;
    let dir = server.scratch("owned-gated");
    let gate = dir.join("gate");
    let spec = GatedSpec::new(&dir).gated(&gate).spec();
    let gated = server
        .create_environment("owned-gated", &template, &spec)
        .await;
    wait_for_file(&dir.join("waiting-one")).await;

    let template_arn = client
        .get_environment_template()
        .name(&template)
        .send()
        .await
        .unwrap()
        .environment_template
        .unwrap()
        .arn;
    let version_arn = client
        .get_environment_template_version()
        .template_name(&template)
        .major_version("1")
        .minor_version("0")
        .send()
        .await
        .unwrap()
        .environment_template_version
        .unwrap()
        .arn;
    for arn in [&template_arn, &version_arn, &env.arn] {
        client
            .tag_resource()
            .resource_arn(arn)
            .tags(Tag::builder().key("owner").value("a").build().unwrap())
            .send()
            .await
            .unwrap();
    }
    Owned {
        template,
        template_arn,
        version_arn,
        env: env.name,
        env_arn: env.arn,
        deployment: env.last_attempted_deployment_id.unwrap(),
        gated: gated.name,
        gated_arn: gated.arn,
        gated_deployment: gated.last_attempted_deployment_id.unwrap(),
        gate,
    }
}

/// Everything the owner can observe of what it made.
async fn observe(client: &Client, o: &Owned) -> String {
    let template = client
        .get_environment_template()
        .name(&o.template)
        .send()
        .await
        .unwrap()
        .environment_template;
    let version = client
        .get_environment_template_version()
        .template_name(&o.template)
        .major_version("1")
        .minor_version("0")
        .send()
        .await
        .unwrap()
        .environment_template_version
        .unwrap();
    assert_eq!(version.status, TemplateVersionStatus::Published);
    let env = client
        .get_environment()
        .name(&o.env)
        .send()
        .await
        .unwrap()
        .environment;
    let gated = client
        .get_environment()
        .name(&o.gated)
        .send()
        .await
        .unwrap()
        .environment
        .unwrap();
    assert_eq!(gated.deployment_status, DeploymentStatus::InProgress);
    let outputs = client
        .list_environment_outputs()
        .environment_name(&o.env)
        .send()
        .await
        .unwrap()
        .outputs;
    let mut tags = Vec::new();
    for arn in [&o.template_arn, &o.version_arn, &o.env_arn] {
        let listed = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .unwrap();
        tags.push(listed.tags);
    }
    let deployments = client.list_deployments().send().await.unwrap().deployments;
    for id in [&o.deployment, &o.gated_deployment] {
        client.get_deployment().id(id).send().await.unwrap();
    }
    format!(
        "{template:?}\n{:?} {:?}\n{env:?}\n{:?} {:?} {:?}\n{outputs:?}\n{tags:?}\n{}",
        version.status,
        version.last_modified_at,
        gated.deployment_status,
        gated.last_attempted_deployment_id,
        gated.spec,
        deployments.len()
    )
}

/// The call failed with ResourceNotFoundException.
fn not_found<T: Debug, E: ProvideErrorMetadata + Debug, R: Debug>(
    what: &str,
    result: Result<T, SdkError<E, R>>,
) {
    match result {
        Ok(answer) => panic!("{what} reached another's resource: {answer:?}"),
        Err(error) => {
            assert_eq!(
                error.code(),
                Some("ResourceNotFoundException"),
                "{what}: {error:?}"
            );
        }
    }
}

/// Every call `intruder` can make on the owner's names and ARNs.
async fn intrude(intruder: &Client, o: &Owned) {
    let c = intruder;
    let t = o.template.as_str();
    not_found(
        "GetEnvironmentTemplate",
        c.get_environment_template().name(t).send().await,
    );
    not_found(
        "UpdateEnvironmentTemplate",
        c.update_environment_template()
            .name(t)
            .description("intruder's")
            .send()
            .await,
    );
    not_found(
        "GetEnvironmentTemplateVersion",
        c.get_environment_template_version()
            .template_name(t)
            .major_version("1")
            .minor_version("0")
            .send()
            .await,
    );
    not_found(
        "UpdateEnvironmentTemplateVersion",
        c.update_environment_template_version()
            .template_name(t)
            .major_version("1")
            .minor_version("0")
            .status(TemplateVersionStatus::Draft)
            .send()
            .await,
    );
    match c
        .list_environment_template_versions()
        .template_name(t)
        .send()
        .await
    {
        Ok(listed) => assert!(listed.template_versions.is_empty(), "{listed:?}"),
        Err(e) => not_found::<(), _, _>("ListEnvironmentTemplateVersions", Err(e)),
    }
    let source = aws_sdk_proton::types::S3ObjectSource::builder()
        .bucket(common::BUCKET)
        .key("anything.tar.gz")
        .build()
        .unwrap();
    not_found(
        "CreateEnvironmentTemplateVersion",
        c.create_environment_template_version()
            .template_name(t)
            .source(aws_sdk_proton::types::TemplateVersionSourceInput::S3(
                source,
            ))
            .send()
            .await,
    );
    not_found(
        "CreateEnvironment from another's template",
        c.create_environment()
            .name(format!("intruder-{}", unique()))
            .template_name(t)
            .template_major_version("1")
            .spec("proton: EnvironmentSpec\nspec:\n  dir: /nonexistent\n")
            .send()
            .await,
    );
    let templates = c.list_environment_templates().send().await.unwrap();
    assert!(
        templates.templates.iter().all(|x| x.name != o.template),
        "{templates:?}"
    );

    for env in [&o.env, &o.gated] {
        not_found("GetEnvironment", c.get_environment().name(env).send().await);
        not_found(
            "UpdateEnvironment NONE",
            c.update_environment()
                .name(env)
                .deployment_type(DeploymentUpdateType::None)
                .description("intruder's")
                .send()
                .await,
        );
        not_found(
            "UpdateEnvironment CURRENT_VERSION",
            c.update_environment()
                .name(env)
                .deployment_type(DeploymentUpdateType::CurrentVersion)
                .spec("proton: EnvironmentSpec\nspec:\n  dir: /nonexistent\n")
                .send()
                .await,
        );
        not_found(
            "CancelEnvironmentDeployment",
            c.cancel_environment_deployment()
                .environment_name(env)
                .send()
                .await,
        );
        not_found(
            "ListEnvironmentOutputs",
            c.list_environment_outputs()
                .environment_name(env)
                .send()
                .await,
        );
        not_found(
            "ListEnvironmentProvisionedResources",
            c.list_environment_provisioned_resources()
                .environment_name(env)
                .send()
                .await,
        );
        match c.list_deployments().environment_name(env).send().await {
            Ok(listed) => assert!(listed.deployments.is_empty(), "{listed:?}"),
            Err(e) => not_found::<(), _, _>("ListDeployments of an environment", Err(e)),
        }
        match c.delete_environment().name(env).send().await {
            Ok(answer) => assert!(answer.environment.is_none(), "{answer:?}"),
            Err(e) => not_found::<(), _, _>("DeleteEnvironment", Err(e)),
        }
    }
    let envs = c.list_environments().send().await.unwrap();
    assert!(
        envs.environments
            .iter()
            .all(|e| e.name != o.env && e.name != o.gated),
        "{envs:?}"
    );

    for id in [&o.deployment, &o.gated_deployment] {
        not_found("GetDeployment", c.get_deployment().id(id).send().await);
        not_found(
            "GetDeployment with the environment",
            c.get_deployment()
                .id(id)
                .environment_name(&o.env)
                .send()
                .await,
        );
        not_found(
            "DeleteDeployment",
            c.delete_deployment().id(id).send().await,
        );
    }
    let deployments = c.list_deployments().send().await.unwrap();
    assert!(
        deployments
            .deployments
            .iter()
            .all(|d| d.id != o.deployment && d.id != o.gated_deployment),
        "{deployments:?}"
    );

    for (arn, deployment) in [
        (&o.env_arn, &o.deployment),
        (&o.gated_arn, &o.gated_deployment),
    ] {
        let output = Output::builder()
            .key("Intruder")
            .value_string("yes")
            .build();
        not_found(
            "NotifyResourceDeploymentStatusChange",
            c.notify_resource_deployment_status_change()
                .resource_arn(arn)
                .outputs(output.clone())
                .send()
                .await,
        );
        not_found(
            "NotifyResourceDeploymentStatusChange with a deployment id",
            c.notify_resource_deployment_status_change()
                .resource_arn(arn)
                .deployment_id(deployment)
                .outputs(output)
                .send()
                .await,
        );
    }

    for arn in [&o.template_arn, &o.version_arn, &o.env_arn, &o.gated_arn] {
        not_found(
            "TagResource",
            c.tag_resource()
                .resource_arn(arn)
                .tags(Tag::builder().key("owner").value("b").build().unwrap())
                .send()
                .await,
        );
        not_found(
            "UntagResource",
            c.untag_resource()
                .resource_arn(arn)
                .tag_keys("owner")
                .send()
                .await,
        );
        not_found(
            "ListTagsForResource",
            c.list_tags_for_resource().resource_arn(arn).send().await,
        );
    }

    // Deletes of templates and versions that do not exist succeed with an empty answer
    // (docs/decisions.md); either that or ResourceNotFoundException, and nothing deleted.
    match c
        .delete_environment_template_version()
        .template_name(t)
        .major_version("1")
        .minor_version("0")
        .send()
        .await
    {
        Ok(answer) => assert!(answer.environment_template_version.is_none(), "{answer:?}"),
        Err(e) => not_found::<(), _, _>("DeleteEnvironmentTemplateVersion", Err(e)),
    }
    match c.delete_environment_template().name(t).send().await {
        Ok(answer) => assert!(answer.environment_template.is_none(), "{answer:?}"),
        Err(e) => not_found::<(), _, _>("DeleteEnvironmentTemplate", Err(e)),
    }
}

/// Opens the gate and checks that the gated deployment ends as if nobody had intruded.
async fn finish(server: &Protond, o: &Owned) {
    std::fs::write(&o.gate, "").unwrap();
    let gated = server.settled(&o.gated).await;
    assert_eq!(gated.deployment_status, DeploymentStatus::Succeeded);
    let outputs = server
        .client()
        .list_environment_outputs()
        .environment_name(&o.env)
        .send()
        .await
        .unwrap()
        .outputs;
    assert!(outputs.iter().all(|x| x.key.as_deref() != Some("Intruder")));
}

#[tokio::test]
async fn another_account_sees_changes_and_cancels_nothing_of_an_account() {
    let server = Protond::start_with(&two_accounts());
    let owned = set_up(&server).await;
    assert!(
        owned.env_arn.contains(&format!(":{A_ACCOUNT}:")),
        "{}",
        owned.env_arn
    );
    let before = observe(server.client(), &owned).await;

    let b = server.client_with(B_KEY, B_SECRET, None, "us-east-1");
    intrude(&b, &owned).await;
    assert_eq!(observe(server.client(), &owned).await, before);

    // B's own resources under the same names are B's alone.
    b.create_environment_template()
        .name(&owned.template)
        .description("b's")
        .send()
        .await
        .expect("B may use the same name");
    let b_template = b
        .get_environment_template()
        .name(&owned.template)
        .send()
        .await
        .unwrap()
        .environment_template
        .unwrap();
    assert!(
        b_template.arn.contains(&format!(":{B_ACCOUNT}:")),
        "{b_template:?}"
    );
    assert_eq!(observe(server.client(), &owned).await, before);
    // And A cannot reach B's template by its ARN.
    not_found(
        "ListTagsForResource on B's template from A",
        server
            .client()
            .list_tags_for_resource()
            .resource_arn(&b_template.arn)
            .send()
            .await,
    );
    finish(&server, &owned).await;
}

#[tokio::test]
async fn the_same_account_in_another_region_sees_changes_and_cancels_nothing() {
    let server = Protond::start_with(&two_accounts());
    let owned = set_up(&server).await;
    assert!(owned.env_arn.contains(":us-east-1:"), "{}", owned.env_arn);
    let before = observe(server.client(), &owned).await;

    let elsewhere = server.client_with("AKIDTEST", "secret", None, "eu-west-1");
    intrude(&elsewhere, &owned).await;
    assert_eq!(observe(server.client(), &owned).await, before);
    finish(&server, &owned).await;
}

/// The operator's own credentials, in the server's environment.
const OPERATOR: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "AKIDOPERATOR"),
    ("AWS_SECRET_ACCESS_KEY", "operator-secret-Tf9yD2"),
    ("AWS_SESSION_TOKEN", "operator-session-Wb6nQ1"),
    ("AWS_SECURITY_TOKEN", "operator-security-Rx3mK7"),
    ("AWS_PROFILE", "operator-profile"),
    (
        "AWS_ROLE_ARN",
        "arn:aws:iam::999999999999:role/operator-role",
    ),
    (
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "/nonexistent/operator-token-file",
    ),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://127.0.0.1:9/operator-creds",
    ),
];

const PROBE_SECRET: &str = "probe-account-secret-Hs5vC4";

/// A server started with the operator's credentials in its environment, where an environment
/// of the bundle `deployment-probe` ran; the probe's results and what the test needs to judge
/// them.
struct Probe {
    server: Protond,
    results: serde_json::Value,
    text: String,
    own_deployment: String,
    other: aws_sdk_proton::types::Environment,
}

impl Probe {
    /// The status and error type of one of the probe's calls.
    fn answer(&self, name: &str) -> (u64, String) {
        let r = &self.results[name];
        (
            r["status"].as_u64().unwrap_or(0),
            r["type"].as_str().unwrap_or("").to_owned(),
        )
    }
}

async fn run_probe() -> Probe {
    let keys = format!(
        "[[access_keys]]\n\
         access_key_id = \"AKIDPROBE\"\n\
         secret_access_key = \"{PROBE_SECRET}\"\n\
         account_id = \"{A_ACCOUNT}\"\n"
    );
    let mut server = Protond::start_with_env(&keys, OPERATOR);
    server.use_client(server.client_with("AKIDPROBE", PROBE_SECRET, None, "us-east-1"));

    let other = {
        server.publish_gated("other", None).await;
        server.deployed_environment("other-env", "other").await
    };
    server.create_template("probe").await;
    let v = server
        .register("probe", None, &fixture("deployment-probe"), "probe.tar.gz")
        .await;
    assert_eq!(v.status, TemplateVersionStatus::Draft, "{v:?}");
    server.publish("probe", "1", "0").await;
    let dir = server.scratch("probe");
    let spec = format!(
        "proton: EnvironmentSpec\nspec:\n  dir: \"{}\"\n  other_name: \"{}\"\n  \
         other_arn: \"{}\"\n  other_deployment: \"{}\"\n",
        dir.display(),
        other.name,
        other.arn,
        other.last_attempted_deployment_id.clone().unwrap()
    );
    server.create_environment("probe-env", "probe", &spec).await;
    let probe = server.settled("probe-env").await;
    assert_eq!(
        probe.deployment_status,
        DeploymentStatus::Succeeded,
        "{probe:?}"
    );

    let results_file = dir.join("results.json");
    let text = std::fs::read_to_string(results_file).expect("the probe's results");
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    Probe {
        server,
        results,
        text,
        own_deployment: probe.last_attempted_deployment_id.unwrap(),
        other,
    }
}

#[tokio::test]
async fn deployment_credentials_reach_only_their_own_deployment() {
    let p = run_probe().await;
    let (server, results, text, other) = (&p.server, &p.results, &p.text, &p.other);
    let answer = |name: &str| p.answer(name);
    assert_eq!(answer("notify_own"), (200, String::new()), "{text}");
    assert_eq!(answer("get_own"), (200, String::new()), "{text}");
    for refused in [
        "notify_other",
        "notify_other_by_id",
        "get_other",
        "list_environments",
        "create_environment",
        "delete_other",
    ] {
        assert_eq!(
            answer(refused),
            (403, "AccessDeniedException".into()),
            "{refused}: {text}"
        );
    }
    let (status, kind) = answer("forged_key");
    assert_eq!(status, 403, "{text}");
    assert_eq!(kind, "InvalidSignatureException", "{text}");

    // The report reached the deployment, and nothing reached the other environment.
    let outputs = server
        .client()
        .list_environment_outputs()
        .environment_name("probe-env")
        .send()
        .await
        .unwrap()
        .outputs;
    assert!(
        outputs
            .iter()
            .any(|o| o.key.as_deref() == Some("Probe")
                && o.value_string.as_deref() == Some("reported")),
        "{outputs:?}"
    );
    let other_now = server.environment("other-env").await;
    assert_eq!(other_now.deployment_status, DeploymentStatus::Succeeded);
    assert_eq!(
        other_now.last_attempted_deployment_id,
        other.last_attempted_deployment_id
    );

    // The commands saw their own key and none of the operator's.
    let env = &results["environment"];
    let key = env["AWS_ACCESS_KEY_ID"].as_str().unwrap_or_default();
    let own = format!(
        "PROTOND-DEPLOYMENT.{A_ACCOUNT}.us-east-1.{}",
        p.own_deployment
    );
    assert_eq!(key, own, "{text}");
    for (name, _) in OPERATOR.iter().filter(|(n, _)| *n != "AWS_ACCESS_KEY_ID") {
        if *name == "AWS_SECRET_ACCESS_KEY" {
            continue;
        }
        assert!(env.get(*name).is_none(), "{name} was inherited: {text}");
    }
    let values: Vec<&str> = results["all_values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for (_, secret) in OPERATOR {
        assert!(
            values.iter().all(|v| !v.contains(secret)),
            "{secret} reached the commands: {text}"
        );
    }
    assert!(values.iter().all(|v| !v.contains(PROBE_SECRET)), "{text}");
    assert_eq!(env["AWS_SHARED_CREDENTIALS_FILE"], "/dev/null", "{text}");
    assert!(!server.log().contains(PROBE_SECRET));
}

#[tokio::test]
async fn deployment_credentials_cannot_read_another_deployment() {
    let p = run_probe().await;
    assert_eq!(
        p.answer("get_other_deployment"),
        (403, "AccessDeniedException".to_owned()),
        "{}",
        p.text
    );
}
