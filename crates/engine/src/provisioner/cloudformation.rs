//! AWS-managed provisioning (`rendering_engine: jinja`, `template_language: cloudformation`):
//! the bundle's template is rendered and deployed as one CloudFormation stack per environment,
//! through the AWS SDK for Rust, against real AWS or any endpoint that speaks the
//! CloudFormation query API.
//!
//! A deployment creates the stack when it does not exist and updates it otherwise; an update
//! that changes nothing ("No updates are to be performed") succeeds at once. A stack left in
//! `ROLLBACK_COMPLETE` by a failed create cannot be updated, so it is deleted first and created
//! again. The provisioner then polls `DescribeStacks` until the stack leaves its
//! `*_IN_PROGRESS` states, copying new stack events into the deployment's log, and reads the
//! stack's outputs and resources when it succeeds.
//!
//! A cancel is what CloudFormation offers: `CancelUpdateStack` for an update (its rollback
//! decides between cancelled and failed, and an update that completed first stays succeeded),
//! and deleting the half-created stack for a create, which CloudFormation cannot cancel.
//!
//! This module talks to CloudFormation and to the deployment's log and rendered-template
//! folder only; the engine alone writes deployment state.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::config::{Credentials, Region};
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{Capability, Stack, Tag};
use protond_bundle::{Provisioning, RenderContext};
use protond_wire::{ProvisionedResource, ProvisionedResourceEngine};
use tokio::sync::watch;
use tokio::time::Instant;

use super::commands::append_log;
use super::{Job, Outcome, Provisioner, Started, State, Task};

/// The tag every stack carries, naming the environment it belongs to.
pub const ENVIRONMENT_TAG: &str = "protond:environment";

/// Where and how protond reaches CloudFormation.
#[derive(Clone)]
pub struct CloudFormationSettings {
    /// The endpoint URL; `None` uses AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    /// The region of every stack; `None` uses the environment's region (from its ARN).
    pub region: Option<String>,
    /// Fixed credentials; `None` uses the AWS SDK's default credential chain.
    pub credentials: Option<StaticCredentials>,
    /// A role protond assumes (through STS) before it calls CloudFormation.
    pub role_arn: Option<String>,
    /// Stack names are this prefix and the environment's name.
    pub stack_name_prefix: String,
    /// How often a stack's status is read while it changes.
    pub poll_interval: Duration,
    /// Whether an environment's `protonServiceRoleArn` becomes the stack's service role
    /// (`RoleARN`), so that CloudFormation acts with that role's permissions.
    pub pass_service_role: bool,
}

impl Default for CloudFormationSettings {
    fn default() -> Self {
        CloudFormationSettings {
            endpoint: None,
            region: None,
            credentials: None,
            role_arn: None,
            stack_name_prefix: "protond-env-".into(),
            poll_interval: Duration::from_secs(5),
            pass_service_role: true,
        }
    }
}

impl fmt::Debug for CloudFormationSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudFormationSettings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("role_arn", &self.role_arn)
            .field("stack_name_prefix", &self.stack_name_prefix)
            .field("poll_interval", &self.poll_interval)
            .field("pass_service_role", &self.pass_service_role)
            .finish()
    }
}

/// An access key, given in the configuration instead of the default credential chain.
#[derive(Clone)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// A session token, for temporary credentials.
    pub session_token: Option<String>,
}

