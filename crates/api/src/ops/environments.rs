//! Environments: Create, Get, List, Update (four deployment types), Delete, and
//! CancelEnvironmentDeployment.
//!
//! The environment shows the template version and spec of its last successful deployment;
//! the deployment in flight carries its target in `targetState`. Creating, updating (other than
//! `NONE`) and deleting each commit the environment, a new deployment and a work item together,
//! then wake the engine. A deployment in flight blocks every other change but `NONE`.

use protond_bundle::Provisioning as BundleProvisioning;
use protond_engine::records::{
    self, DeploymentKind, DeploymentRecord, EnvironmentRecord, Stored, TagsRecord,
    TemplateVersionRecord,
};
use protond_store::{Expect, WorkItem, Write};
use protond_wire::*;

use super::template_versions::{all_versions, require_version};
use super::templates::require_template;
use super::{already_exists, canonical, commit, page, replayed_create, require};
use crate::arn;
use crate::failure::{OrInternal, internal};
use crate::service::Proton;

fn missing(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The environment {name} does not exist.")
}

async fn require_environment(
    proton: &Proton,
    ctx: &RequestContext,
    name: &str,
) -> Result<Stored<EnvironmentRecord>, ProtonError> {
    require(proton.store.as_ref(), ctx, name, missing(name)).await
}

/// Whether a deployment in this status still runs.
pub fn in_flight(status: DeploymentStatus) -> bool {
    matches!(
        status,
        DeploymentStatus::InProgress
            | DeploymentStatus::Cancelling
            | DeploymentStatus::DeleteInProgress
    )
}

fn busy(env: &Environment) -> ProtonError {
    ProtonError::conflict(format!(
        "The environment {} has a deployment in progress (status {}); wait for it to end{}.",
        env.name,
        env.deployment_status,
        if env.deployment_status == DeploymentStatus::InProgress {
            " or cancel it"
        } else {
            ""
        }
    ))
}

/// The bundle of a published version, and the spec's inputs checked against its schema.
async fn check_spec(
    proton: &Proton,
    ctx: &RequestContext,
    template: &str,
    version: &TemplateVersionRecord,
    spec: &str,
) -> Result<(), ProtonError> {
    let (major, minor) = (
        &version.version.major_version,
        &version.version.minor_version,
    );
    if version.version.status != TemplateVersionStatus::Published {
        return Err(ProtonError::validation(format!(
            "The environment template version {template}:{major}.{minor} is not published \
             (status {}).",
            version.version.status
        )));
    }
    let bundle = proton
        .engine
        .bundle_of(&ctx.partition(), version)
        .await
        .map_err(|e| internal(ctx, &e))?;
    if let Some(method) = unsupported_provisioning(&bundle.manifest.provisioning) {
        return Err(ProtonError::validation(format!(
            "The environment template version {template}:{major}.{minor} uses {method}, which \
             protond cannot deploy yet; CodeBuild-style bundles (rendering_engine: codebuild) \
             and CloudFormation bundles (rendering_engine: jinja) deploy today."
        )));
    }
    let invalid =
        |reason: String| ProtonError::validation(format!("The spec is not valid: {reason}"));
    let spec = protond_bundle::parse_spec(spec).map_err(|e| invalid(e.to_string()))?;
    bundle
        .schema
        .environment_inputs(&spec)
        .map_err(|e| invalid(e.to_string()))?;
    Ok(())
}

/// The name of a provisioning method protond registers and renders but cannot deploy yet.
fn unsupported_provisioning(provisioning: &BundleProvisioning) -> Option<&'static str> {
    match provisioning {
        BundleProvisioning::CodeBuild(_) | BundleProvisioning::CloudFormation { .. } => None,
        BundleProvisioning::Terraform { .. } => Some("self-managed provisioning (Terraform)"),
    }
}

/// The version a request names: `minor` given, or the recommended minor of `major`.
async fn resolve_version(
    proton: &Proton,
    ctx: &RequestContext,
    template: &str,
    major: &str,
    minor: Option<&str>,
) -> Result<TemplateVersionRecord, ProtonError> {
    match minor {
        Some(minor) => Ok(require_version(proton, ctx, template, major, minor)
            .await?
            .value),
        None => {
            let versions = all_versions(proton, ctx, template).await?;
            let recommended = versions
                .iter()
                .find(|v| v.value.version.major_version == major)
                .and_then(|v| v.value.version.recommended_minor_version.clone())
                .ok_or_else(|| {
                    ProtonError::validation(format!(
                        "The environment template {template} has no published version in \
                         major version {major}."
                    ))
                })?;
            Ok(require_version(proton, ctx, template, major, &recommended)
                .await?
                .value)
        }
    }
}

