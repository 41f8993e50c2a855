//! Environment templates and their versions end to end: Create, Get, List, Update, Delete;
//! registration from the local bundle store (DRAFT, REGISTRATION_FAILED), publishing and
//! recommended versions, client tokens, tags, pagination, and the public bundles.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use aws_sdk_proton::types::{
    S3ObjectSource, Tag, TemplateVersionSourceInput, TemplateVersionStatus,
};
use common::{BUCKET, Protond, code, fixture, message, real_bundles};

#[tokio::test]
async fn templates_can_be_created_read_listed_updated_and_deleted() {
    let server = Protond::start();
    let created = server
        .client()
        .create_environment_template()
        .name("tpl")
        .display_name("Template")
        .description("first")
        .send()
        .await
        .expect("CreateEnvironmentTemplate")
        .environment_template
        .unwrap();
    assert_eq!(
        created.arn,
        "arn:aws:proton:us-east-1:123456789012:environment-template/tpl"
    );
    assert_eq!(created.recommended_version, None);

    let updated = server
        .client()
        .update_environment_template()
        .name("tpl")
        .description("second")
        .send()
        .await
        .expect("UpdateEnvironmentTemplate")
        .environment_template
        .unwrap();
    assert_eq!(updated.description.as_deref(), Some("second"));
    assert_eq!(updated.display_name.as_deref(), Some("Template"));
    let read = server
        .client()
        .get_environment_template()
        .name("tpl")
        .send()
        .await
        .expect("GetEnvironmentTemplate")
        .environment_template
        .unwrap();
    assert_eq!(read.description.as_deref(), Some("second"));
    let listed = server
        .client()
        .list_environment_templates()
        .send()
        .await
        .unwrap();
    assert_eq!(listed.templates.len(), 1);
    assert_eq!(listed.templates[0].name, "tpl");

    server
        .client()
        .delete_environment_template()
        .name("tpl")
        .send()
        .await
        .expect("DeleteEnvironmentTemplate");
    let error = server
        .client()
        .get_environment_template()
        .name("tpl")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&error), "ResourceNotFoundException");
    assert!(message(&error).contains("tpl"), "{error:?}");
}

#[tokio::test]
async fn deleting_what_does_not_exist_succeeds_empty() {
    let server = Protond::start();
    let template = server
        .client()
        .delete_environment_template()
        .name("nowhere")
        .send()
        .await
        .expect("DeleteEnvironmentTemplate of a missing template");
    assert_eq!(template.environment_template, None);
    server.create_template("tpl").await;
    let version = server
        .client()
        .delete_environment_template_version()
        .template_name("tpl")
        .major_version("1")
        .minor_version("0")
        .send()
        .await
        .expect("DeleteEnvironmentTemplateVersion of a missing version");
    assert_eq!(version.environment_template_version, None);
}

#[tokio::test]
async fn same_create_template_again_returns_it_and_a_different_one_is_refused() {
    let server = Protond::start();
    let create = |description: &'static str| {
        server
            .client()
            .create_environment_template()
            .name("tpl")
            .description(description)
            .send()
    };
    let first = create("one").await.unwrap().environment_template.unwrap();
    let again = create("one").await.expect("the same request again");
    assert_eq!(again.environment_template.unwrap().arn, first.arn);
    let error = create("two").await.expect_err("another description");
    assert_eq!(code(&error), "ValidationException", "{error:?}");
    assert!(
        message(&error).starts_with("IdempotentParameterMismatch"),
        "{error:?}"
    );
}

#[tokio::test]
async fn template_with_versions_cannot_be_deleted() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let error = server
        .client()
        .delete_environment_template()
        .name("tpl")
        .send()
        .await
        .expect_err("it has versions");
    assert_eq!(code(&error), "ConflictException");
}