impl fmt::Debug for StaticCredentials {
    // The secret and the token never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The stack of environment `environment`: `prefix` then the name. CloudFormation allows
/// letters, digits and hyphens only, and environment names may hold underscores: such a name
/// has them turned into hyphens and a hash of the exact name appended, so that `a_b` and `a-b`
/// never share a stack.
pub fn stack_name(prefix: &str, environment: &str) -> String {
    if !environment.contains('_') {
        return format!("{prefix}{environment}");
    }
    let hyphenated = environment.replace('_', "-");
    format!("{prefix}{hyphenated}-{:08x}", fnv1a(environment) as u32)
}

/// FNV-1a, 64 bits: stable across releases and platforms, which std's hasher is not.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Deploys CloudFormation bundles as stacks.
pub struct CloudFormation {
    /// Where and how to reach CloudFormation.
    pub settings: CloudFormationSettings,
}

#[async_trait::async_trait]
impl Provisioner for CloudFormation {
    async fn run(&self, job: &Job, stop: watch::Receiver<bool>, started: Started) -> Outcome {
        let client = match self.client(&job.region).await {
            Ok(client) => client,
            Err(message) => return Outcome::Failed { message },
        };
        let mut run = StackRun {
            client,
            stack: stack_name(&self.settings.stack_name_prefix, &job.environment_name),
            job,
            poll: self.settings.poll_interval,
            seen: HashSet::new(),
            failures: Vec::new(),
        };
        match &job.task {
            Task::Deploy { target, .. } => {
                let role = job
                    .service_role_arn
                    .clone()
                    .filter(|_| self.settings.pass_service_role);
                run.deploy(target, role, stop, &started).await
            }
            Task::Delete { .. } => run.delete(&started).await,
        }
    }
}

impl CloudFormation {
    /// A client for `environment_region` (unless a region is configured), with the configured
    /// endpoint and credentials.
    async fn client(&self, environment_region: &str) -> Result<Client, String> {
        let settings = &self.settings;
        let region = settings.region.as_deref().unwrap_or(environment_region);
        // The region is always set here, so the SDK never looks for one in the instance
        // metadata service.
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        // No call may hang a deployment: an endpoint that accepts the connection and never
        // answers fails the call, which the SDK retries, and then the deployment.
        loader = loader.timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .operation_timeout(Duration::from_secs(180))
                .build(),
        );
        if let Some(c) = &settings.credentials {
            let credentials = Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                c.session_token.clone(),
                None,
                "protond-configuration",
            );
            loader = loader.credentials_provider(credentials);
        }
        let base = loader.load().await;
        let Some(role) = &settings.role_arn else {
            return Ok(Client::new(&base));
        };
        let provider = AssumeRoleProvider::builder(role)
            .session_name("protond")
            .configure(&base)
            .build()
            .await;
        let config = base.into_builder().credentials_provider(
            aws_sdk_cloudformation::config::SharedCredentialsProvider::new(provider),
        );
        Ok(Client::new(&config.build()))
    }
}

/// Which stack operation a wait follows; it decides what each final status means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Create,
    Update,
    Delete,
    /// The deletion of a half-created stack, after a cancel.
    CancelCreate,
    /// The deletion of a stack left in `ROLLBACK_COMPLETE`, before it is created again.
    Clear,
}

/// One deployment's work on its stack.
struct StackRun<'a> {
    client: Client,
    stack: String,
    job: &'a Job,
    poll: Duration,
    /// Stack events already copied to the log.
    seen: HashSet<String>,
    /// Resource failures seen in this run's events, for the deployment's message.
    failures: Vec<String>,
}