/// A new deployment of `env` toward `target` (or its deletion, with `target` None).
fn new_deployment(
    ctx: &RequestContext,
    env: &Environment,
    kind: DeploymentKind,
    initial: Option<EnvironmentState>,
    target: Option<EnvironmentState>,
    now: Timestamp,
) -> DeploymentRecord {
    let id = uuid::Uuid::now_v7().to_string();
    let status = match kind {
        DeploymentKind::Deploy => DeploymentStatus::InProgress,
        DeploymentKind::Delete => DeploymentStatus::DeleteInProgress,
    };
    DeploymentRecord {
        deployment: Deployment {
            arn: arn::deployment(ctx, &id),
            completed_at: None,
            component_name: None,
            created_at: now,
            deployment_status: status,
            deployment_status_message: None,
            environment_name: env.name.clone(),
            id,
            initial_state: initial.map(DeploymentState::Environment),
            last_attempted_deployment_id: env.last_attempted_deployment_id.clone(),
            last_modified_at: now,
            last_succeeded_deployment_id: env.last_succeeded_deployment_id.clone(),
            service_instance_name: None,
            service_name: None,
            target_arn: env.arn.clone(),
            target_resource_created_at: env.created_at,
            target_resource_type: DeploymentTargetResourceType::Environment,
            target_state: target.map(DeploymentState::Environment),
        },
        kind,
        outputs: Vec::new(),
        resources: Vec::new(),
    }
}

/// What the environment shows now, as a deployment state: the state a cancel returns to.
/// An environment that never deployed successfully has none.
fn current_state(env: &Environment) -> Option<EnvironmentState> {
    env.last_succeeded_deployment_id.as_ref()?;
    Some(shown_state(env))
}

fn shown_state(env: &Environment) -> EnvironmentState {
    EnvironmentState {
        spec: env.spec.clone(),
        template_major_version: env.template_major_version.clone(),
        template_minor_version: env.template_minor_version.clone(),
        template_name: env.template_name.clone(),
    }
}

/// The writes that start `deployment` on `env`: both records and the work item.
fn start_writes(
    ctx: &RequestContext,
    env: &EnvironmentRecord,
    env_expect: Expect,
    deployment: &DeploymentRecord,
) -> Vec<Write> {
    vec![
        records::put(&ctx.partition(), env, env_expect),
        records::put(&ctx.partition(), deployment, Expect::Absent),
        Write::Enqueue(WorkItem::new(&deployment.deployment.id, &ctx.partition())),
    ]
}

/// Marks `env` as deploying `deployment`.
fn mark_attempt(env: &mut Environment, deployment: &DeploymentRecord, now: Timestamp) {
    env.deployment_status = deployment.deployment.deployment_status;
    env.deployment_status_message = None;
    env.last_attempted_deployment_id = Some(deployment.deployment.id.clone());
    env.last_deployment_attempted_at = now;
}

