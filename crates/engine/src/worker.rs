//! The engine's loops: claim queued deployments, run each to its end, renew leases, and end
//! what a dead node left behind.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protond_bundle::Provisioning;
use protond_store::{Expect, StoreError, WorkItem, Write};
use protond_wire::{DeploymentState, DeploymentStatus, Timestamp};
use tokio::sync::{OwnedSemaphorePermit, watch};
use tracing::{Instrument, error, info, info_span, warn};

use crate::Engine;
use crate::credentials::DeploymentKey;
use crate::outcome::{self, EnvironmentChange};
use crate::provisioner::cloudformation::CloudFormation;
use crate::provisioner::codebuild::CodeBuild;
use crate::provisioner::commands::signal_group;
use crate::provisioner::{Job, Outcome, Provisioner, Started, State, Task};
use crate::records::{
    self, DeploymentKind, DeploymentRecord, EnvironmentRecord, RecordError, Stored, TagsRecord,
};

/// The message of a deployment whose node stopped while it ran.
pub fn interrupted_message() -> &'static str {
    "Deployment interrupted: the protond process running it stopped before it finished, so \
     its outcome is unknown and its commands were stopped. Update the environment to deploy \
     again."
}

fn now_millis() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Where a deployment's rendered templates are kept: `DEPLOYMENTS_DIR/<id>.rendered/`, beside
/// its log. The working directory itself is removed when the deployment ends.
pub fn rendered_dir(deployments_dir: &std::path::Path, deployment_id: &str) -> std::path::PathBuf {
    deployments_dir.join(format!("{deployment_id}.rendered"))
}

/// Claims and runs deployments until `shutdown`.
pub(crate) async fn run(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let renewals = tokio::spawn(renew_leases(engine.clone(), shutdown.clone()));
    let config = engine.inner.config.clone();
    // An exclusive store had no other user since this process opened it, so every lease in it
    // belongs to a process that is gone: take them over now instead of waiting them out.
    let mut take_over_all = engine.inner.store.is_exclusive();
    loop {
        let room = config.max_running.saturating_sub(engine.running());
        if room > 0 {
            let now = if take_over_all {
                i64::MAX
            } else {
                now_millis()
            };
            take_over_all = false;
            let lease_until = now_millis() + millis(config.lease);
            let limit = u32::try_from(room).unwrap_or(u32::MAX);
            match engine
                .inner
                .store
                .claim(&engine.inner.node, now, lease_until, limit)
                .await
            {
                Ok(items) => {
                    for item in items {
                        start(&engine, item);
                    }
                }
                Err(e) => error!(error = %e, "cannot claim deployments"),
            }
        }
        tokio::select! {
            _ = engine.inner.wake.notified() => {}
            _ = tokio::time::sleep(config.poll_interval) => {}
            _ = shutdown.wait_for(|s| *s) => break,
        }
    }
    renewals.abort();
}

/// Runs one claimed item in its own task, registered so that a cancel can reach it.
fn start(engine: &Engine, item: WorkItem) {
    let (stop, stop_rx) = watch::channel(item.cancel_requested);
    engine
        .inner
        .running
        .lock()
        .expect("poisoned")
        .insert(item.deployment_id.clone(), stop);
    let span = info_span!("deployment", deployment_id = %item.deployment_id);
    let engine = engine.clone();
    tokio::spawn(
        async move {
            let id = item.deployment_id.clone();
            if let Err(e) = run_item(&engine, item, stop_rx).await {
                error!(error = %e, "deployment could not be ended; its lease will run out");
            }
            engine.inner.running.lock().expect("poisoned").remove(&id);
            engine.wake();
        }
        .instrument(span),
    );
}

/// Extends this node's leases, and passes on cancels requested through other nodes. It runs
/// at every poll interval (at least three times a lease), so a cancel made through another node
/// reaches this one within about a poll interval.
async fn renew_leases(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let config = &engine.inner.config;
    let every = (config.lease / 3).min(config.poll_interval);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let lease_until = now_millis() + millis(engine.inner.config.lease);
        match engine
            .inner
            .store
            .renew(&engine.inner.node, lease_until)
            .await
        {
            Ok(cancelled) => cancelled.iter().for_each(|id| engine.cancel(id)),
            Err(e) => warn!(error = %e, "cannot renew deployment leases"),
        }
    }
}