impl StackRun<'_> {
    async fn deploy(
        &mut self,
        target: &State,
        role: Option<String>,
        stop: watch::Receiver<bool>,
        started: &Started,
    ) -> Outcome {
        let template = match render(self.job, target) {
            Ok(template) => template,
            Err(message) => return Outcome::Failed { message },
        };
        if *stop.borrow() {
            return Outcome::Cancelled;
        }
        let existing = match self.describe().await {
            Ok(existing) => existing,
            Err(message) => return Outcome::Failed { message },
        };
        let status = existing.as_ref().map(status_of).unwrap_or_default();
        if status.ends_with("_IN_PROGRESS") {
            return Outcome::Failed {
                message: format!(
                    "the CloudFormation stack {} is busy ({status}); deploy again once it \
                     settles",
                    self.stack
                ),
            };
        }
        started(format!("stack={}", self.stack));
        if status == "ROLLBACK_COMPLETE" {
            if let Err(message) = self.clear().await {
                return Outcome::Failed { message };
            }
            if *stop.borrow() {
                return Outcome::Cancelled;
            }
        }
        if existing.is_none() || status == "ROLLBACK_COMPLETE" {
            self.create(&template, role, stop).await
        } else {
            self.update(&template, role, stop).await
        }
    }

    async fn create(
        &mut self,
        template: &str,
        role: Option<String>,
        stop: watch::Receiver<bool>,
    ) -> Outcome {
        self.log(&format!("creating stack {}", self.stack));
        let sent = self
            .client
            .create_stack()
            .stack_name(&self.stack)
            .template_body(template)
            .set_capabilities(Some(capabilities()))
            .set_role_arn(role)
            .tags(tag(ENVIRONMENT_TAG, &self.job.environment_arn))
            .send()
            .await;
        if let Err(e) = sent {
            return Outcome::Failed {
                message: format!("CreateStack {} failed: {}", self.stack, error_text(&e)),
            };
        }
        self.wait(Operation::Create, stop).await
    }

    async fn update(
        &mut self,
        template: &str,
        role: Option<String>,
        stop: watch::Receiver<bool>,
    ) -> Outcome {
        self.log(&format!("updating stack {}", self.stack));
        self.mark_events_seen().await;
        let sent = self
            .client
            .update_stack()
            .stack_name(&self.stack)
            .template_body(template)
            .set_capabilities(Some(capabilities()))
            .set_role_arn(role)
            .tags(tag(ENVIRONMENT_TAG, &self.job.environment_arn))
            .send()
            .await;
        match sent {
            Ok(_) => self.wait(Operation::Update, stop).await,
            Err(e) if error_text(&e).contains("No updates are to be performed") => {
                self.log("no updates are to be performed: the stack already matches");
                self.succeeded().await
            }
            Err(e) => Outcome::Failed {
                message: format!("UpdateStack {} failed: {}", self.stack, error_text(&e)),
            },
        }
    }

    async fn delete(&mut self, started: &Started) -> Outcome {
        match self.describe().await {
            Ok(None) => {
                self.log(&format!(
                    "stack {} does not exist: nothing to delete",
                    self.stack
                ));
                return succeeded_without_outputs();
            }
            Ok(Some(_)) => {}
            Err(message) => return Outcome::Failed { message },
        }
        started(format!("stack={}", self.stack));
        if let Err(message) = self.start_delete().await {
            return Outcome::Failed { message };
        }
        // A deletion cannot be cancelled through the API, so nothing ever stops this wait.
        let (_keep, never) = watch::channel(false);
        self.wait(Operation::Delete, never).await
    }

    /// Deletes a stack that a failed create left in `ROLLBACK_COMPLETE`.
    async fn clear(&mut self) -> Result<(), String> {
        self.log(&format!(
            "stack {} is ROLLBACK_COMPLETE after a failed create: deleting it to create it again",
            self.stack
        ));
        self.start_delete().await?;
        let (_keep, never) = watch::channel(false);
        match self.wait(Operation::Clear, never).await {
            Outcome::Succeeded { .. } => Ok(()),
            Outcome::Failed { message } | Outcome::CancelFailed { message } => Err(message),
            Outcome::Cancelled => Err("the deletion was stopped".into()),
        }
    }

    async fn start_delete(&mut self) -> Result<(), String> {
        self.mark_events_seen().await;
        self.client
            .delete_stack()
            .stack_name(&self.stack)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("DeleteStack {} failed: {}", self.stack, error_text(&e)))
    }

    /// Polls the stack until `operation` ends, acting on a stop once.
    async fn wait(&mut self, mut operation: Operation, mut stop: watch::Receiver<bool>) -> Outcome {
        let mut deadline = Instant::now() + self.job.timeout;
        let mut cancelled = false;
        loop {
            let stack = match self.describe().await {
                Ok(stack) => stack,
                Err(message) => return Outcome::Failed { message },
            };
            self.copy_events().await;
            let status = stack.as_ref().map(status_of).unwrap_or("DELETE_COMPLETE");
            if !status.ends_with("_IN_PROGRESS") {
                let reason = stack.as_ref().and_then(|s| s.stack_status_reason());
                return self.finish(operation, status, reason, cancelled).await;
            }
            if !cancelled && *stop.borrow() {
                cancelled = true;
                // The undo gets a full timeout of its own, whenever the cancel came.
                deadline = Instant::now() + self.job.timeout;
                operation = self.cancel(operation).await;
                continue;
            }
            if Instant::now() >= deadline {
                return self.timed_out(status, cancelled);
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                Ok(_) = stop.wait_for(|s| *s), if !cancelled => {}
            }
        }
    }

    /// Starts undoing `operation`, and returns the operation to wait for from then on.
    async fn cancel(&mut self, operation: Operation) -> Operation {
        match operation {
            Operation::Update => {
                self.log("cancel requested: cancelling the stack update");
                let sent = self
                    .client
                    .cancel_update_stack()
                    .stack_name(&self.stack)
                    .send()
                    .await;
                // CloudFormation refuses when the update is already past the point of no
                // return; the status it ends in then tells what happened.
                if let Err(e) = sent {
                    self.log(&format!("CancelUpdateStack refused: {}", error_text(&e)));
                }
                Operation::Update
            }
            Operation::Create => {
                self.log("cancel requested: deleting the stack being created");
                match self.start_delete().await {
                    Ok(()) => Operation::CancelCreate,
                    Err(message) => {
                        self.log(&message);
                        Operation::Create
                    }
                }
            }
            other => other,
        }
    }

    async fn finish(
        &mut self,
        operation: Operation,
        status: &str,
        reason: Option<&str>,
        cancelled: bool,
    ) -> Outcome {
        self.log(&format!("stack {} is {status}", self.stack));
        let failure = self.failure(status, reason);
        match (operation, status) {
            (Operation::Create, "CREATE_COMPLETE") | (Operation::Update, "UPDATE_COMPLETE") => {
                self.succeeded().await
            }
            (Operation::Update, "UPDATE_ROLLBACK_COMPLETE") if cancelled => Outcome::Cancelled,
            (Operation::Update, "UPDATE_ROLLBACK_FAILED") if cancelled => Outcome::CancelFailed {
                message: format!("cancel failed: {failure}"),
            },
            (Operation::Delete | Operation::Clear, "DELETE_COMPLETE") => {
                succeeded_without_outputs()
            }
            (Operation::CancelCreate, "DELETE_COMPLETE") => Outcome::Cancelled,
            (Operation::CancelCreate, _) => Outcome::CancelFailed {
                message: format!("cancel failed: {failure}"),
            },
            _ if cancelled => Outcome::CancelFailed {
                message: format!("cancel failed: {failure}"),
            },
            _ => Outcome::Failed { message: failure },
        }
    }

    fn timed_out(&self, status: &str, cancelled: bool) -> Outcome {
        let message = format!(
            "the CloudFormation stack {} did not settle within the deployment timeout of {}s; \
             it is still {status}",
            self.stack,
            self.job.timeout.as_secs()
        );
        if cancelled {
            Outcome::CancelFailed {
                message: format!("cancel failed: {message}"),
            }
        } else {
            Outcome::Failed { message }
        }
    }

    /// The message of a stack that ended in `status`: the stack's reason and the failures of
    /// its resources, which say more than the stack's own summary.
    fn failure(&self, status: &str, reason: Option<&str>) -> String {
        let mut message = format!("the CloudFormation stack {} ended {status}", self.stack);
        if let Some(reason) = reason.filter(|r| !r.is_empty()) {
            message.push_str(&format!(": {reason}"));
        }
        if !self.failures.is_empty() {
            message.push_str(&format!(" ({})", self.failures.join("; ")));
        }
        message
    }

    async fn succeeded(&mut self) -> Outcome {
        let stack = match self.describe().await {
            Ok(Some(stack)) => stack,
            Ok(None) => {
                return Outcome::Failed {
                    message: format!("the CloudFormation stack {} disappeared", self.stack),
                };
            }
            Err(message) => return Outcome::Failed { message },
        };
        let outputs = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        match self.resources().await {
            Ok(resources) => Outcome::Succeeded { outputs, resources },
            Err(message) => Outcome::Failed { message },
        }
    }

    async fn resources(&self) -> Result<Vec<ProvisionedResource>, String> {
        let mut pages = self
            .client
            .list_stack_resources()
            .stack_name(&self.stack)
            .into_paginator()
            .items()
            .send();
        let mut resources = Vec::new();
        while let Some(item) = pages.next().await {
            let summary = item.map_err(|e| {
                format!(
                    "ListStackResources {} failed: {}",
                    self.stack,
                    error_text(&e)
                )
            })?;
            resources.push(ProvisionedResource {
                identifier: summary.physical_resource_id().map(str::to_owned),
                name: summary.logical_resource_id().map(str::to_owned),
                provisioning_engine: Some(ProvisionedResourceEngine::Cloudformation),
            });
        }
        Ok(resources)
    }

    /// The stack, or `None` when it does not exist (CloudFormation answers a
    /// `ValidationError` saying so).
    async fn describe(&self) -> Result<Option<Stack>, String> {
        let answer = self
            .client
            .describe_stacks()
            .stack_name(&self.stack)
            .send()
            .await;
        match answer {
            Ok(output) => Ok(output.stacks().first().cloned()),
            Err(e) if error_text(&e).contains("does not exist") => Ok(None),
            Err(e) => Err(format!(
                "DescribeStacks {} failed: {}",
                self.stack,
                error_text(&e)
            )),
        }
    }

    /// Remembers the events the stack has now, so that only later ones are reported.
    async fn mark_events_seen(&mut self) {
        for event in self.events().await {
            if let Some(id) = event.event_id() {
                self.seen.insert(id.to_owned());
            }
        }
    }

    /// Copies events not seen yet into the log, oldest first, and keeps resource failures.
    async fn copy_events(&mut self) {
        let mut events = self.events().await;
        events.reverse();
        for event in events {
            let Some(id) = event.event_id() else { continue };
            if !self.seen.insert(id.to_owned()) {
                continue;
            }
            let logical = event.logical_resource_id().unwrap_or("");
            let status = event.resource_status().map(|s| s.as_str()).unwrap_or("");
            let kind = event.resource_type().unwrap_or("");
            let reason = event.resource_status_reason().unwrap_or("");
            self.log(&format!("event: {logical} ({kind}) {status} {reason}"));
            let is_stack = kind == "AWS::CloudFormation::Stack" && logical == self.stack;
            if status.ends_with("_FAILED") && !is_stack && !reason.is_empty() {
                self.failures.push(format!("{logical} {status}: {reason}"));
            }
        }
    }

    /// The stack's latest events, newest first; none when they cannot be read, since they
    /// only enrich the log and the message.
    async fn events(&self) -> Vec<aws_sdk_cloudformation::types::StackEvent> {
        let answer = self
            .client
            .describe_stack_events()
            .stack_name(&self.stack)
            .send()
            .await;
        answer
            .map(|output| output.stack_events().to_vec())
            .unwrap_or_default()
    }

    fn log(&self, line: &str) {
        append_log(&self.job.log, &format!("[protond] {line}\n"));
    }
}