#[tokio::test]
async fn registration_ends_draft_and_publishing_makes_the_recommended_version() {
    let server = Protond::start();
    server.create_template("tpl").await;
    server.push_bundle(&fixture("gated"), "tpl/v1.tar.gz");
    let started = server.start_version("tpl", None, "tpl/v1.tar.gz").await;
    assert!(
        matches!(
            started.status,
            TemplateVersionStatus::RegistrationInProgress | TemplateVersionStatus::Draft
        ),
        "{started:?}"
    );
    assert_eq!(
        (&*started.major_version, &*started.minor_version),
        ("1", "0")
    );
    let v = server.registered("tpl", "1", "0").await;
    assert_eq!(v.status, TemplateVersionStatus::Draft);
    assert!(v.schema.unwrap_or_default().contains("GatedInput"));
    assert_eq!(
        v.arn,
        "arn:aws:proton:us-east-1:123456789012:environment-template/tpl:1.0"
    );

    server.publish("tpl", "1", "0").await;
    let v = server.registered("tpl", "1", "0").await;
    assert_eq!(v.status, TemplateVersionStatus::Published);
    assert_eq!(v.recommended_minor_version.as_deref(), Some("0"));
    let template = server
        .client()
        .get_environment_template()
        .name("tpl")
        .send()
        .await
        .unwrap()
        .environment_template
        .unwrap();
    assert_eq!(template.recommended_version.as_deref(), Some("1.0"));

    // A new minor, once published, becomes the recommended one; a new major is 2.0.
    let minor = server
        .register("tpl", Some("1"), &fixture("gated"), "tpl/v1.1.tar.gz")
        .await;
    assert_eq!((&*minor.major_version, &*minor.minor_version), ("1", "1"));
    server.publish("tpl", "1", "1").await;
    let major = server
        .register("tpl", None, &fixture("gated"), "tpl/v2.tar.gz")
        .await;
    assert_eq!((&*major.major_version, &*major.minor_version), ("2", "0"));
    assert_eq!(major.status, TemplateVersionStatus::Draft);
    let v10 = server.registered("tpl", "1", "0").await;
    assert_eq!(v10.recommended_minor_version.as_deref(), Some("1"));
    let template = server
        .client()
        .get_environment_template()
        .name("tpl")
        .send()
        .await
        .unwrap()
        .environment_template
        .unwrap();
    assert_eq!(template.recommended_version.as_deref(), Some("1.1"));

    let versions = server
        .client()
        .list_environment_template_versions()
        .template_name("tpl")
        .major_version("1")
        .send()
        .await
        .expect("ListEnvironmentTemplateVersions")
        .template_versions;
    let numbers: Vec<&str> = versions.iter().map(|v| &*v.minor_version).collect();
    assert_eq!(numbers, ["0", "1"]);

    // A draft version can be described and deleted.
    let described = server
        .client()
        .update_environment_template_version()
        .template_name("tpl")
        .major_version("2")
        .minor_version("0")
        .description("next")
        .send()
        .await
        .expect("UpdateEnvironmentTemplateVersion")
        .environment_template_version
        .unwrap();
    assert_eq!(described.description.as_deref(), Some("next"));
    assert_eq!(described.status, TemplateVersionStatus::Draft);
    server
        .client()
        .delete_environment_template_version()
        .template_name("tpl")
        .major_version("2")
        .minor_version("0")
        .send()
        .await
        .expect("DeleteEnvironmentTemplateVersion");
    let error = server
        .client()
        .get_environment_template_version()
        .template_name("tpl")
        .major_version("2")
        .minor_version("0")
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&error), "ResourceNotFoundException");
}

#[tokio::test]
async fn broken_bundle_registration_fails_with_the_reason() {
    let server = Protond::start();
    server.create_template("tpl").await;
    let v = server
        .register(
            "tpl",
            None,
            &fixture("broken-manifest"),
            "tpl/broken.tar.gz",
        )
        .await;
    assert_eq!(v.status, TemplateVersionStatus::RegistrationFailed);
    let why = v.status_message.unwrap_or_default();
    assert!(why.contains("rendering_engine"), "{why}");

    let error = server
        .client()
        .update_environment_template_version()
        .template_name("tpl")
        .major_version("1")
        .minor_version("0")
        .status(TemplateVersionStatus::Published)
        .send()
        .await
        .expect_err("a failed registration cannot be published");
    assert_eq!(code(&error), "ValidationException");
}