async fn run_item(
    engine: &Engine,
    item: WorkItem,
    mut stop: watch::Receiver<bool>,
) -> Result<(), RecordError> {
    let store = engine.inner.store.as_ref();
    let Some(deployment) =
        records::load::<DeploymentRecord>(store, &item.account, &item.deployment_id).await?
    else {
        warn!("queued deployment has no record; dropping it");
        return finish_only(engine, &item).await;
    };
    let outcome = if item.started {
        warn!(
            runner = item.runner.as_deref().unwrap_or(""),
            "ending interrupted deployment"
        );
        stop_leftovers(&item);
        Outcome::Failed {
            message: interrupted_message().to_owned(),
        }
    } else if deployment.value.deployment.deployment_status == DeploymentStatus::Cancelling {
        // Cancelled before any command ran: there is nothing to undo.
        Outcome::Cancelled
    } else {
        match StartTurn::wait(engine, &mut stop).await {
            Some(turn) => {
                let outcome =
                    run_provisioner(engine, &item, &deployment.value, stop, turn.clone()).await;
                turn.end();
                outcome
            }
            // Cancelled while waiting for its turn: nothing ran.
            None => Outcome::Cancelled,
        }
    };
    info!(outcome = ?outcome_name(&outcome), "deployment ended");
    finalize(engine, &item, outcome).await
}

/// The longest a deployment keeps its turn to start when its commands or stack never start
/// (an endpoint that never answers, say): past it, the next deployment starts anyway.
const START_TURN_LIMIT: Duration = Duration::from_secs(60);

/// A deployment's turn to start ([`crate::EngineConfig::max_starting`]). It ends when the
/// deployment's commands or stack run, when the deployment ends, or after [`START_TURN_LIMIT`],
/// whichever comes first.
#[derive(Clone)]
struct StartTurn {
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    limit: tokio::task::AbortHandle,
}

impl StartTurn {
    /// Waits for a turn; `None` when the deployment is cancelled first.
    async fn wait(engine: &Engine, stop: &mut watch::Receiver<bool>) -> Option<StartTurn> {
        let starting = Arc::clone(&engine.inner.starting);
        let permit = tokio::select! {
            permit = starting.acquire_owned() => permit.ok(),
            Ok(_) = stop.wait_for(|stopped| *stopped) => return None,
        };
        let permit = Arc::new(Mutex::new(permit));
        let held = Arc::clone(&permit);
        let limit = tokio::spawn(async move {
            tokio::time::sleep(START_TURN_LIMIT).await;
            held.lock().expect("poisoned").take();
        });
        Some(StartTurn {
            permit,
            limit: limit.abort_handle(),
        })
    }

    fn end(&self) {
        self.permit.lock().expect("poisoned").take();
        self.limit.abort();
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded { .. } => "succeeded",
        Outcome::Failed { .. } => "failed",
        Outcome::Cancelled => "cancelled",
        Outcome::CancelFailed { .. } => "cancel_failed",
    }
}

async fn run_provisioner(
    engine: &Engine,
    item: &WorkItem,
    deployment: &DeploymentRecord,
    stop: watch::Receiver<bool>,
    turn: StartTurn,
) -> Outcome {
    let job = match build_job(engine, item, deployment).await {
        Ok(job) => job,
        Err(message) => return Outcome::Failed { message },
    };
    let store = engine.inner.store.clone();
    let node = engine.inner.node.clone();
    let id = item.deployment_id.clone();
    // Marked before anything starts, so that a crash from here on is seen as an interruption
    // rather than as work nobody began.
    if let Err(e) = store.mark_started(&id, &node, "starting").await {
        return Outcome::Failed {
            message: format!("cannot start the deployment: {e}"),
        };
    }
    let started: Started = Box::new(move |runner: String| {
        // The deployment runs: the next one may start.
        turn.end();
        let (store, node, id) = (store.clone(), node.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.mark_started(&id, &node, &runner).await {
                warn!(error = %e, "cannot record the deployment's processes");
            }
        });
    });
    let provisioner = match provisioner_for(engine, &job.task) {
        Ok(provisioner) => provisioner,
        Err(message) => return Outcome::Failed { message },
    };
    let outcome = provisioner.run(&job, stop, started).await;
    let _ = std::fs::remove_dir_all(&job.workdir);
    outcome
}