/// Renders the target's template, and keeps every rendered file in the deployment's
/// rendered-template folder, where it can be read back after the deployment.
fn render(job: &Job, target: &State) -> Result<String, String> {
    let Provisioning::CloudFormation { file } = &target.bundle.manifest.provisioning else {
        return Err("the template version is not a CloudFormation bundle".into());
    };
    let ctx = RenderContext {
        environment_name: job.environment_name.clone(),
        inputs: target.inputs.clone(),
    };
    let rendered = protond_bundle::render(&target.bundle, &ctx)
        .map_err(|e| format!("the template did not render: {e}"))?;
    keep_rendered(&job.rendered_dir, &rendered)
        .map_err(|e| format!("cannot write {}: {e}", job.rendered_dir.display()))?;
    let template = rendered
        .into_iter()
        .find(|f| f.path == *file)
        .ok_or_else(|| format!("the bundle has no infrastructure/{file}"))?;
    String::from_utf8(template.contents).map_err(|_| "the rendered template is not UTF-8".into())
}

fn keep_rendered(dir: &Path, files: &[protond_bundle::RenderedFile]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for file in files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &file.contents)?;
    }
    Ok(())
}

fn status_of(stack: &Stack) -> &str {
    stack.stack_status().map(|s| s.as_str()).unwrap_or("")
}

