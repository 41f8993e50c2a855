//! The conformance lifecycle with the AWS SDK for Rust (scripts/conformance, the Rust client).
//!
//! Run by scripts/conformance/run.sh, which starts protond with SigV4 verification on and sets
//! `CONFORMANCE_*` (endpoint, the two accounts' keys, the bundle's location, a work folder).
//! Each client is built from an explicit loopback endpoint, static credentials and a plain HTTP
//! client, without aws-config: no credential chain runs and no call can go to AWS.
//!
//! A failed check is reported and the run goes on; the last line is "N passed, M failed", and
//! the exit status is 1 when a check failed.

// Every Proton operation is marked deprecated in the SDK ("AWS Proton is not accepting new
// customers"); calling them is the point here.
#![allow(deprecated)]

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_proton::Client;
use aws_sdk_proton::client::Waiters as _;
use aws_sdk_proton::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_proton::error::ProvideErrorMetadata;
use aws_sdk_proton::types::{
    EnvironmentTemplateFilter, S3ObjectSource, Tag, TemplateVersionSourceInput,
    TemplateVersionStatus,
};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run this through scripts/conformance/run.sh")
    })
}

#[derive(Default)]
struct Checks {
    passed: u32,
    failed: u32,
}

impl Checks {
    fn ok(&mut self, what: &str) {
        self.passed += 1;
        println!("ok     {what}");
    }

    fn not_ok(&mut self, what: &str, expected: impl Debug, got: impl Debug) {
        self.failed += 1;
        println!("FAILED {what}\n       expected: {expected:?}\n       got:      {got:?}");
    }

    fn check<T: PartialEq + Debug>(&mut self, what: &str, expected: T, got: T) {
        if expected == got {
            self.ok(what);
        } else {
            self.not_ok(what, expected, got);
        }
    }

    /// The answer of a call that must succeed, or None after counting a failed check.
    fn must<T, E: Debug>(&mut self, what: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(answer) => Some(answer),
            Err(error) => {
                self.not_ok(what, "success", error);
                None
            }
        }
    }

    /// A call that must fail with `code`, and a message containing `part` when given.
    fn fails<T: Debug, E: ProvideErrorMetadata + Debug>(
        &mut self,
        what: &str,
        code: &str,
        part: Option<&str>,
        result: Result<T, E>,
    ) {
        match result {
            Ok(answer) => self.not_ok(what, code, answer),
            Err(error) if error.code() != Some(code) => self.not_ok(what, code, error),
            Err(error) => match part {
                Some(part) if !error.message().unwrap_or_default().contains(part) => self.not_ok(
                    what,
                    format!("{code} with a message containing '{part}'"),
                    error,
                ),
                _ => self.ok(&format!("{what}: {code}")),
            },
        }
    }
}