pub async fn create(
    proton: &Proton,
    ctx: &RequestContext,
    input: CreateEnvironmentInput,
) -> Result<CreateEnvironmentOutput, ProtonError> {
    let store = proton.store.as_ref();
    let request = canonical(&input);
    let existing = records::load::<EnvironmentRecord>(store, &ctx.partition(), &input.name).await;
    if let Some(existing) = existing.or_internal(ctx)? {
        let what = format!("The environment {}", input.name);
        let same = existing.value.create_request.as_deref() == Some(request.as_str());
        replayed_create(&what, same, existing.value.modified)?;
        return Ok(CreateEnvironmentOutput {
            environment: existing.value.environment,
        });
    }
    if input.environment_account_connection_id.is_some() {
        return Err(ProtonError::validation(
            "protond does not support environment account connections yet.",
        ));
    }
    let template = require_template(proton, ctx, &input.template_name)
        .await?
        .value;
    let customer_managed = template.template.provisioning == Some(Provisioning::CustomerManaged);
    if customer_managed && input.provisioning_repository.is_none() {
        return Err(ProtonError::validation(format!(
            "The environment template {} is self-managed; provisioningRepository is required.",
            input.template_name
        )));
    }
    let version = resolve_version(
        proton,
        ctx,
        &input.template_name,
        &input.template_major_version,
        input.template_minor_version.as_deref(),
    )
    .await?;
    check_spec(proton, ctx, &input.template_name, &version, &input.spec).await?;

    let now = Timestamp::now();
    let target = EnvironmentState {
        spec: Some(input.spec.clone()),
        template_major_version: version.version.major_version.clone(),
        template_minor_version: version.version.minor_version.clone(),
        template_name: input.template_name.clone(),
    };
    let mut environment = Environment {
        arn: arn::environment(ctx, &input.name),
        codebuild_role_arn: input.codebuild_role_arn,
        component_role_arn: input.component_role_arn,
        created_at: now,
        deployment_status: DeploymentStatus::InProgress,
        deployment_status_message: None,
        description: input.description,
        environment_account_connection_id: None,
        environment_account_id: None,
        last_attempted_deployment_id: None,
        last_deployment_attempted_at: now,
        last_deployment_succeeded_at: now,
        last_succeeded_deployment_id: None,
        name: input.name.clone(),
        proton_service_role_arn: input.proton_service_role_arn,
        provisioning: customer_managed.then_some(Provisioning::CustomerManaged),
        provisioning_repository: input.provisioning_repository.map(repository),
        spec: None,
        template_major_version: String::new(),
        template_minor_version: String::new(),
        template_name: String::new(),
    };
    // Until its first deployment succeeds, an environment shows what it was asked to be.
    protond_engine::outcome::show_state(&mut environment, &target);
    let deployment = new_deployment(
        ctx,
        &environment,
        DeploymentKind::Deploy,
        None,
        Some(target),
        now,
    );
    mark_attempt(&mut environment, &deployment, now);
    let record = EnvironmentRecord {
        environment,
        create_request: Some(request),
        modified: false,
    };

    let mut writes = start_writes(ctx, &record, Expect::Absent, &deployment);
    if let Some(tags) = input.tags.filter(|t| !t.is_empty()) {
        let tags = TagsRecord {
            arn: record.environment.arn.clone(),
            tags,
        };
        writes.push(records::put(&ctx.partition(), &tags, Expect::Any));
    }
    commit(store, ctx, writes).await.map_err(|e| {
        already_exists(e, || {
            format!("The environment {} already exists.", input.name)
        })
    })?;

    proton.engine.wake();
    Ok(CreateEnvironmentOutput {
        environment: record.environment,
    })
}

fn repository(input: RepositoryBranchInput) -> RepositoryBranch {
    let arn = format!(
        "arn:aws:proton:::repository/{}/{}",
        input.provider, input.name
    );
    RepositoryBranch {
        arn,
        branch: input.branch,
        name: input.name,
        provider: input.provider,
    }
}

pub async fn get(
    proton: &Proton,
    ctx: &RequestContext,
    input: GetEnvironmentInput,
) -> Result<GetEnvironmentOutput, ProtonError> {
    let stored = require_environment(proton, ctx, &input.name).await?;
    if let Some(own) = &ctx.deployment_id {
        // A deployment's commands may read the environment they deploy, and no other.
        let env = &stored.value.environment;
        if env.last_attempted_deployment_id.as_ref() != Some(own) {
            return Err(ProtonError::access_denied(
                "The credentials of a deployment's commands only reach that deployment.",
            ));
        }
    }
    Ok(GetEnvironmentOutput {
        environment: stored.value.environment,
    })
}

pub async fn list(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListEnvironmentsInput,
) -> Result<ListEnvironmentsOutput, ProtonError> {
    let filters = input.environment_templates.unwrap_or_default();
    let (records, next_token) = page::<EnvironmentRecord>(
        proton.store.as_ref(),
        ctx,
        None,
        false,
        input.next_token.as_deref(),
        input.max_results,
        |r| {
            let e = &r.environment;
            filters.is_empty()
                || filters.iter().any(|f| {
                    f.template_name == e.template_name
                        && f.major_version == e.template_major_version
                })
        },
    )
    .await?;
    let environments = records
        .into_iter()
        .map(|r| summary(r.environment))
        .collect();
    Ok(ListEnvironmentsOutput {
        environments,
        next_token,
    })
}

fn summary(e: Environment) -> EnvironmentSummary {
    EnvironmentSummary {
        arn: e.arn,
        component_role_arn: e.component_role_arn,
        created_at: e.created_at,
        deployment_status: e.deployment_status,
        deployment_status_message: e.deployment_status_message,
        description: e.description,
        environment_account_connection_id: e.environment_account_connection_id,
        environment_account_id: e.environment_account_id,
        last_attempted_deployment_id: e.last_attempted_deployment_id,
        last_deployment_attempted_at: e.last_deployment_attempted_at,
        last_deployment_succeeded_at: e.last_deployment_succeeded_at,
        last_succeeded_deployment_id: e.last_succeeded_deployment_id,
        name: e.name,
        proton_service_role_arn: e.proton_service_role_arn,
        provisioning: e.provisioning,
        template_major_version: e.template_major_version,
        template_minor_version: e.template_minor_version,
        template_name: e.template_name,
    }
}

