//! Deployments (Get, List, Delete), the notify call that commands and external pipelines use to
//! report outputs, and the environment's outputs and provisioned resources.

use protond_engine::outcome::merge_outputs;
use protond_engine::records::{self, DeploymentRecord, EnvironmentRecord, Stored};
use protond_store::Expect;
use protond_wire::*;

use super::environments::in_flight;
use super::{commit, page, require};
use crate::arn::{self, Resource};
use crate::failure::OrInternal;
use crate::service::Proton;

fn missing(id: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The deployment {id} does not exist.")
}

async fn require_deployment(
    proton: &Proton,
    ctx: &RequestContext,
    id: &str,
) -> Result<Stored<DeploymentRecord>, ProtonError> {
    require(proton.store.as_ref(), ctx, id, missing(id)).await
}

/// Deployments of services, service instances and components do not exist in protond yet, so
/// asking for one by those names finds nothing.
fn names_other_resources(
    service: &Option<String>,
    instance: &Option<String>,
    component: &Option<String>,
) -> bool {
    service.is_some() || instance.is_some() || component.is_some()
}

/// A deployment's commands may only see and report on their own deployment.
pub fn only_own_deployment(ctx: &RequestContext, id: &str) -> Result<(), ProtonError> {
    match &ctx.deployment_id {
        Some(own) if own != id => Err(ProtonError::access_denied(
            "The credentials of a deployment's commands only reach that deployment.",
        )),
        _ => Ok(()),
    }
}

pub async fn get(
    proton: &Proton,
    ctx: &RequestContext,
    input: GetDeploymentInput,
) -> Result<GetDeploymentOutput, ProtonError> {
    if names_other_resources(
        &input.service_name,
        &input.service_instance_name,
        &input.component_name,
    ) {
        return Err(ProtonError::not_found(missing(&input.id)()));
    }
    only_own_deployment(ctx, &input.id)?;
    let stored = require_deployment(proton, ctx, &input.id).await?;
    let deployment = stored.value.deployment;
    if input
        .environment_name
        .as_ref()
        .is_some_and(|e| *e != deployment.environment_name)
    {
        return Err(ProtonError::not_found(missing(&input.id)()));
    }
    Ok(GetDeploymentOutput {
        deployment: Some(deployment),
    })
}

pub async fn list(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListDeploymentsInput,
) -> Result<ListDeploymentsOutput, ProtonError> {
    if names_other_resources(
        &input.service_name,
        &input.service_instance_name,
        &input.component_name,
    ) {
        return Ok(ListDeploymentsOutput {
            deployments: Vec::new(),
            next_token: None,
        });
    }
    // Deployment ids are time-ordered (UUIDv7), so newest first is descending key order.
    let (records, next_token) = page::<DeploymentRecord>(
        proton.store.as_ref(),
        ctx,
        input.environment_name.clone(),
        true,
        input.next_token.as_deref(),
        input.max_results,
        |_| true,
    )
    .await?;
    let deployments = records.into_iter().map(|r| summary(r.deployment)).collect();
    Ok(ListDeploymentsOutput {
        deployments,
        next_token,
    })
}

fn summary(d: Deployment) -> DeploymentSummary {
    DeploymentSummary {
        arn: d.arn,
        completed_at: d.completed_at,
        component_name: d.component_name,
        created_at: d.created_at,
        deployment_status: d.deployment_status,
        environment_name: d.environment_name,
        id: d.id,
        last_attempted_deployment_id: d.last_attempted_deployment_id,
        last_modified_at: d.last_modified_at,
        last_succeeded_deployment_id: d.last_succeeded_deployment_id,
        service_instance_name: d.service_instance_name,
        service_name: d.service_name,
        target_arn: d.target_arn,
        target_resource_created_at: d.target_resource_created_at,
        target_resource_type: d.target_resource_type,
    }
}

pub async fn delete(
    proton: &Proton,
    ctx: &RequestContext,
    input: DeleteDeploymentInput,
) -> Result<DeleteDeploymentOutput, ProtonError> {
    let stored = require_deployment(proton, ctx, &input.id).await?;
    let deployment = stored.value.deployment;
    let environment = records::load::<EnvironmentRecord>(
        proton.store.as_ref(),
        &ctx.partition(),
        &deployment.environment_name,
    )
    .await
    .or_internal(ctx)?;
    // The deployment whose state and outputs the environment shows stays while it does.
    if let Some(env) = environment.map(|e| e.value.environment)
        && (env.last_succeeded_deployment_id.as_deref() == Some(input.id.as_str())
            || env.last_attempted_deployment_id.as_deref() == Some(input.id.as_str()))
    {
        return Err(ProtonError::conflict(format!(
            "The deployment {} is the one the environment {} shows; it can be deleted once \
             another deployment replaces it.",
            input.id, env.name
        )));
    }
    if in_flight(deployment.deployment_status) {
        return Err(ProtonError::conflict(format!(
            "The deployment {} is still running (status {}); it can be deleted once it ends.",
            input.id, deployment.deployment_status
        )));
    }

    let write = records::delete::<DeploymentRecord>(
        &ctx.partition(),
        &input.id,
        Expect::Revision(stored.revision),
    );
    commit(proton.store.as_ref(), ctx, vec![write]).await?;
    Ok(DeleteDeploymentOutput {
        deployment: Some(deployment),
    })
}