fn client(endpoint: &str, region: &str, key_id: &str, secret: &str) -> Client {
    let config = aws_sdk_proton::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(key_id, secret, None, None, "conformance"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    Client::from_conf(config)
}

fn spec(dir: &Path, label: &str, gate: Option<&Path>) -> String {
    let mut text = format!(
        "proton: EnvironmentSpec\nspec:\n  dir: {}\n  label: {label}\n",
        dir.display()
    );
    if let Some(gate) = gate {
        text.push_str(&format!("  gate: {}\n", gate.display()));
    }
    text
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("a tag")
}

#[tokio::main]
async fn main() {
    let endpoint = var("CONFORMANCE_ENDPOINT");
    let region = var("CONFORMANCE_REGION");
    let prefix = std::env::var("CONFORMANCE_CLIENT").unwrap_or_else(|_| "rust".to_owned());
    let template = format!("{prefix}-tmpl");
    let env = format!("{prefix}-env");
    let dir = PathBuf::from(var("CONFORMANCE_WORK")).join("env");
    std::fs::create_dir_all(&dir).expect("the environment's folder");
    let account_a = var("CONFORMANCE_A_ACCOUNT");
    let env_arn = format!("arn:aws:proton:{region}:{account_a}:environment/{env}");
    let template_arn =
        format!("arn:aws:proton:{region}:{account_a}:environment-template/{template}");
    let a_id = var("CONFORMANCE_A_KEY_ID");
    let a_secret = var("CONFORMANCE_A_SECRET");
    let a = client(&endpoint, &region, &a_id, &a_secret);
    let b = client(
        &endpoint,
        &region,
        &var("CONFORMANCE_B_KEY_ID"),
        &var("CONFORMANCE_B_SECRET"),
    );
    let (spec_one, spec_two) = (spec(&dir, "one", None), spec(&dir, "two", None));
    let gate = dir.join("gate");
    let spec_three = spec(&dir, "three", Some(&gate));
    let mut c = Checks::default();
    let wait = Duration::from_secs(60);

    println!("aws-sdk-proton (Rust) against {endpoint}");
    c.check(
        "endpoint is loopback",
        true,
        endpoint.starts_with("http://127.0.0.1:"),
    );

    // --- template, version, publication ----------------------------------------------------
    if let Some(got) = c.must(
        "CreateEnvironmentTemplate",
        a.create_environment_template()
            .name(&template)
            .display_name(format!("Conformance ({prefix})"))
            .send()
            .await,
    ) {
        let arn = got.environment_template().map(|t| t.arn().to_owned());
        c.check(
            "CreateEnvironmentTemplate: arn",
            Some(template_arn.clone()),
            arn,
        );
    }
    let source = TemplateVersionSourceInput::S3(
        S3ObjectSource::builder()
            .bucket(var("CONFORMANCE_BUCKET"))
            .key(var("CONFORMANCE_KEY"))
            .build()
            .expect("an S3 source"),
    );
    if let Some(got) = c.must(
        "CreateEnvironmentTemplateVersion",
        a.create_environment_template_version()
            .template_name(&template)
            .source(source)
            .send()
            .await,
    ) {
        let version = got.environment_template_version();
        c.check(
            "CreateEnvironmentTemplateVersion: status",
            Some("REGISTRATION_IN_PROGRESS"),
            version.map(|v| v.status().as_str()),
        );
        c.check(
            "CreateEnvironmentTemplateVersion: 1.0",
            Some(("1", "0")),
            version.map(|v| (v.major_version(), v.minor_version())),
        );
    }
    let waited = a
        .wait_until_environment_template_version_registered()
        .template_name(&template)
        .major_version("1")
        .minor_version("0")
        .wait(wait)
        .await;
    if let Some(got) = c.must("wait_until_environment_template_version_registered", waited) {
        let status = got
            .into_result()
            .ok()
            .and_then(|o| o.environment_template_version)
            .map(|v| v.status);
        c.check(
            "wait_until_environment_template_version_registered: DRAFT",
            Some(TemplateVersionStatus::Draft),
            status,
        );
    }
    if let Some(got) = c.must(
        "publish",
        a.update_environment_template_version()
            .template_name(&template)
            .major_version("1")
            .minor_version("0")
            .status(TemplateVersionStatus::Published)
            .send()
            .await,
    ) {
        let version = got.environment_template_version();
        c.check(
            "publish: status",
            Some("PUBLISHED"),
            version.map(|v| v.status().as_str()),
        );
        c.check(
            "publish: recommendedMinorVersion",
            Some("0"),
            version.and_then(|v| v.recommended_minor_version()),
        );
    }

    // --- the environment -------------------------------------------------------------------
    let mut first = String::new();
    if let Some(got) = c.must(
        "CreateEnvironment",
        a.create_environment()
            .name(&env)
            .template_name(&template)
            .template_major_version("1")
            .spec(&spec_one)
            .send()
            .await,
    ) {
        let created = got.environment();
        c.check(
            "CreateEnvironment: status",
            Some("IN_PROGRESS"),
            created.map(|e| e.deployment_status().as_str()),
        );
        c.check(
            "CreateEnvironment: arn",
            Some(env_arn.as_str()),
            created.map(|e| e.arn()),
        );
        first = created
            .and_then(|e| e.last_attempted_deployment_id())
            .unwrap_or_default()
            .to_owned();
    }
    let waited = a
        .wait_until_environment_deployed()
        .name(&env)
        .wait(wait)
        .await;
    if c.must("wait_until_environment_deployed", waited).is_some() {
        c.ok("wait_until_environment_deployed");
    }
    if let Some(got) = c.must(
        "GetEnvironment",
        a.get_environment().name(&env).send().await,
    ) {
        let e = got.environment();
        c.check(
            "GetEnvironment: status",
            Some("SUCCEEDED"),
            e.map(|e| e.deployment_status().as_str()),
        );
        c.check(
            "GetEnvironment: spec",
            Some(spec_one.as_str()),
            e.and_then(|e| e.spec()),
        );
        c.check(
            "GetEnvironment: template version",
            Some((template.as_str(), "1", "0")),
            e.map(|e| {
                (
                    e.template_name(),
                    e.template_major_version(),
                    e.template_minor_version(),
                )
            }),
        );
        c.check(
            "GetEnvironment: lastSucceededDeploymentId",
            Some(first.as_str()),
            e.and_then(|e| e.last_succeeded_deployment_id()),
        );
    }
    if let Some(got) = c.must("ListEnvironments", a.list_environments().send().await) {
        let count = got
            .environments()
            .iter()
            .filter(|e| e.name() == env)
            .count();
        c.check(&format!("ListEnvironments: holds {env} once"), 1, count);
    }
    let filter = EnvironmentTemplateFilter::builder()
        .template_name(&template)
        .major_version("1")
        .build()
        .expect("a filter");
    if let Some(got) = c.must(
        "ListEnvironments filtered by template",
        a.list_environments()
            .environment_templates(filter)
            .send()
            .await,
    ) {
        let names: Vec<&str> = got.environments().iter().map(|e| e.name()).collect();
        c.check(
            "ListEnvironments filtered by template: only this one",
            vec![env.as_str()],
            names,
        );
    }

    // --- update ------------------------------------------------------------------------------
    let mut second = String::new();
    if let Some(got) = c.must(
        "UpdateEnvironment (CURRENT_VERSION)",
        a.update_environment()
            .name(&env)
            .deployment_type(aws_sdk_proton::types::DeploymentUpdateType::CurrentVersion)
            .spec(&spec_two)
            .send()
            .await,
    ) {
        let e = got.environment();
        c.check(
            "UpdateEnvironment: status",
            Some("IN_PROGRESS"),
            e.map(|e| e.deployment_status().as_str()),
        );
        second = e
            .and_then(|e| e.last_attempted_deployment_id())
            .unwrap_or_default()
            .to_owned();
    }
    let waited = a
        .wait_until_environment_deployed()
        .name(&env)
        .wait(wait)
        .await;
    c.must("wait_until_environment_deployed after the update", waited);
    if let Some(got) = c.must(
        "GetEnvironment after the update",
        a.get_environment().name(&env).send().await,
    ) {
        let e = got.environment();
        c.check(
            "after the update: status",
            Some("SUCCEEDED"),
            e.map(|e| e.deployment_status().as_str()),
        );
        c.check(
            "after the update: spec is the new one",
            Some(spec_two.as_str()),
            e.and_then(|e| e.spec()),
        );
        c.check(
            "after the update: lastSucceededDeploymentId",
            Some(second.as_str()),
            e.and_then(|e| e.last_succeeded_deployment_id()),
        );
    }

    // --- cancel an update while its commands wait on the gate -----------------------------
    let mut third = String::new();
    if let Some(got) = c.must(
        "UpdateEnvironment (gated)",
        a.update_environment()
            .name(&env)
            .deployment_type(aws_sdk_proton::types::DeploymentUpdateType::CurrentVersion)
            .spec(&spec_three)
            .send()
            .await,
    ) {
        let e = got.environment();
        c.check(
            "gated update: status",
            Some("IN_PROGRESS"),
            e.map(|e| e.deployment_status().as_str()),
        );
        c.check(
            "gated update: spec shown is still the deployed one",
            Some(spec_two.as_str()),
            e.and_then(|e| e.spec()),
        );
        third = e
            .and_then(|e| e.last_attempted_deployment_id())
            .unwrap_or_default()
            .to_owned();
    }
    let waiting = dir.join("waiting-three");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !waiting.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.check(
        "gated update: provisioning commands run and wait",
        true,
        waiting.exists(),
    );
    if let Some(got) = c.must(
        "CancelEnvironmentDeployment",
        a.cancel_environment_deployment()
            .environment_name(&env)
            .send()
            .await,
    ) {
        c.check(
            "CancelEnvironmentDeployment: status",
            Some("CANCELLING"),
            got.environment().map(|e| e.deployment_status().as_str()),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settled = None;
    while Instant::now() < deadline {
        let Some(got) = c.must(
            "GetEnvironment while cancelling",
            a.get_environment().name(&env).send().await,
        ) else {
            break;
        };
        let e = got.environment.expect("an environment");
        if !matches!(e.deployment_status().as_str(), "CANCELLING" | "IN_PROGRESS") {
            settled = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let e = settled.as_ref();
    c.check(
        "after the cancel: status",
        Some("CANCELLED"),
        e.map(|e| e.deployment_status().as_str()),
    );
    c.check(
        "after the cancel: message",
        Some("User initiated cancellation."),
        e.and_then(|e| e.deployment_status_message()),
    );
    c.check(
        "after the cancel: spec is the previous one",
        Some(spec_two.as_str()),
        e.and_then(|e| e.spec()),
    );
    c.check(
        "after the cancel: lastAttemptedDeploymentId",
        Some(third.as_str()),
        e.and_then(|e| e.last_attempted_deployment_id()),
    );
    c.check(
        "after the cancel: lastSucceededDeploymentId",
        Some(second.as_str()),
        e.and_then(|e| e.last_succeeded_deployment_id()),
    );

    // --- deployments, page by page ------------------------------------------------------------
    let expected: Vec<(String, String)> = vec![
        (third.clone(), "CANCELLED".to_owned()),
        (second.clone(), "SUCCEEDED".to_owned()),
        (first.clone(), "SUCCEEDED".to_owned()),
    ];
    let mut listed = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    while pages < 10 {
        let Some(page) = c.must(
            "ListDeployments page",
            a.list_deployments()
                .environment_name(&env)
                .max_results(1)
                .set_next_token(token.clone())
                .send()
                .await,
        ) else {
            break;
        };
        pages += 1;
        if page.deployments().len() > 1 {
            c.not_ok(
                &format!("ListDeployments page {pages}: at most 1 item"),
                1,
                page.deployments().len(),
            );
        }
        listed.extend(
            page.deployments()
                .iter()
                .map(|d| (d.id().to_owned(), d.deployment_status().as_str().to_owned())),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    c.check(
        "ListDeployments by hand, maxResults 1: newest first",
        expected.clone(),
        listed,
    );
    c.check("ListDeployments by hand: pages", 3, pages);
    let mut stream = a
        .list_deployments()
        .environment_name(&env)
        .into_paginator()
        .page_size(2)
        .send();
    let (mut sizes, mut streamed) = (Vec::new(), Vec::new());
    while let Some(page) = stream.next().await {
        let Some(page) = c.must("ListDeployments paginator page", page) else {
            break;
        };
        sizes.push(page.deployments().len());
        streamed.extend(
            page.deployments()
                .iter()
                .map(|d| (d.id().to_owned(), d.deployment_status().as_str().to_owned())),
        );
    }
    c.check(
        "ListDeployments paginator (page_size 2): pages",
        vec![2, 1],
        sizes,
    );
    c.check(
        "ListDeployments paginator (page_size 2): newest first",
        expected,
        streamed,
    );
    if let Some(got) = c.must(
        "GetDeployment (cancelled)",
        a.get_deployment()
            .id(&third)
            .environment_name(&env)
            .send()
            .await,
    ) {
        let d = got.deployment();
        c.check(
            "GetDeployment: status",
            Some("CANCELLED"),
            d.map(|d| d.deployment_status().as_str()),
        );
        let spec_of = |state: Option<&aws_sdk_proton::types::DeploymentState>| {
            state
                .and_then(|s| s.as_environment().ok())
                .and_then(|e| e.spec())
                .map(str::to_owned)
        };
        c.check(
            "GetDeployment: initialState spec",
            Some(spec_two.clone()),
            spec_of(d.and_then(|d| d.initial_state())),
        );
        c.check(
            "GetDeployment: targetState spec",
            Some(spec_three.clone()),
            spec_of(d.and_then(|d| d.target_state())),
        );
    }

    // --- outputs and tags ------------------------------------------------------------------
    if let Some(got) = c.must(
        "ListEnvironmentOutputs",
        a.list_environment_outputs()
            .environment_name(&env)
            .send()
            .await,
    ) {
        let mut outputs: Vec<String> = got
            .outputs()
            .iter()
            .map(|o| {
                format!(
                    "{}={}",
                    o.key().unwrap_or_default(),
                    o.value_string().unwrap_or_default()
                )
            })
            .collect();
        outputs.sort();
        c.check(
            "ListEnvironmentOutputs",
            vec![format!("Dir={}", dir.display()), "Label=two".to_owned()],
            outputs,
        );
    }
    c.must(
        "TagResource",
        a.tag_resource()
            .resource_arn(&env_arn)
            .tags(tag("team", "platform"))
            .tags(tag("client", &prefix))
            .send()
            .await,
    );
    let tags =
        |got: aws_sdk_proton::operation::list_tags_for_resource::ListTagsForResourceOutput| {
            let mut tags: Vec<String> = got
                .tags()
                .iter()
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect();
            tags.sort();
            tags
        };
    if let Some(got) = c.must(
        "ListTagsForResource",
        a.list_tags_for_resource()
            .resource_arn(&env_arn)
            .send()
            .await,
    ) {
        c.check(
            "ListTagsForResource",
            vec![format!("client={prefix}"), "team=platform".to_owned()],
            tags(got),
        );
    }
    c.must(
        "UntagResource",
        a.untag_resource()
            .resource_arn(&env_arn)
            .tag_keys("team")
            .send()
            .await,
    );
    if let Some(got) = c.must(
        "ListTagsForResource after untag",
        a.list_tags_for_resource()
            .resource_arn(&env_arn)
            .send()
            .await,
    ) {
        c.check(
            "ListTagsForResource after untag",
            vec![format!("client={prefix}")],
            tags(got),
        );
    }

    // --- errors ----------------------------------------------------------------------------
    let rnf = "ResourceNotFoundException";
    let missing = format!("{prefix}-missing");
    c.fails(
        "GetEnvironment of a missing environment",
        rnf,
        Some(&missing),
        a.get_environment().name(&missing).send().await,
    );
    c.fails(
        "cancel with nothing in progress",
        "ConflictException",
        None,
        a.cancel_environment_deployment()
            .environment_name(&env)
            .send()
            .await,
    );
    c.fails(
        "update with a bad spec",
        "ValidationException",
        Some("spec.label"),
        a.update_environment()
            .name(&env)
            .deployment_type(aws_sdk_proton::types::DeploymentUpdateType::CurrentVersion)
            .spec(spec(&dir, "NOT_VALID", None))
            .send()
            .await,
    );
    let wrong = client(&endpoint, &region, &a_id, "not-the-secret");
    c.fails(
        "wrong secret",
        "InvalidSignatureException",
        None,
        wrong.list_environments().send().await,
    );
    let unknown = client(&endpoint, &region, "AKIDUNKNOWNCONFORM", &a_secret);
    c.fails(
        "unknown access key",
        "UnrecognizedClientException",
        None,
        unknown.list_environments().send().await,
    );

    // The other account sees nothing of account A's.
    c.fails(
        "account B: GetEnvironment",
        rnf,
        None,
        b.get_environment().name(&env).send().await,
    );
    c.fails(
        "account B: GetEnvironmentTemplate",
        rnf,
        None,
        b.get_environment_template().name(&template).send().await,
    );
    c.fails(
        "account B: CancelEnvironmentDeployment",
        rnf,
        None,
        b.cancel_environment_deployment()
            .environment_name(&env)
            .send()
            .await,
    );
    c.fails(
        "account B: UpdateEnvironment",
        rnf,
        None,
        b.update_environment()
            .name(&env)
            .deployment_type(aws_sdk_proton::types::DeploymentUpdateType::CurrentVersion)
            .spec(&spec_one)
            .send()
            .await,
    );
    c.fails(
        "account B: ListTagsForResource on A's ARN",
        rnf,
        None,
        b.list_tags_for_resource()
            .resource_arn(&env_arn)
            .send()
            .await,
    );
    c.fails(
        "account B: GetDeployment",
        rnf,
        None,
        b.get_deployment().id(&first).send().await,
    );
    if let Some(got) = c.must(
        "account B: ListEnvironments",
        b.list_environments().send().await,
    ) {
        let shown = got.environments().iter().any(|e| e.name() == env);
        c.check(
            &format!("account B: ListEnvironments does not show {env}"),
            false,
            shown,
        );
    }
    if let Some(got) = c.must(
        "account B: ListDeployments",
        b.list_deployments().environment_name(&env).send().await,
    ) {
        c.check(
            "account B: ListDeployments for A's environment is empty",
            0,
            got.deployments().len(),
        );
    }

    // --- deletion ----------------------------------------------------------------------------
    if let Some(got) = c.must(
        "DeleteEnvironment",
        a.delete_environment().name(&env).send().await,
    ) {
        c.check(
            "DeleteEnvironment: status",
            Some("DELETE_IN_PROGRESS"),
            got.environment().map(|e| e.deployment_status().as_str()),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut code = None;
    while Instant::now() < deadline {
        if let Err(error) = a.get_environment().name(&env).send().await {
            code = error.code().map(str::to_owned);
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    c.check("environment gone after delete", Some(rnf.to_owned()), code);
    c.check("deprovision ran", false, dir.join("provisioned").exists());
    let deleted = a
        .delete_environment_template_version()
        .template_name(&template)
        .major_version("1")
        .minor_version("0")
        .send()
        .await;
    if c.must("DeleteEnvironmentTemplateVersion", deleted)
        .is_some()
        && c.must(
            "DeleteEnvironmentTemplate",
            a.delete_environment_template().name(&template).send().await,
        )
        .is_some()
    {
        c.ok("DeleteEnvironmentTemplateVersion, DeleteEnvironmentTemplate");
    }
    c.fails(
        "template gone after delete",
        rnf,
        None,
        a.get_environment_template().name(&template).send().await,
    );

    println!("{} passed, {} failed", c.passed, c.failed);
    if c.failed > 0 {
        std::process::exit(1);
    }
}
