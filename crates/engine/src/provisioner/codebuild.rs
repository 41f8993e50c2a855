//! CodeBuild-style provisioning (`rendering_engine: codebuild`): the manifest's `provision` and
//! `deprovision` commands run on this host, in a fresh directory holding the bundle's
//! `infrastructure/` files and a rendered `proton-inputs.json`.
//!
//! A cancel returns the environment to where it was, as CloudFormation does: the running
//! commands are stopped, then the `provision` commands run again with the deployment's initial
//! state; a first deployment has no initial state, so its `deprovision` commands run instead.
//! `image` and `runtimes` are recorded in the manifest and not used: commands run on the host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;

use protond_bundle::{InputType, Provisioning};

use super::commands::{CommandRun, RunEnd, append_log, run_commands};
use super::{Job, Outcome, Provisioner, Started, State, Task};

/// The file the commands may write their outputs to.
pub const OUTPUTS_FILE: &str = "proton-outputs.json";

/// Runs CodeBuild-style bundles on the host.
pub struct CodeBuild {
    /// How long commands get between SIGTERM and SIGKILL when stopped.
    pub grace: Duration,
}

#[async_trait::async_trait]
impl Provisioner for CodeBuild {
    async fn run(&self, job: &Job, stop: watch::Receiver<bool>, started: Started) -> Outcome {
        match &job.task {
            Task::Deploy { target, initial } => {
                let end = self
                    .phase(job, Phase::Provision, target, stop, &started)
                    .await;
                match end {
                    Ok(RunEnd::Completed) => succeeded(job, Phase::Provision),
                    Ok(RunEnd::Stopped) => {
                        self.restore(job, target, initial.as_ref(), &started).await
                    }
                    Ok(end) => failed(Phase::Provision, end, job.timeout),
                    Err(message) => Outcome::Failed { message },
                }
            }
            Task::Delete { current } => {
                let end = self
                    .phase(job, Phase::Deprovision, current, stop, &started)
                    .await;
                match end {
                    Ok(RunEnd::Completed) => Outcome::Succeeded {
                        outputs: Vec::new(),
                        resources: Vec::new(),
                    },
                    Ok(end) => failed(Phase::Deprovision, end, job.timeout),
                    Err(message) => Outcome::Failed { message },
                }
            }
        }
    }
}

/// Which command list a run uses, and where.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Provision,
    Deprovision,
    Restore,
    RestoreByDeprovision,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Provision => "provision",
            Phase::Deprovision => "deprovision",
            Phase::Restore => "restore",
            Phase::RestoreByDeprovision => "restore-deprovision",
        }
    }

    fn uses_deprovision_commands(self) -> bool {
        match self {
            Phase::Provision | Phase::Restore => false,
            Phase::Deprovision | Phase::RestoreByDeprovision => true,
        }
    }
}

impl CodeBuild {
    /// Prepares a directory for `phase` and runs its commands.
    async fn phase(
        &self,
        job: &Job,
        phase: Phase,
        state: &State,
        stop: watch::Receiver<bool>,
        started: &Started,
    ) -> Result<RunEnd, String> {
        let dir = job.workdir.join(phase.name());
        prepare(&dir, job, state).map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
        let Provisioning::CodeBuild(settings) = &state.bundle.manifest.provisioning else {
            return Err("the template version is not a CodeBuild-style bundle".into());
        };
        let commands = if phase.uses_deprovision_commands() {
            settings.deprovision.clone()
        } else {
            settings.provision.clone()
        };
        let mut env = job.callback_env.clone();
        env.push(("RESOURCE_ARN".into(), job.environment_arn.clone()));
        env.push(("AWS_REGION".into(), job.region.clone()));
        env.push(("AWS_DEFAULT_REGION".into(), job.region.clone()));
        env.push(("PROTOND_DEPLOYMENT_ID".into(), job.deployment_id.clone()));
        let run = CommandRun {
            phase: phase.name(),
            commands,
            workdir: dir,
            env,
            log: job.log.clone(),
            timeout: job.timeout,
            grace: self.grace,
        };
        Ok(run_commands(&run, stop, |pgid| started(format!("pgid={pgid}"))).await)
    }

