//! What a provisioner's outcome means for a deployment and its environment.
//!
//! These are pure functions over records, so that every end of every deployment, cancelled or
//! not, follows from one table that tests can read.

use protond_wire::{DeploymentState, DeploymentStatus, EnvironmentState, Output, Timestamp};

use crate::provisioner::Outcome;
use crate::records::{DeploymentKind, DeploymentRecord, EnvironmentRecord};

/// The message a cancelled deployment carries, as Proton words it.
pub const CANCELLED_MESSAGE: &str = "User initiated cancellation.";

/// What to do with the environment once a deployment ended.
#[derive(Debug)]
pub enum EnvironmentChange {
    /// Store the updated environment.
    Update(Box<EnvironmentRecord>),
    /// The environment was deleted: remove it.
    Remove,
    /// Leave it alone: a later deployment owns it now.
    Keep,
}

/// The state of `deployment` after `outcome`, and what becomes of `environment`.
pub fn apply(
    deployment: &mut DeploymentRecord,
    environment: Option<&EnvironmentRecord>,
    outcome: Outcome,
    now: Timestamp,
) -> EnvironmentChange {
    let (status, message) = match (deployment.kind, &outcome) {
        (DeploymentKind::Deploy, Outcome::Succeeded { .. }) => (DeploymentStatus::Succeeded, None),
        (DeploymentKind::Deploy, Outcome::Failed { message }) => {
            (DeploymentStatus::Failed, Some(message.clone()))
        }
        (DeploymentKind::Deploy, Outcome::Cancelled) => (
            DeploymentStatus::Cancelled,
            Some(CANCELLED_MESSAGE.to_owned()),
        ),
        (DeploymentKind::Deploy, Outcome::CancelFailed { message }) => {
            (DeploymentStatus::Failed, Some(message.clone()))
        }
        (DeploymentKind::Delete, Outcome::Succeeded { .. }) => {
            (DeploymentStatus::DeleteComplete, None)
        }
        (DeploymentKind::Delete, Outcome::Failed { message })
        | (DeploymentKind::Delete, Outcome::CancelFailed { message }) => {
            (DeploymentStatus::DeleteFailed, Some(message.clone()))
        }
        (DeploymentKind::Delete, Outcome::Cancelled) => (
            DeploymentStatus::DeleteFailed,
            Some("the deletion was stopped".to_owned()),
        ),
    };
    if let Outcome::Succeeded { outputs } = outcome {
        merge_outputs(&mut deployment.outputs, outputs);
    }
    let d = &mut deployment.deployment;
    d.deployment_status = status;
    d.deployment_status_message = message.clone();
    d.last_modified_at = now;
    d.completed_at = Some(now);

    let Some(environment) = environment else {
        return EnvironmentChange::Keep;
    };
    let mut environment = environment.clone();
    let env = &mut environment.environment;
    if env.last_attempted_deployment_id.as_deref() != Some(d.id.as_str()) {
        return EnvironmentChange::Keep;
    }
    if status == DeploymentStatus::DeleteComplete {
        return EnvironmentChange::Remove;
    }
    env.deployment_status = status;
    env.deployment_status_message = message;
    if status == DeploymentStatus::Succeeded {
        if let Some(DeploymentState::Environment(target)) = &d.target_state {
            show_state(env, target);
        }
        env.last_succeeded_deployment_id = Some(d.id.clone());
        env.last_deployment_succeeded_at = now;
    }
    EnvironmentChange::Update(Box::new(environment))
}

/// Makes the environment show `state`: its template version and spec.
pub fn show_state(env: &mut protond_wire::Environment, state: &EnvironmentState) {
    env.template_name = state.template_name.clone();
    env.template_major_version = state.template_major_version.clone();
    env.template_minor_version = state.template_minor_version.clone();
    env.spec = state.spec.clone();
}

/// Adds `reported` to `outputs`: a key reported again takes the new value.
pub fn merge_outputs(outputs: &mut Vec<Output>, reported: Vec<(String, String)>) {
    for (key, value) in reported {
        match outputs
            .iter_mut()
            .find(|o| o.key.as_deref() == Some(key.as_str()))
        {
            Some(output) => output.value_string = Some(value),
            None => outputs.push(Output {
                key: Some(key),
                value_string: Some(value),
            }),
        }
    }
}