pub async fn update(
    proton: &Proton,
    ctx: &RequestContext,
    input: UpdateEnvironmentInput,
) -> Result<UpdateEnvironmentOutput, ProtonError> {
    let stored = require_environment(proton, ctx, &input.name).await?;
    let mut record = stored.value;
    record.modified = true;
    let env = &mut record.environment;
    if input.environment_account_connection_id.is_some() {
        return Err(ProtonError::validation(
            "protond does not support environment account connections yet.",
        ));
    }

    // Metadata every deployment type may change.
    if input.description.is_some() {
        env.description = input.description.clone();
    }
    if input.proton_service_role_arn.is_some() {
        env.proton_service_role_arn = input.proton_service_role_arn.clone();
    }
    if input.codebuild_role_arn.is_some() {
        env.codebuild_role_arn = input.codebuild_role_arn.clone();
    }
    if input.component_role_arn.is_some() {
        env.component_role_arn = input.component_role_arn.clone();
    }
    if let Some(repo) = input.provisioning_repository.clone() {
        env.provisioning_repository = Some(repository(repo));
    }

    if input.deployment_type == DeploymentUpdateType::None {
        if input.spec.is_some()
            || input.template_major_version.is_some()
            || input.template_minor_version.is_some()
        {
            return Err(ProtonError::validation(
                "deploymentType NONE changes metadata only; send spec or template versions \
                 with CURRENT_VERSION, MINOR_VERSION or MAJOR_VERSION.",
            ));
        }
        let write = records::put(&ctx.partition(), &record, Expect::Revision(stored.revision));
        commit(proton.store.as_ref(), ctx, vec![write]).await?;
        return Ok(UpdateEnvironmentOutput {
            environment: record.environment,
        });
    }

    // Decide: which version and spec the deployment targets.
    if in_flight(env.deployment_status) {
        return Err(busy(env));
    }
    let version = target_version(proton, ctx, env, &input).await?;
    let spec = input
        .spec
        .clone()
        .or_else(|| env.spec.clone())
        .unwrap_or_default();
    check_spec(proton, ctx, &env.template_name, &version, &spec).await?;
    let target = EnvironmentState {
        spec: Some(spec),
        template_major_version: version.version.major_version.clone(),
        template_minor_version: version.version.minor_version.clone(),
        template_name: env.template_name.clone(),
    };

    let now = Timestamp::now();
    let initial = current_state(env);
    let deployment = new_deployment(
        ctx,
        env,
        DeploymentKind::Deploy,
        initial,
        Some(target.clone()),
        now,
    );
    mark_attempt(env, &deployment, now);
    if env.last_succeeded_deployment_id.is_none() {
        // Never deployed successfully: keep showing what it is being asked to be.
        protond_engine::outcome::show_state(env, &target);
    }

    let writes = start_writes(ctx, &record, Expect::Revision(stored.revision), &deployment);
    commit(proton.store.as_ref(), ctx, writes).await?;

    proton.engine.wake();
    Ok(UpdateEnvironmentOutput {
        environment: record.environment,
    })
}