/// Records outputs reported for a deployment in flight. For CodeBuild-style deployments the
/// commands' exit status decides how the deployment ends, so `status` is recorded in the log
/// only; outputs are kept and shown once the deployment succeeds.
pub async fn notify(
    proton: &Proton,
    ctx: &RequestContext,
    input: NotifyResourceDeploymentStatusChangeInput,
) -> Result<NotifyResourceDeploymentStatusChangeOutput, ProtonError> {
    let store = proton.store.as_ref();
    let Resource::Environment(name) = arn::parse(ctx, &input.resource_arn)? else {
        return Err(ProtonError::not_found(format!(
            "The resource {} does not exist.",
            input.resource_arn
        )));
    };
    let env = require::<EnvironmentRecord>(store, ctx, &name, || {
        format!("The environment {name} does not exist.")
    })
    .await?
    .value
    .environment;
    let id = input
        .deployment_id
        .clone()
        .or(env.last_attempted_deployment_id.clone())
        .ok_or_else(|| {
            ProtonError::conflict(format!("The environment {name} has no deployment."))
        })?;

    only_own_deployment(ctx, &id)?;

    for _ in 0..10 {
        let stored = require_deployment(proton, ctx, &id).await?;
        let mut deployment = stored.value;
        if deployment.deployment.environment_name != name {
            return Err(ProtonError::not_found(missing(&id)()));
        }
        if !in_flight(deployment.deployment.deployment_status) {
            return Err(ProtonError::conflict(format!(
                "The deployment {id} has already ended (status {}).",
                deployment.deployment.deployment_status
            )));
        }
        let reported = input
            .outputs
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|o| {
                (
                    o.key.unwrap_or_default(),
                    o.value_string.unwrap_or_default(),
                )
            });
        merge_outputs(&mut deployment.outputs, reported.collect());
        deployment.deployment.last_modified_at = Timestamp::now();
        let write = records::put(
            &ctx.partition(),
            &deployment,
            Expect::Revision(stored.revision),
        );
        match commit(store, ctx, vec![write]).await {
            Ok(()) => return Ok(NotifyResourceDeploymentStatusChangeOutput {}),
            Err(e) if e.kind() == ErrorKind::Conflict => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ProtonError::conflict(
        "The deployment changed too often to record the outputs; retry.",
    ))
}

pub async fn list_outputs(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListEnvironmentOutputsInput,
) -> Result<ListEnvironmentOutputsOutput, ProtonError> {
    let store = proton.store.as_ref();
    let name = &input.environment_name;
    let env = require::<EnvironmentRecord>(store, ctx, name, || {
        format!("The environment {name} does not exist.")
    })
    .await?
    .value
    .environment;

    let id = input
        .deployment_id
        .clone()
        .or(env.last_succeeded_deployment_id.clone());
    let Some(id) = id else {
        return Ok(ListEnvironmentOutputsOutput {
            outputs: Vec::new(),
            next_token: None,
        });
    };
    let deployment = records::load::<DeploymentRecord>(store, &ctx.partition(), &id)
        .await
        .or_internal(ctx)?
        .filter(|d| d.value.deployment.environment_name == *name)
        .ok_or_else(|| ProtonError::not_found(missing(&id)()))?;
    Ok(ListEnvironmentOutputsOutput {
        outputs: deployment.value.outputs,
        next_token: None,
    })
}

/// The resources recorded by the environment's last successful deployment: a CloudFormation
/// stack's resources. CodeBuild-style commands do not tell protond what they created, so their
/// list is empty; the environment's outputs carry what the commands chose to report.
pub async fn list_provisioned_resources(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListEnvironmentProvisionedResourcesInput,
) -> Result<ListEnvironmentProvisionedResourcesOutput, ProtonError> {
    let name = &input.environment_name;
    let store = proton.store.as_ref();
    let environment = require::<EnvironmentRecord>(store, ctx, name, || {
        format!("The environment {name} does not exist.")
    })
    .await?;

    let succeeded = environment
        .value
        .environment
        .last_succeeded_deployment_id
        .clone();
    let resources = match succeeded {
        Some(id) => records::load::<DeploymentRecord>(store, &ctx.partition(), &id)
            .await
            .or_internal(ctx)?
            .map(|d| d.value.resources)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(ListEnvironmentProvisionedResourcesOutput {
        provisioned_resources: resources,
        next_token: None,
    })
}
