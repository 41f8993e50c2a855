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
    if let Outcome::Succeeded { outputs, resources } = outcome {
        merge_outputs(&mut deployment.outputs, outputs);
        deployment.resources = resources;
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

#[cfg(test)]
mod tests {
    use protond_wire::{
        Deployment, DeploymentTargetResourceType, Environment, EnvironmentState, Timestamp,
    };

    use super::*;

    fn state(spec: &str, minor: &str) -> EnvironmentState {
        EnvironmentState {
            spec: Some(spec.into()),
            template_major_version: "1".into(),
            template_minor_version: minor.into(),
            template_name: "t".into(),
        }
    }

    fn records(kind: DeploymentKind) -> (DeploymentRecord, EnvironmentRecord) {
        let now = Timestamp::from_unix_millis(1_000);
        let deployment = Deployment {
            arn: "arn:aws:proton:us-east-1:123456789012:deployment/d2".into(),
            completed_at: None,
            component_name: None,
            created_at: now,
            deployment_status: DeploymentStatus::InProgress,
            deployment_status_message: None,
            environment_name: "dev".into(),
            id: "d2".into(),
            initial_state: Some(DeploymentState::Environment(state("old", "0"))),
            last_attempted_deployment_id: Some("d1".into()),
            last_modified_at: now,
            last_succeeded_deployment_id: Some("d1".into()),
            service_instance_name: None,
            service_name: None,
            target_arn: "arn:aws:proton:us-east-1:123456789012:environment/dev".into(),
            target_resource_created_at: now,
            target_resource_type: DeploymentTargetResourceType::Environment,
            target_state: Some(DeploymentState::Environment(state("new", "1"))),
        };
        let mut environment = Environment {
            arn: "arn:aws:proton:us-east-1:123456789012:environment/dev".into(),
            codebuild_role_arn: None,
            component_role_arn: None,
            created_at: now,
            deployment_status: DeploymentStatus::InProgress,
            deployment_status_message: None,
            description: None,
            environment_account_connection_id: None,
            environment_account_id: None,
            last_attempted_deployment_id: Some("d2".into()),
            last_deployment_attempted_at: now,
            last_deployment_succeeded_at: now,
            last_succeeded_deployment_id: Some("d1".into()),
            name: "dev".into(),
            proton_service_role_arn: None,
            provisioning: None,
            provisioning_repository: None,
            spec: None,
            template_major_version: String::new(),
            template_minor_version: String::new(),
            template_name: String::new(),
        };
        show_state(&mut environment, &state("old", "0"));
        (
            DeploymentRecord {
                deployment,
                kind,
                outputs: Vec::new(),
                resources: Vec::new(),
            },
            EnvironmentRecord {
                environment,
                create_request: None,
                modified: false,
            },
        )
    }

    fn updated(change: EnvironmentChange) -> Environment {
        match change {
            EnvironmentChange::Update(env) => env.environment,
            other => panic!("expected an update, got {other:?}"),
        }
    }

    #[test]
    fn success_shows_the_target_and_its_outputs() {
        let (mut d, env) = records(DeploymentKind::Deploy);
        let outputs = vec![("Url".to_owned(), "http://x".to_owned())];
        let now = Timestamp::from_unix_millis(5_000);
        let env = updated(apply(
            &mut d,
            Some(&env),
            Outcome::Succeeded {
                outputs,
                resources: Vec::new(),
            },
            now,
        ));
        assert_eq!(d.deployment.deployment_status, DeploymentStatus::Succeeded);
        assert_eq!(d.deployment.completed_at, Some(now));
        assert_eq!(d.outputs[0].value_string.as_deref(), Some("http://x"));
        assert_eq!(
            (env.spec.as_deref(), env.template_minor_version.as_str()),
            (Some("new"), "1")
        );
        assert_eq!(env.last_succeeded_deployment_id.as_deref(), Some("d2"));
        assert_eq!(env.last_deployment_succeeded_at, now);
    }

    #[test]
    fn cancel_keeps_the_previous_state_and_says_who_cancelled() {
        let (mut d, env) = records(DeploymentKind::Deploy);
        let now = Timestamp::from_unix_millis(5_000);
        let env = updated(apply(&mut d, Some(&env), Outcome::Cancelled, now));
        assert_eq!(d.deployment.deployment_status, DeploymentStatus::Cancelled);
        assert_eq!(
            d.deployment.deployment_status_message.as_deref(),
            Some(CANCELLED_MESSAGE)
        );
        assert_eq!(env.deployment_status, DeploymentStatus::Cancelled);
        assert_eq!(env.spec.as_deref(), Some("old"));
        assert_eq!(env.last_succeeded_deployment_id.as_deref(), Some("d1"));
    }

    #[test]
    fn failed_restore_ends_failed_with_its_reason() {
        let (mut d, env) = records(DeploymentKind::Deploy);
        let outcome = Outcome::CancelFailed {
            message: "cancel failed: boom".into(),
        };
        let env = updated(apply(&mut d, Some(&env), outcome, Timestamp::now()));
        assert_eq!(d.deployment.deployment_status, DeploymentStatus::Failed);
        assert_eq!(
            env.deployment_status_message.as_deref(),
            Some("cancel failed: boom")
        );
        assert_eq!(env.spec.as_deref(), Some("old"));
    }

    #[test]
    fn completed_deletion_removes_the_environment() {
        let (mut d, env) = records(DeploymentKind::Delete);
        let outcome = Outcome::Succeeded {
            outputs: Vec::new(),
            resources: Vec::new(),
        };
        let change = apply(&mut d, Some(&env), outcome, Timestamp::now());
        assert!(matches!(change, EnvironmentChange::Remove));
        assert_eq!(
            d.deployment.deployment_status,
            DeploymentStatus::DeleteComplete
        );
    }

    #[test]
    fn failed_deletion_keeps_the_environment_delete_failed() {
        let (mut d, env) = records(DeploymentKind::Delete);
        let outcome = Outcome::Failed {
            message: "deprovision failed".into(),
        };
        let env = updated(apply(&mut d, Some(&env), outcome, Timestamp::now()));
        assert_eq!(env.deployment_status, DeploymentStatus::DeleteFailed);
    }

    #[test]
    fn an_older_deployment_never_overwrites_a_newer_attempt() {
        let (mut d, mut env) = records(DeploymentKind::Deploy);
        env.environment.last_attempted_deployment_id = Some("d3".into());
        let change = apply(
            &mut d,
            Some(&env),
            Outcome::Failed {
                message: "x".into(),
            },
            Timestamp::now(),
        );
        assert!(matches!(change, EnvironmentChange::Keep));
        assert_eq!(d.deployment.deployment_status, DeploymentStatus::Failed);
    }
}