/// The provisioner for the bundle's provisioning method. A deployment that would move an
/// environment from one method to another is refused: neither provisioner could tear down
/// what the other one built.
fn provisioner_for(engine: &Engine, task: &Task) -> Result<Box<dyn Provisioner>, String> {
    let (state, initial) = match task {
        Task::Deploy { target, initial } => (target, initial.as_ref()),
        Task::Delete { current } => (current, None),
    };
    let method = &state.bundle.manifest.provisioning;
    if let Some(initial) = initial
        && std::mem::discriminant(&initial.bundle.manifest.provisioning)
            != std::mem::discriminant(method)
    {
        return Err(format!(
            "the environment is provisioned with {}, and the new template version uses {}; \
             protond cannot move an environment between provisioning methods",
            method_name(&initial.bundle.manifest.provisioning),
            method_name(method)
        ));
    }
    let config = &engine.inner.config;
    match method {
        Provisioning::CodeBuild(_) => Ok(Box::new(CodeBuild {
            grace: config.stop_grace,
        })),
        Provisioning::CloudFormation { .. } => Ok(Box::new(CloudFormation {
            settings: config.cloudformation.clone(),
        })),
        Provisioning::Terraform { .. } => Err(format!(
            "protond cannot deploy {} bundles yet",
            method_name(method)
        )),
    }
}

fn method_name(provisioning: &Provisioning) -> &'static str {
    match provisioning {
        Provisioning::CodeBuild(_) => "CodeBuild-style provisioning",
        Provisioning::CloudFormation { .. } => "AWS-managed provisioning (CloudFormation)",
        Provisioning::Terraform { .. } => "self-managed provisioning (Terraform)",
    }
}

/// Gathers what the provisioner needs: the bundles and inputs of the target and initial states.
async fn build_job(
    engine: &Engine,
    item: &WorkItem,
    deployment: &DeploymentRecord,
) -> Result<Job, String> {
    let d = &deployment.deployment;
    let store = engine.inner.store.as_ref();
    let environment = records::load::<EnvironmentRecord>(store, &item.account, &d.environment_name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("environment {} no longer exists", d.environment_name))?;
    let task = match deployment.kind {
        DeploymentKind::Deploy => {
            let target = state_of(engine, &item.account, d.target_state.as_ref()).await?;
            let initial = match d.initial_state.as_ref() {
                Some(initial) => Some(state_of(engine, &item.account, Some(initial)).await?),
                None => None,
            };
            let Some(target) = target else {
                return Err("the deployment has no target state".into());
            };
            Task::Deploy {
                target,
                initial: initial.flatten(),
            }
        }
        DeploymentKind::Delete => {
            let current = state_of(engine, &item.account, d.initial_state.as_ref())
                .await?
                .ok_or("the deletion has no state to tear down")?;
            Task::Delete { current }
        }
    };
    let config = &engine.inner.config;
    let workdir = config.deployments_dir.join(&d.id);
    std::fs::create_dir_all(&workdir)
        .map_err(|e| format!("cannot create {}: {e}", workdir.display()))?;
    let env_arn = environment.value.environment.arn.clone();
    let region = env_arn.split(':').nth(3).unwrap_or("us-east-1").to_owned();
    let callback_env = callback_env(config, &item.account, &region, &d.id);
    Ok(Job {
        callback_env,
        deployment_id: d.id.clone(),
        environment_name: d.environment_name.clone(),
        environment_arn: env_arn,
        region,
        task,
        log: config.deployments_dir.join(format!("{}.log", d.id)),
        rendered_dir: rendered_dir(&config.deployments_dir, &d.id),
        service_role_arn: environment
            .value
            .environment
            .proton_service_role_arn
            .clone(),
        workdir,
        timeout: config.deployment_timeout,
    })
}

/// What lets the commands call protond back: its endpoint and credentials that can only report
/// on this deployment.
fn callback_env(
    config: &crate::EngineConfig,
    partition: &str,
    region: &str,
    deployment_id: &str,
) -> Vec<(String, String)> {
    let account_id = partition.split('/').next().unwrap_or(partition);
    let key = DeploymentKey {
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        deployment_id: deployment_id.to_owned(),
    };
    vec![
        (
            "AWS_ENDPOINT_URL_PROTON".into(),
            config.callback_endpoint.clone(),
        ),
        ("AWS_ACCESS_KEY_ID".into(), key.access_key_id()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            key.secret_access_key(&config.credential_secret),
        ),
    ]
}

/// The bundle and inputs of a deployment state, if it names an environment state.
async fn state_of(
    engine: &Engine,
    account: &str,
    state: Option<&DeploymentState>,
) -> Result<Option<State>, String> {
    let Some(DeploymentState::Environment(state)) = state else {
        return Ok(None);
    };
    let bundle = engine
        .bundle(
            account,
            &state.template_name,
            &state.template_major_version,
            &state.template_minor_version,
        )
        .await?;
    let spec = state.spec.as_deref().unwrap_or("");
    let spec = protond_bundle::parse_spec(spec).map_err(|e| e.to_string())?;
    let inputs = bundle
        .schema
        .environment_inputs(&spec)
        .map_err(|e| e.to_string())?;
    Ok(Some(State { bundle, inputs }))
}