/// Every capability: Proton acknowledged IAM resources and macros (such as the
/// `AWS::Serverless` transform) on the template author's behalf, and so does protond.
fn capabilities() -> Vec<Capability> {
    vec![
        Capability::CapabilityIam,
        Capability::CapabilityNamedIam,
        Capability::CapabilityAutoExpand,
    ]
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

fn succeeded_without_outputs() -> Outcome {
    Outcome::Succeeded {
        outputs: Vec::new(),
        resources: Vec::new(),
    }
}

/// The code and message of an SDK error, or its description when the service sent none.
fn error_text<E: ProvideErrorMetadata + std::error::Error + 'static, R: fmt::Debug>(
    error: &aws_sdk_cloudformation::error::SdkError<E, R>,
) -> String {
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (None, Some(message)) => message.to_owned(),
        _ => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_keep_plain_environment_names() {
        assert_eq!(stack_name("protond-env-", "dev"), "protond-env-dev");
        assert_eq!(
            stack_name("protond-env-", "my-env-2"),
            "protond-env-my-env-2"
        );
    }

    #[test]
    fn underscored_names_get_a_stable_distinct_suffix() {
        let a = stack_name("p-", "a_b");
        assert!(
            a.starts_with("p-a-b-") && a.len() == "p-a-b-".len() + 8,
            "{a}"
        );
        assert_ne!(a, stack_name("p-", "a-b"));
        assert_eq!(a, stack_name("p-", "a_b"));
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-';
        assert!(a.chars().all(valid));
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let settings = CloudFormationSettings {
            credentials: Some(StaticCredentials {
                access_key_id: "AKID".into(),
                secret_access_key: "very-secret".into(),
                session_token: Some("token".into()),
            }),
            ..CloudFormationSettings::default()
        };
        let text = format!("{settings:?}");
        assert!(text.contains("AKID") && !text.contains("very-secret") && !text.contains("token"));
    }
}