#[tokio::test]
async fn registration_of_a_missing_object_fails_naming_it() {
    let server = Protond::start();
    server.create_template("tpl").await;
    let v = server
        .start_version("tpl", None, "nowhere/bundle.tar.gz")
        .await;
    let v = server
        .registered("tpl", &v.major_version, &v.minor_version)
        .await;
    assert_eq!(v.status, TemplateVersionStatus::RegistrationFailed);
    let why = v.status_message.unwrap_or_default();
    assert!(why.contains("nowhere/bundle.tar.gz"), "{why}");
}

#[tokio::test]
async fn version_in_use_cannot_be_deleted() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    server.deployed_environment("env", "tpl").await;
    let error = server
        .client()
        .delete_environment_template_version()
        .template_name("tpl")
        .major_version("1")
        .minor_version("0")
        .send()
        .await
        .expect_err("an environment uses it");
    assert_eq!(code(&error), "ConflictException");
    assert!(message(&error).contains("env"), "{error:?}");
}

#[tokio::test]
async fn client_token_retry_returns_the_same_version() {
    let server = Protond::start();
    server.create_template("tpl").await;
    server.push_bundle(&fixture("gated"), "tpl/v.tar.gz");
    let create = || {
        let source = S3ObjectSource::builder()
            .bucket(BUCKET)
            .key("tpl/v.tar.gz")
            .build()
            .unwrap();
        server
            .client()
            .create_environment_template_version()
            .template_name("tpl")
            .client_token("token-1")
            .source(TemplateVersionSourceInput::S3(source))
            .send()
    };
    let first = create()
        .await
        .unwrap()
        .environment_template_version
        .unwrap();
    let again = create()
        .await
        .unwrap()
        .environment_template_version
        .unwrap();
    assert_eq!(again.arn, first.arn);
    let versions = server
        .client()
        .list_environment_template_versions()
        .template_name("tpl")
        .send()
        .await
        .unwrap()
        .template_versions;
    assert_eq!(versions.len(), 1, "the retry made no second version");
}

