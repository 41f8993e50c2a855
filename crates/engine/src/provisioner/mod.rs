//! Provisioners: what turns a deployment's rendered bundle into infrastructure.
//!
//! The engine hands a provisioner a [`Job`] and a stop signal and gets back one [`Outcome`].
//! A provisioner never writes deployment state itself: the engine alone decides what the
//! outcome means for the deployment and the environment, so that exactly one terminal state is
//! written whatever races happen around a cancel.

pub mod cloudformation;
pub mod codebuild;
pub mod commands;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use protond_bundle::Bundle;
use tokio::sync::watch;

/// One state of an environment a provisioner can bring about: a template version's bundle and
/// the inputs from a spec.
#[derive(Clone)]
pub struct State {
    /// The template version's bundle.
    pub bundle: Arc<Bundle>,
    /// The spec's inputs with the schema's defaults applied.
    pub inputs: serde_json::Value,
}

/// What the engine asks of a provisioner.
#[derive(Clone)]
pub enum Task {
    /// Bring the environment to `target`. `initial` is the state to return to when the
    /// deployment is cancelled; `None` for a first deployment.
    Deploy {
        /// The state to reach.
        target: State,
        /// The state before the deployment.
        initial: Option<State>,
    },
    /// Tear down the environment, currently in `current`.
    Delete {
        /// The state being torn down.
        current: State,
    },
}

/// Everything a provisioner needs to run one deployment.
#[derive(Clone)]
pub struct Job {
    /// The deployment's id.
    pub deployment_id: String,
    /// The environment's name.
    pub environment_name: String,
    /// The environment's ARN, given to commands as `RESOURCE_ARN`.
    pub environment_arn: String,
    /// The region the environment lives in.
    pub region: String,
    /// The work to do.
    pub task: Task,
    /// A fresh directory for this deployment's files.
    pub workdir: PathBuf,
    /// The deployment's log file.
    pub log: PathBuf,
    /// Where the rendered templates of a CloudFormation deployment are kept after it ends.
    pub rendered_dir: PathBuf,
    /// The environment's `protonServiceRoleArn`, if it has one.
    pub service_role_arn: Option<String>,
    /// How long the deployment may take.
    pub timeout: Duration,
    /// Variables for the commands that let them call back into protond.
    pub callback_env: Vec<(String, String)>,
}

/// How a provisioner's work ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The target state was reached (or the environment torn down).
    Succeeded {
        /// Outputs the provisioner read, as key and value.
        outputs: Vec<(String, String)>,
        /// The resources the environment now has, when the provisioner can tell (a
        /// CloudFormation stack's resources); empty otherwise.
        resources: Vec<protond_wire::ProvisionedResource>,
    },
    /// The work failed; `message` says why in words a user can act on.
    Failed {
        /// Why.
        message: String,
    },
    /// A stop was asked for, the work stopped and what it started was undone.
    Cancelled,
    /// A stop was asked for but stopping or undoing failed.
    CancelFailed {
        /// Why.
        message: String,
    },
}

/// Tells the engine that the provisioner's work is under way, and how to find it again after a
/// crash (the engine stores `runner` with the deployment's lease).
pub type Started = Box<dyn Fn(String) + Send + Sync>;

/// A way of provisioning.
#[async_trait::async_trait]
pub trait Provisioner: Send + Sync {
    /// Runs `job` until it ends or `stop` turns true.
    async fn run(&self, job: &Job, stop: watch::Receiver<bool>, started: Started) -> Outcome;
}