/// The template version an update deploys, by its deployment type.
async fn target_version(
    proton: &Proton,
    ctx: &RequestContext,
    env: &Environment,
    input: &UpdateEnvironmentInput,
) -> Result<TemplateVersionRecord, ProtonError> {
    let template = &env.template_name;
    let current_major = &env.template_major_version;
    let number = |s: &str| s.parse::<u64>().unwrap_or(0);
    match input.deployment_type {
        DeploymentUpdateType::None | DeploymentUpdateType::CurrentVersion => {
            if input.template_major_version.is_some() || input.template_minor_version.is_some() {
                return Err(ProtonError::validation(
                    "deploymentType CURRENT_VERSION redeploys the current template version; \
                     templateMajorVersion and templateMinorVersion are not allowed.",
                ));
            }
            let minor = &env.template_minor_version;
            Ok(require_version(proton, ctx, template, current_major, minor)
                .await?
                .value)
        }
        DeploymentUpdateType::MinorVersion => {
            if let Some(major) = &input.template_major_version
                && major != current_major
            {
                return Err(ProtonError::validation(format!(
                    "deploymentType MINOR_VERSION stays in major version {current_major}; use \
                     MAJOR_VERSION to move to {major}."
                )));
            }
            let minor = input.template_minor_version.as_deref();
            resolve_version(proton, ctx, template, current_major, minor).await
        }
        DeploymentUpdateType::MajorVersion => {
            let major = match &input.template_major_version {
                Some(major) => major.clone(),
                None => {
                    let stored = require_template(proton, ctx, template).await?;
                    let recommended: Option<String> = stored.value.template.recommended_version;
                    let recommended = recommended.as_deref().and_then(|v| v.split_once('.'));
                    recommended
                        .map(|(major, _)| major.to_owned())
                        .ok_or_else(|| {
                            ProtonError::validation(format!(
                                "The environment template {template} has no published version."
                            ))
                        })?
                }
            };
            if number(&major) <= number(current_major) {
                return Err(ProtonError::validation(format!(
                    "deploymentType MAJOR_VERSION moves to a higher major version than \
                     {current_major}; {major} is not higher."
                )));
            }
            let minor = input.template_minor_version.as_deref();
            resolve_version(proton, ctx, template, &major, minor).await
        }
    }
}

pub async fn delete(
    proton: &Proton,
    ctx: &RequestContext,
    input: DeleteEnvironmentInput,
) -> Result<DeleteEnvironmentOutput, ProtonError> {
    // DeleteEnvironment is idempotent in Proton: a retry while the deletion runs returns the
    // environment, and one after it completed returns an empty answer.
    let store = proton.store.as_ref();
    let found = records::load::<EnvironmentRecord>(store, &ctx.partition(), &input.name).await;
    let Some(stored) = found.or_internal(ctx)? else {
        return Ok(DeleteEnvironmentOutput { environment: None });
    };
    let mut record = stored.value;
    let env = &mut record.environment;
    if env.deployment_status == DeploymentStatus::DeleteInProgress {
        return Ok(DeleteEnvironmentOutput {
            environment: Some(record.environment),
        });
    }
    if in_flight(env.deployment_status) {
        return Err(busy(env));
    }

    let now = Timestamp::now();
    let current = Some(shown_state(env));
    let deployment = new_deployment(ctx, env, DeploymentKind::Delete, current, None, now);
    mark_attempt(env, &deployment, now);

    let writes = start_writes(ctx, &record, Expect::Revision(stored.revision), &deployment);
    commit(proton.store.as_ref(), ctx, writes).await?;

    proton.engine.wake();
    Ok(DeleteEnvironmentOutput {
        environment: Some(record.environment),
    })
}

pub async fn cancel(
    proton: &Proton,
    ctx: &RequestContext,
    input: CancelEnvironmentDeploymentInput,
) -> Result<CancelEnvironmentDeploymentOutput, ProtonError> {
    let store = proton.store.as_ref();
    let stored = require_environment(proton, ctx, &input.environment_name).await?;
    let mut record = stored.value;
    record.modified = true;
    let env = &mut record.environment;

    let nothing = || {
        ProtonError::conflict(format!(
            "The environment {} has no deployment in progress to cancel (status {}).",
            input.environment_name, env.deployment_status
        ))
    };
    if env.deployment_status != DeploymentStatus::InProgress {
        return Err(nothing());
    }
    let id = env
        .last_attempted_deployment_id
        .clone()
        .ok_or_else(nothing)?;
    let deployment =
        require::<DeploymentRecord>(store, ctx, &id, || nothing().message().to_owned()).await?;
    if deployment.value.deployment.deployment_status != DeploymentStatus::InProgress {
        return Err(nothing());
    }

    let now = Timestamp::now();
    let mut cancelling = deployment.value;
    cancelling.deployment.deployment_status = DeploymentStatus::Cancelling;
    cancelling.deployment.last_modified_at = now;
    env.deployment_status = DeploymentStatus::Cancelling;

    let writes = vec![
        records::put(&ctx.partition(), &record, Expect::Revision(stored.revision)),
        records::put(
            &ctx.partition(),
            &cancelling,
            Expect::Revision(deployment.revision),
        ),
        Write::RequestCancel {
            deployment_id: id.clone(),
        },
    ];
    commit(store, ctx, writes).await?;

    proton.engine.cancel(&id);
    Ok(CancelEnvironmentDeploymentOutput {
        environment: record.environment,
    })
}