#[tokio::test]
async fn templates_list_over_several_pages_each_once() {
    let server = Protond::start();
    let mut names: Vec<String> = (0..7).map(|n| format!("tpl-{n}")).collect();
    for name in &names {
        server.create_template(name).await;
    }
    names.sort();

    let mut seen = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = server
            .client()
            .list_environment_templates()
            .max_results(3)
            .set_next_token(token)
            .send()
            .await
            .expect("ListEnvironmentTemplates");
        pages += 1;
        assert!(page.templates.len() <= 3);
        seen.extend(page.templates.into_iter().map(|t| t.name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
        assert!(pages < 10, "the pages never end");
    }
    assert_eq!(pages, 3);
    seen.sort();
    assert_eq!(seen, names);

    let mut streamed: Vec<String> = server
        .client()
        .list_environment_templates()
        .max_results(3)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("the paginator")
        .into_iter()
        .map(|t| t.name)
        .collect();
    streamed.sort();
    assert_eq!(streamed, names);
}

#[tokio::test]
async fn template_and_version_tags_can_be_added_listed_and_removed() {
    let server = Protond::start();
    server.publish_gated("tpl", None).await;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build().unwrap();
    let template_arn = "arn:aws:proton:us-east-1:123456789012:environment-template/tpl";
    let version_arn = format!("{template_arn}:1.0");
    for arn in [template_arn, &version_arn] {
        let mut request = server.client().tag_resource().resource_arn(arn);
        for n in 0..5 {
            request = request.tags(tag(&format!("k{n}"), &format!("v{n}")));
        }
        request.send().await.expect("TagResource");
        server
            .client()
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("k0")
            .send()
            .await
            .expect("UntagResource");
        let mut keys: Vec<String> = server
            .client()
            .list_tags_for_resource()
            .resource_arn(arn)
            .max_results(2)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .expect("ListTagsForResource")
            .into_iter()
            .map(|t| t.key)
            .collect();
        keys.sort();
        assert_eq!(keys, ["k1", "k2", "k3", "k4"], "{arn}");
    }
}

/// The public bundles that must register, relative to the shared fixtures.
const REAL_BUNDLES: [&str; 4] = [
    "cloudformation/environment-templates/vpc-env/v1",
    "cloudformation/environment-templates/ecs-ec2-env/v1",
    "cloudformation/lambda-multi-svc/lambda-env/v1",
    "terraform/environment-templates/vpc-env/v1",
];

#[tokio::test]
async fn public_bundles_register_as_draft() {
    let Some(root) = real_bundles() else {
        eprintln!("note: the shared real bundles are absent; skipping");
        return;
    };
    let server = Protond::start();
    for (n, path) in REAL_BUNDLES.iter().enumerate() {
        let dir = root.join(path);
        if !dir.is_dir() {
            eprintln!("note: {} is absent; skipping it", dir.display());
            continue;
        }
        let template = format!("real-{n}");
        server.create_template(&template).await;
        let v = server
            .register(&template, None, &dir, &format!("{template}/v1.tar.gz"))
            .await;
        assert_eq!(v.status, TemplateVersionStatus::Draft, "{path}: {v:?}");
    }
}

/// Registers a public bundle as version 1.0 of `template`, publishes it, and asks for an
/// environment from it with the bundle's sample spec.
async fn create_from_public_bundle(
    server: &Protond,
    root: &std::path::Path,
    template: &str,
    bundle: &str,
    spec: &str,
) -> Result<aws_sdk_proton::types::Environment, String> {
    server.create_template(template).await;
    let v = server
        .register(
            template,
            None,
            &root.join(bundle),
            &format!("{template}/v1"),
        )
        .await;
    assert_eq!(v.status, TemplateVersionStatus::Draft, "{bundle}: {v:?}");
    server.publish(template, "1", "0").await;
    let spec = std::fs::read_to_string(root.join(spec)).expect("the bundle's sample spec");
    let repository = aws_sdk_proton::types::RepositoryBranchInput::builder()
        .provider(aws_sdk_proton::types::RepositoryProvider::Github)
        .name("org/infra")
        .branch("main")
        .build()
        .unwrap();
    server
        .client()
        .create_environment()
        .name(format!("{template}-env"))
        .template_name(template)
        .template_major_version("1")
        .spec(spec)
        .proton_service_role_arn("arn:aws:iam::123456789012:role/proton")
        .provisioning_repository(repository)
        .send()
        .await
        .map(|o| o.environment.unwrap())
        .map_err(|e| format!("{}: {}", code(&e), message(&e)))
}

#[tokio::test]
async fn environment_from_terraform_is_refused() {
    let Some(root) = real_bundles() else {
        eprintln!("note: the shared real bundles are absent; skipping");
        return;
    };
    let server = Protond::start();
    let refused = create_from_public_bundle(
        &server,
        &root,
        "tf",
        "terraform/environment-templates/vpc-env/v1",
        "terraform/environment-templates/vpc-env/spec/spec.yaml",
    )
    .await
    .expect_err("protond cannot deploy self-managed provisioning yet");
    assert!(refused.starts_with("ValidationException"), "{refused}");
}

#[tokio::test]
async fn environment_from_cloudformation_gives_a_clear_error_without_an_endpoint() {
    let Some(root) = real_bundles() else {
        eprintln!("note: the shared real bundles are absent; skipping");
        return;
    };
    let server = Protond::start();
    // Either CreateEnvironment refuses the method, or (once protond drives CloudFormation)
    // the deployment fails against the unreachable loopback endpoint the harness configures.
    let created = create_from_public_bundle(
        &server,
        &root,
        "cfn",
        "cloudformation/environment-templates/vpc-env/v1",
        "cloudformation/environment-templates/vpc-env/spec/spec.yaml",
    )
    .await;
    match created {
        Err(refused) => assert!(refused.starts_with("ValidationException"), "{refused}"),
        Ok(env) => {
            let env = server.settled(&env.name).await;
            assert_eq!(
                env.deployment_status,
                aws_sdk_proton::types::DeploymentStatus::Failed
            );
            let why = env.deployment_status_message.unwrap_or_default();
            assert!(!why.is_empty(), "a failed deployment says why");
        }
    }
}
