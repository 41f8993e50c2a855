//! `protond serve`: opens the store, starts the engine and the API, and stops them in order on
//! SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use protond_api::auth::{AccessKey, AuthMode};
use protond_api::{AuthConfig, Proton, ServerConfig};
use protond_engine::{Engine, EngineConfig};
use protond_store::{Expect, Kind, PgStore, Record, SqliteStore, Store, StoreError, Write};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, LogFormat};

/// Runs the server until a stop signal.
pub fn run(config: Config) -> anyhow::Result<()> {
    init_logs(config.log_format);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(config))
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROTOND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a terminal: a log file should hold plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    config.check()?;
    let development = config.access_keys.is_empty();
    // Local development mode: nothing checks signatures, so nothing beyond this host may reach
    // the server.
    if development && !config.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {}: with no access keys configured protond runs in local \
             development mode, which accepts any signature, and listens on loopback only",
            config.listen
        );
    }
    if development {
        warn!(
            account_id = %config.account_id,
            "local development mode: no access keys are configured, so any well-formed \
             signature (or none) is accepted and every caller acts in one account"
        );
    } else {
        info!(keys = config.access_keys.len(), "SigV4 verification is on");
    }

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    std::fs::create_dir_all(config.deployments())?;
    let store: Arc<dyn Store> = match &config.database_url {
        Some(url) => {
            let schema = config.database_schema.as_deref();
            Arc::new(
                PgStore::open(url, schema)
                    .await
                    .context("cannot open PostgreSQL")?,
            )
        }
        None => Arc::new(SqliteStore::open(&config.database()).await?),
    };

    let secret = installation_secret(store.as_ref()).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;

    let mut engine_config = EngineConfig::new(config.deployments(), format!("http://{address}"));
    engine_config.deployment_timeout = Duration::from_secs(config.deployment_timeout_secs);
    engine_config.stop_grace = Duration::from_secs(config.stop_grace_secs);
    engine_config.max_running = config.max_running_deployments.max(1);
    engine_config.lease = Duration::from_secs(config.lease_secs.max(3));
    engine_config.credential_secret = secret.clone();
    engine_config.cloudformation = config.cloudformation.settings()?;
    let engine = Engine::new(Arc::clone(&store), engine_config);
    let objects = protond_bundle::LocalObjectStore::new(config.buckets());
    let proton = Proton::new(Arc::clone(&store), engine.clone(), objects);

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let engine_task = engine.start(shutdown_rx.clone());
    proton.resume_registrations().await;

    let server_config = ServerConfig {
        body_limit: config.body_limit_bytes,
        body_timeout: Duration::from_secs(config.body_timeout_secs),
        auth: AuthConfig {
            mode: auth_mode(&config),
            default_region: config.region.clone(),
            deployment_secret: secret.into(),
            signing_keys: Default::default(),
        },
    };
    info!(%address, data_dir = %config.data_dir.display(), "protond is listening");
    let mut stop = shutdown_rx.clone();
    let server = tokio::spawn(protond_api::serve(
        listener,
        proton,
        server_config,
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    ));

    stop_signal().await;
    info!("stopping: no new requests or deployments are accepted");
    let _ = shutdown_tx.send(true);
    let _ = server.await;
    let _ = engine_task.await;
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let waited = tokio::time::timeout(grace, async {
        while engine.running() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    if waited.is_err() {
        warn!(
            running = engine.running(),
            "deployments still running at exit are ended as interrupted at the next start"
        );
    }
    info!("stopped");
    Ok(())
}

async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be watched");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn auth_mode(config: &Config) -> AuthMode {
    if config.access_keys.is_empty() {
        return AuthMode::Development {
            account_id: config.account_id.clone(),
        };
    }
    let keys = config.access_keys.iter().map(|key| {
        let access_key = AccessKey {
            secret_access_key: key.secret_access_key.clone(),
            account_id: key.account_id.clone(),
            session_token: key.session_token.clone(),
        };
        (key.access_key_id.clone(), access_key)
    });
    AuthMode::Keys(keys.collect())
}

/// The installation's secret that deployment credentials derive from: made once, kept in the
/// store so that every node and every restart derives the same credentials.
async fn installation_secret(store: &dyn Store) -> anyhow::Result<Vec<u8>> {
    const ACCOUNT: &str = "_protond";
    const KEY: &str = "deployment-credential-secret";
    if let Some(record) = store.get(ACCOUNT, Kind::Setting, KEY).await? {
        return Ok(record.body);
    }
    let secret: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
        .iter()
        .flat_map(|u| *u.as_bytes())
        .collect();
    let record = Record {
        account: ACCOUNT.into(),
        kind: Kind::Setting,
        key: KEY.into(),
        parent: None,
        revision: 0,
        body: secret.clone(),
    };
    match store
        .commit(vec![Write::Put {
            record,
            expect: Expect::Absent,
        }])
        .await
    {
        Ok(()) => Ok(secret),
        // Another node made it first: use theirs.
        Err(StoreError::Conflict(_)) => Ok(store
            .get(ACCOUNT, Kind::Setting, KEY)
            .await?
            .context("the installation secret vanished")?
            .body),
        Err(e) => Err(e.into()),
    }
}
