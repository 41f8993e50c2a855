//! Seeding a large history straight into the SQLite database while protond is stopped: a
//! million deployments through the API would take longer than the benchmark itself.
//!
//! The records are copies of ones protond wrote itself through the API (an environment that
//! deployed successfully, and that deployment), renamed, re-identified and stored through
//! `protond-store`'s `SqliteStore` with the engine's record types, so protond reads them as its
//! own. Writes go in large batches, one transaction each.

use std::path::Path;

use anyhow::Context as _;
use protond_engine::records::{self, DeploymentRecord, EnvironmentRecord};
use protond_store::{Expect, SqliteStore, Store as _, Write};
use protond_wire::DeploymentStatus;

/// The environment that receives a tenth of the seeded deployments, for deep per-environment
/// pages.
pub const HOT_ENVIRONMENT: &str = "seed-hot";

/// What was seeded.
pub struct Seeded {
    /// The names of the environments added.
    pub environments: Vec<String>,
    /// How many deployments were added.
    pub deployments: usize,
    /// A key far down the account's deployment list (newest first): the position of a deep page.
    pub deep_key: String,
    /// A key far down the hot environment's deployment list.
    pub hot_deep_key: String,
}

/// Adds environments and deployments to the database at `database` (protond must be stopped)
/// so that the account `partition` holds `environments` environments and `deployments`
/// deployments in all, given that it holds `have_envs` and `have_deployments` now. The
/// environment `model` (which must have deployed successfully) is what every copy is made of.
pub async fn seed(
    database: &Path,
    partition: &str,
    model: &str,
    (have_envs, have_deployments): (usize, usize),
    (environments, deployments): (usize, usize),
) -> anyhow::Result<Seeded> {
    let store = SqliteStore::open(database).await?;
    let env_model = records::load::<EnvironmentRecord>(&store, partition, model)
        .await?
        .context("the model environment")?
        .value;
    let dep_id = env_model
        .environment
        .last_succeeded_deployment_id
        .clone()
        .context("the model environment has no successful deployment")?;
    let dep_model = records::load::<DeploymentRecord>(&store, partition, &dep_id)
        .await?
        .context("the model deployment")?
        .value;
    anyhow::ensure!(
        dep_model.deployment.deployment_status == DeploymentStatus::Succeeded,
        "the model deployment did not succeed"
    );
    let arn_prefix = env_model
        .environment
        .arn
        .strip_suffix(model)
        .context("the model environment's ARN")?
        .to_owned();
    let dep_arn_prefix = dep_model
        .deployment
        .arn
        .strip_suffix(&dep_id)
        .context("the model deployment's ARN")?
        .to_owned();

    let new_envs = environments.saturating_sub(have_envs).max(2);
    let new_deps = deployments.saturating_sub(have_deployments).max(new_envs);
    let hot_count = (new_deps / 10).max(1);
    let mut names: Vec<String> = (0..new_envs - 1).map(|i| format!("seed-{i:06}")).collect();
    names.push(HOT_ENVIRONMENT.to_owned());
    // Deployments per environment: the hot one gets a tenth, the others share the rest.
    let others = new_envs - 1;
    let rest = new_deps - hot_count;
    let mut seeded = Seeded {
        environments: Vec::new(),
        deployments: 0,
        deep_key: String::new(),
        hot_deep_key: String::new(),
    };
    let deep_at = new_deps / 20;
    let hot_deep_at = hot_count / 20;
    let mut writes: Vec<Write> = Vec::with_capacity(BATCH + 64);
    for (i, name) in names.iter().enumerate() {
        let count = if i == others {
            hot_count
        } else {
            rest / others + usize::from(i < rest % others)
        };
        let mut env = env_model.clone();
        env.environment.name = name.clone();
        env.environment.arn = format!("{arn_prefix}{name}");
        env.create_request = None;
        let mut last = None;
        for n in 0..count {
            let id = uuid::Uuid::now_v7().to_string();
            let mut dep = dep_model.clone();
            dep.deployment.id = id.clone();
            dep.deployment.arn = format!("{dep_arn_prefix}{id}");
            dep.deployment.environment_name = name.clone();
            dep.deployment.target_arn = env.environment.arn.clone();
            dep.deployment.last_attempted_deployment_id = last.clone();
            dep.deployment.last_succeeded_deployment_id = last.clone();
            writes.push(records::put(partition, &dep, Expect::Absent));
            if seeded.deployments == deep_at {
                seeded.deep_key = id.clone();
            }
            if i == others && n == hot_deep_at {
                seeded.hot_deep_key = id.clone();
            }
            seeded.deployments += 1;
            last = Some(id);
            if writes.len() >= BATCH {
                store.commit(std::mem::take(&mut writes)).await?;
            }
        }
        env.environment.last_attempted_deployment_id = last.clone();
        env.environment.last_succeeded_deployment_id = last;
        writes.push(records::put(partition, &env, Expect::Absent));
        seeded.environments.push(name.clone());
    }
    if !writes.is_empty() {
        store.commit(writes).await?;
    }
    Ok(seeded)
}

/// Writes per transaction while seeding.
const BATCH: usize = 20_000;
