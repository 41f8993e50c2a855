//! The deployment engine: it runs every queued deployment to exactly one end.
//!
//! The operations commit a deployment together with a work item; the engine claims work items
//! under a lease, hands each deployment to its provisioner, and writes the outcome to the
//! deployment and its environment in one commit that also releases the work item. A node that
//! dies leaves its leases to run out; whoever claims such an item next ends the deployment as
//! interrupted (it cannot know what the dead node's commands did), so no deployment stays
//! `IN_PROGRESS` for longer than its timeout plus one lease.
//!
//! The engine never decides whether an API call is allowed: that belongs to the operations.

pub mod bundles;
pub mod credentials;
pub mod outcome;
pub mod provisioner;
pub mod records;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protond_store::Store;
use tokio::sync::{Notify, watch};

pub use provisioner::cloudformation::{CloudFormationSettings, StaticCredentials, stack_name};
pub use worker::{interrupted_message, rendered_dir};

/// How the engine runs deployments.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where deployments get their working directories and logs.
    pub deployments_dir: PathBuf,
    /// How long one deployment's commands may run.
    pub deployment_timeout: Duration,
    /// How long stopped commands get between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// How long a claim lasts without renewal.
    pub lease: Duration,
    /// How often the queue is polled when nothing wakes the engine.
    pub poll_interval: Duration,
    /// The endpoint that commands use to call protond (`AWS_ENDPOINT_URL_PROTON`).
    pub callback_endpoint: String,
    /// At most this many deployments run at once on this node.
    pub max_running: usize,
    /// At most this many deployments are being started at once: loading their records,
    /// writing their working directories, starting their processes or stacks. That is the
    /// engine's own work, on the cores that answer the API; once a deployment's commands or
    /// stack run, it no longer counts.
    pub max_starting: usize,
    /// The installation's secret that deployment credentials are derived from
    /// ([`credentials::DeploymentKey`]).
    pub credential_secret: Vec<u8>,
    /// Where and how CloudFormation bundles are deployed.
    pub cloudformation: CloudFormationSettings,
}

impl EngineConfig {
    /// Defaults for a laptop, with files under `deployments_dir`.
    pub fn new(deployments_dir: PathBuf, callback_endpoint: String) -> EngineConfig {
        EngineConfig {
            deployments_dir,
            deployment_timeout: Duration::from_secs(3600),
            stop_grace: Duration::from_secs(10),
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            callback_endpoint,
            max_running: 64,
            max_starting: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            credential_secret: Vec::new(),
            cloudformation: CloudFormationSettings::default(),
        }
    }
}

/// A handle on the engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    config: EngineConfig,
    node: String,
    /// The stop switch of every deployment this node is running.
    running: Mutex<HashMap<String, watch::Sender<bool>>>,
    wake: Notify,
    bundles: bundles::BundleCache,
    /// Permits to start a deployment ([`EngineConfig::max_starting`]).
    starting: Arc<tokio::sync::Semaphore>,
}

impl Engine {
    /// An engine over `store`; nothing runs until [`Engine::start`].
    pub fn new(store: Arc<dyn Store>, config: EngineConfig) -> Engine {
        let node = format!("node-{}", uuid::Uuid::new_v4());
        let starting = Arc::new(tokio::sync::Semaphore::new(config.max_starting.max(1)));
        let inner = Inner {
            store,
            config,
            node,
            running: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            bundles: bundles::BundleCache::default(),
            starting,
        };
        Engine {
            inner: Arc::new(inner),
        }
    }

    /// The store the engine works on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The parsed bundle of a registered template version, shared with every other user.
    pub async fn bundle(
        &self,
        partition: &str,
        template: &str,
        major: &str,
        minor: &str,
    ) -> Result<Arc<protond_bundle::Bundle>, String> {
        let store = self.inner.store.as_ref();
        self.inner
            .bundles
            .get(store, partition, template, major, minor)
            .await
    }

    /// The parsed bundle of `version`, a registered version the caller has read already.
    pub async fn bundle_of(
        &self,
        partition: &str,
        version: &records::TemplateVersionRecord,
    ) -> Result<Arc<protond_bundle::Bundle>, String> {
        let store = self.inner.store.as_ref();
        self.inner
            .bundles
            .of_version(store, partition, version)
            .await
    }

    /// Tells the engine new work was queued, so it claims it now rather than at the next poll.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Tells this node's run of `deployment_id`, if any, to stop. The cancel request is also in
    /// the store, where the node that runs the deployment finds it at its next lease renewal.
    pub fn cancel(&self, deployment_id: &str) {
        if let Some(stop) = self
            .inner
            .running
            .lock()
            .expect("poisoned")
            .get(deployment_id)
        {
            let _ = stop.send(true);
        }
    }

    /// The number of deployments this node is running now.
    pub fn running(&self) -> usize {
        self.inner.running.lock().expect("poisoned").len()
    }

    /// Starts claiming and running deployments until `shutdown` turns true. Deployments still
    /// running then are left to their leases: the next start ends them as interrupted.
    pub fn start(&self, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move { worker::run(engine, shutdown).await })
    }
}
