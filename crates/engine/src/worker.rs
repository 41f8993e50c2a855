//! The engine's loops: claim queued deployments, run each to its end, renew leases, and end
//! what a dead node left behind.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protond_bundle::Bundle;
use protond_store::{Expect, StoreError, WorkItem, Write};
use protond_wire::{DeploymentState, DeploymentStatus, EnvironmentState, Timestamp};
use tokio::sync::watch;
use tracing::{Instrument, error, info, info_span, warn};

use crate::Engine;
use crate::outcome::{self, EnvironmentChange};
use crate::provisioner::codebuild::CodeBuild;
use crate::provisioner::commands::signal_group;
use crate::provisioner::{Job, Outcome, Provisioner, Started, State, Task};
use crate::records::{
    self, BundleRecord, DeploymentKind, DeploymentRecord, EnvironmentRecord, RecordError, Stored,
    TagsRecord, version_key,
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

/// Extends this node's leases, and passes on cancels requested through other nodes.
async fn renew_leases(engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let every = engine.inner.config.lease / 3;
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
    stop: watch::Receiver<bool>,
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
        run_provisioner(engine, &item, &deployment.value, stop).await
    };
    info!(outcome = ?outcome_name(&outcome), "deployment ended");
    finalize(engine, &item, outcome).await
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
        let (store, node, id) = (store.clone(), node.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.mark_started(&id, &node, &runner).await {
                warn!(error = %e, "cannot record the deployment's processes");
            }
        });
    });
    let provisioner = CodeBuild {
        grace: engine.inner.config.stop_grace,
    };
    let outcome = provisioner.run(&job, stop, started).await;
    let _ = std::fs::remove_dir_all(&job.workdir);
    outcome
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
    Ok(Job {
        deployment_id: d.id.clone(),
        environment_name: d.environment_name.clone(),
        environment_arn: env_arn,
        region,
        task,
        log: config.deployments_dir.join(format!("{}.log", d.id)),
        workdir,
        timeout: config.deployment_timeout,
        callback_env: vec![
            (
                "AWS_ENDPOINT_URL_PROTON".into(),
                config.callback_endpoint.clone(),
            ),
            ("AWS_ACCESS_KEY_ID".into(), "protond-deployment".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "protond-deployment".into()),
        ],
    })
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
    let bundle = load_bundle(engine, account, state).await?;
    let spec = state.spec.as_deref().unwrap_or("");
    let spec = protond_bundle::parse_spec(spec).map_err(|e| e.to_string())?;
    let inputs = bundle
        .schema
        .environment_inputs(&spec)
        .map_err(|e| e.to_string())?;
    Ok(Some(State {
        bundle: Arc::new(bundle),
        inputs,
    }))
}

async fn load_bundle(
    engine: &Engine,
    account: &str,
    state: &EnvironmentState,
) -> Result<Bundle, String> {
    let key = version_key(
        &state.template_name,
        &state.template_major_version,
        &state.template_minor_version,
    );
    let record = records::load::<BundleRecord>(engine.inner.store.as_ref(), account, &key)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "template version {}:{}.{} no longer exists",
                state.template_name, state.template_major_version, state.template_minor_version
            )
        })?;
    Bundle::from_archive(&record.value.archive, &protond_bundle::Limits::default())
        .map_err(|e| e.to_string())
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
        Outcome::Succeeded { outputs } => Outcome::Succeeded {
            outputs: outputs.clone(),
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

/// Stops the processes a previous run of this deployment left behind on this host. Only
/// processes that carry this deployment's id in their environment are signalled, so a
/// recycled process group id never hits an unrelated process.
fn stop_leftovers(item: &WorkItem) {
    let Some(pgid) = item
        .runner
        .as_deref()
        .and_then(|r| r.strip_prefix("pgid="))
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return;
    };
    let marker = format!("PROTOND_DEPLOYMENT_ID={}", item.deployment_id);
    if group_carries_marker(pgid, marker.as_bytes()) {
        warn!(pgid, "stopping processes left by the interrupted run");
        signal_group(pgid, libc::SIGKILL);
    }
}

/// Whether any live member of process group `pgid` has `marker` in its environment.
fn group_carries_marker(pgid: u32, marker: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            return false;
        };
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let in_group = fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid);
        in_group
            && std::fs::read(path.join("environ"))
                .map(|env| env.split(|b| *b == 0).any(|var| var == marker))
                .unwrap_or(false)
    })
}
