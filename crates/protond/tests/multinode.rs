//! Several protond nodes serving one installation through PostgreSQL: any node answers, a
//! cancel made through one node reaches the node running the deployment, and a dead node's
//! deployment is taken over and ended once its lease runs out.
//!
//! The nodes share a schema of their own in the database at `PROTOND_TEST_DATABASE_URL` (by
//! default the local server's `test` database). Without a reachable PostgreSQL these tests are
//! skipped with a note, except under CI, where they fail.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use aws_sdk_proton::types::DeploymentStatus;
use common::{GatedSpec, Protond, process_alive, wait_for_file};

fn database_url() -> String {
    std::env::var("PROTOND_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The configuration of one node of a shared installation in a fresh schema, or `None` when
/// there is no PostgreSQL to share.
async fn shared_installation() -> Option<(String, String)> {
    // Unique across runs and test processes, so no run ever sees another's data.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let schema = format!(
        "protond_nodes_{nanos:x}_{}_{}",
        std::process::id(),
        common::unique()
    );
    match sqlx::PgPool::connect(&database_url()).await {
        Ok(pool) => pool.close().await,
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: no PostgreSQL at {}: {e}", database_url());
            return None;
        }
        Err(e) => panic!("CI needs PostgreSQL at {}: {e}", database_url()),
    }
    let config = format!(
        "lease_secs = 3\ndatabase_url = \"{}\"\ndatabase_schema = \"{schema}\"\n",
        database_url()
    );
    Some((config, schema))
}

/// Drops the installation's schema once its nodes are gone.
async fn forget(schema: &str) {
    let pool = sqlx::PgPool::connect(&database_url())
        .await
        .expect("PostgreSQL");
    let statement = format!("DROP SCHEMA \"{schema}\" CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&pool)
        .await
        .expect("DROP SCHEMA");
}

/// Kills a node with SIGKILL, as a lost machine would, without starting it again.
fn crash(node: &Protond) {
    let config = node.home().join("protond.toml");
    let config = config.to_string_lossy().into_owned();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&b"serve".as_slice()) && args.contains(&config.as_bytes()) {
            // SAFETY: kill(2) takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[tokio::test]
async fn a_cancel_through_another_node_reaches_the_running_node() {
    let Some((config, schema)) = shared_installation().await else {
        return;
    };
    // Only the first node runs when the deployment starts, so it is the one running it.
    let first = Protond::start_with(&config);
    first.publish_gated("tpl", None).await;
    let dir = first.scratch("env");
    let spec = GatedSpec::new(&dir).gated(&dir.join("gate"));
    first.create_environment("env", "tpl", &spec.spec()).await;
    wait_for_file(&dir.join("waiting-one")).await;

    let second = Protond::start_with(&config);
    let seen = second.environment("env").await;
    assert_eq!(seen.deployment_status, DeploymentStatus::InProgress);
    let cancelling = second
        .client()
        .cancel_environment_deployment()
        .environment_name("env")
        .send()
        .await
        .expect("CancelEnvironmentDeployment through the second node")
        .environment
        .expect("an environment");
    assert_eq!(cancelling.deployment_status, DeploymentStatus::Cancelling);

    let env = second.settled("env").await;
    assert_eq!(
        env.deployment_status,
        DeploymentStatus::Cancelled,
        "{env:?}"
    );
    assert_eq!(
        env.deployment_status_message.as_deref(),
        Some("User initiated cancellation.")
    );
    drop((first, second));
    forget(&schema).await;
}

#[tokio::test]
async fn a_dead_nodes_deployment_is_taken_over_and_ended_as_interrupted() {
    let Some((config, schema)) = shared_installation().await else {
        return;
    };
    let first = Protond::start_with(&config);
    first.publish_gated("tpl", None).await;
    let dir = first.scratch("env");
    let mut spec = GatedSpec::new(&dir).gated(&dir.join("gate"));
    spec.leftover = true;
    first.create_environment("env", "tpl", &spec.spec()).await;
    wait_for_file(&dir.join("waiting-one")).await;
    let leftover: i32 = std::fs::read_to_string(dir.join("leftover.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let second = Protond::start_with(&config);
    crash(&first);

    // The second node takes the deployment over once the dead node's lease (3 s) runs out.
    let env = second.settled("env").await;
    assert_eq!(env.deployment_status, DeploymentStatus::Failed, "{env:?}");
    let why = env.deployment_status_message.unwrap_or_default();
    assert!(why.contains("interrupted"), "{why}");
    let started = std::time::Instant::now();
    while process_alive(leftover) {
        assert!(
            started.elapsed() < common::DEADLINE,
            "the dead node's leftover process {leftover} survived the takeover"
        );
        tokio::time::sleep(common::POLL).await;
    }
    drop((first, second));
    forget(&schema).await;
}