    /// Returns the environment to its state before the deployment, after a stop.
    async fn restore(
        &self,
        job: &Job,
        target: &State,
        initial: Option<&State>,
        started: &Started,
    ) -> Outcome {
        append_log(
            &job.log,
            "[protond] cancelled: restoring the previous state\n",
        );
        // The restore itself cannot be cancelled: a second cancel finds the deployment
        // CANCELLING already and is refused.
        let (_keep, never) = watch::channel(false);
        let (phase, state) = match initial {
            Some(initial) => (Phase::Restore, initial),
            None => (Phase::RestoreByDeprovision, target),
        };
        // The restore's processes are recorded like the deployment's, so that a crash during
        // the restore finds and stops them too.
        match self.phase(job, phase, state, never, started).await {
            Ok(RunEnd::Completed) => Outcome::Cancelled,
            Ok(end) => Outcome::CancelFailed {
                message: format!("cancel failed: {}", describe_end(phase, &end, job.timeout)),
            },
            Err(message) => Outcome::CancelFailed {
                message: format!("cancel failed: {message}"),
            },
        }
    }
}

/// Writes the bundle's files and `proton-inputs.json` into a fresh `dir`.
fn prepare(dir: &Path, job: &Job, state: &State) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    state.bundle.write_infrastructure(dir)?;
    let inputs = protond_bundle::proton_inputs_json(&job.environment_name, &state.inputs);
    let text = serde_json::to_vec_pretty(&inputs).expect("JSON values always serialize");
    std::fs::write(dir.join(protond_bundle::JSON_INPUTS_FILE), text)?;
    if let Provisioning::CodeBuild(settings) = &state.bundle.manifest.provisioning
        && settings.input_type == InputType::Hcl
    {
        let hcl = protond_bundle::proton_inputs_hcl(&job.environment_name, &state.inputs);
        std::fs::write(dir.join(protond_bundle::HCL_INPUTS_FILE), hcl)?;
    }
    Ok(())
}

fn succeeded(job: &Job, phase: Phase) -> Outcome {
    let path: PathBuf = job.workdir.join(phase.name()).join(OUTPUTS_FILE);
    match read_outputs(&path) {
        Ok(outputs) => Outcome::Succeeded {
            outputs,
            resources: Vec::new(),
        },
        Err(message) => Outcome::Failed { message },
    }
}

fn failed(phase: Phase, end: RunEnd, timeout: Duration) -> Outcome {
    Outcome::Failed {
        message: describe_end(phase, &end, timeout),
    }
}

fn describe_end(phase: Phase, end: &RunEnd, timeout: Duration) -> String {
    let phase = phase.name();
    match end {
        RunEnd::Completed => format!("{phase} commands completed"),
        RunEnd::CommandFailed {
            index,
            command,
            status,
        } => {
            format!("{phase} command {index} ({command}) failed with {status}")
        }
        RunEnd::Stopped => format!("{phase} commands were stopped"),
        RunEnd::TimedOut => format!(
            "{phase} commands did not finish within the deployment timeout of {}s and were \
             stopped",
            timeout.as_secs()
        ),
        RunEnd::SpawnFailed(reason) => format!("{phase} commands could not start: {reason}"),
    }
}

/// Reads `proton-outputs.json` if the commands wrote one: either an object of string values or
/// a list of `{"key": ..., "valueString": ...}` as the Proton API spells outputs.
fn read_outputs(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {OUTPUTS_FILE}: {e}")),
    };
    let bad = |why: &str| format!("{OUTPUTS_FILE} is not valid: {why}");
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .map(|(key, value)| Ok((key, scalar_text(value).ok_or_else(|| bad("not a scalar"))?)))
            .collect(),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|item| {
                let key = item
                    .get("key")
                    .and_then(|k| k.as_str())
                    .ok_or_else(|| bad("no key"))?;
                let value = item.get("valueString").cloned().unwrap_or_default();
                Ok((
                    key.to_owned(),
                    scalar_text(value).ok_or_else(|| bad("not a scalar"))?,
                ))
            })
            .collect(),
        _ => Err(bad("expected an object or a list")),
    }
}

fn scalar_text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null => Some(String::new()),
        _ => None,
    }
}