/// Writes the outcome in one commit with the release of the work item. A conflict means
/// someone changed the records meanwhile (a cancel, a notify): read again and retry.
async fn finalize(engine: &Engine, item: &WorkItem, outcome: Outcome) -> Result<(), RecordError> {
    let store = engine.inner.store.as_ref();
    let account = &item.account;
    for _ in 0..20 {
        let Some(Stored {
            value: mut deployment,
            revision,
        }) = records::load::<DeploymentRecord>(store, account, &item.deployment_id).await?
        else {
            return finish_only(engine, item).await;
        };
        let env_name = deployment.deployment.environment_name.clone();
        let environment = records::load::<EnvironmentRecord>(store, account, &env_name).await?;
        let change = outcome::apply(
            &mut deployment,
            environment.as_ref().map(|e| &e.value),
            clone_outcome(&outcome),
            Timestamp::now(),
        );
        let mut writes = vec![records::put(
            account,
            &deployment,
            Expect::Revision(revision),
        )];
        match (change, &environment) {
            (EnvironmentChange::Update(env), Some(current)) => writes.push(records::put(
                account,
                env.as_ref(),
                Expect::Revision(current.revision),
            )),
            (EnvironmentChange::Remove, Some(current)) => {
                let arn = &current.value.environment.arn;
                let expect = Expect::Revision(current.revision);
                writes.push(records::delete::<EnvironmentRecord>(
                    account, &env_name, expect,
                ));
                writes.push(records::delete::<TagsRecord>(account, arn, Expect::Any));
            }
            _ => {}
        }
        writes.push(Write::Finish {
            deployment_id: item.deployment_id.clone(),
            node: engine.inner.node.clone(),
        });
        match store.commit(writes).await {
            Ok(()) => return Ok(()),
            Err(StoreError::Conflict(reason)) => {
                if !still_held(engine, item).await? {
                    warn!(%reason, "lost the deployment's lease; its new holder ends it");
                    return Ok(());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(RecordError::Store(StoreError::Conflict(
        "too many concurrent changes".into(),
    )))
}

fn clone_outcome(outcome: &Outcome) -> Outcome {
    match outcome {
        Outcome::Succeeded { outputs, resources } => Outcome::Succeeded {
            outputs: outputs.clone(),
            resources: resources.clone(),
        },
        Outcome::Failed { message } => Outcome::Failed {
            message: message.clone(),
        },
        Outcome::Cancelled => Outcome::Cancelled,
        Outcome::CancelFailed { message } => Outcome::CancelFailed {
            message: message.clone(),
        },
    }
}

async fn still_held(engine: &Engine, item: &WorkItem) -> Result<bool, RecordError> {
    let current = engine.inner.store.work_item(&item.deployment_id).await?;
    Ok(current.is_some_and(|w| w.node.as_deref() == Some(engine.inner.node.as_str())))
}

async fn finish_only(engine: &Engine, item: &WorkItem) -> Result<(), RecordError> {
    let finish = Write::Finish {
        deployment_id: item.deployment_id.clone(),
        node: engine.inner.node.clone(),
    };
    match engine.inner.store.commit(vec![finish]).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Stops the processes a previous run of this deployment left behind on this host: those that
/// carry this deployment's id in their environment (so a recycled process id never hits an
/// unrelated process), with their process groups. Processes that made a session of their own
/// (`setsid`) are what the commands meant to keep running, such as a service the environment
/// provides, and are left alone. Finding them does not depend on the run having recorded its
/// process group, which a crash can prevent.
fn stop_leftovers(item: &WorkItem) {
    let marker = format!("PROTOND_DEPLOYMENT_ID={}", item.deployment_id);
    for (pid, pgid) in marked_processes(marker.as_bytes()) {
        warn!(pid, pgid, "stopping a process left by the interrupted run");
        signal_group(pgid, libc::SIGKILL);
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill(2) takes plain integers.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// The live processes (pid and process group) with `marker` in their environment that are not
/// leaders of a session of their own.
fn marked_processes(marker: &[u8]) -> Vec<(u32, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let own = std::process::id();
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The fields after the command name (which may hold spaces) follow the last ')':
            // state, parent, process group, session.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let pgid: u32 = fields.get(2)?.parse().ok()?;
            let session: u32 = fields.get(3)?.parse().ok()?;
            let marked = std::fs::read(entry.path().join("environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|var| var == marker));
            (marked && session != pid && pid != own && fields.first() != Some(&"Z"))
                .then_some((pid, pgid))
        })
        .collect()
}
