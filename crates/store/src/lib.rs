//! Durable storage for protond.
//!
//! The store keeps records (templates, template versions, environments, deployments, tags,
//! registered bundles) as opaque bodies under `(account, kind, key)`, with a revision number for
//! optimistic concurrency and an optional `parent` column for listing children (the versions of
//! a template, the deployments of an environment). It also keeps the deployment work queue: the
//! leases that tell which node runs which deployment.
//!
//! It knows nothing of Proton's rules: the operations decide, the store only commits a batch of
//! writes atomically or not at all. Every engine (SQLite for one process, PostgreSQL for several
//! nodes) implements the same object-safe [`Store`] trait and passes the same conformance
//! tests.

mod postgres;
mod sqlite;

use async_trait::async_trait;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// What a record is. The name is stored, so variants are never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A template version whose registration has not finished, kept under the system
    /// account so that a restart can finish it.
    PendingRegistration,
    /// A setting of the whole installation, under the system account, such as the secret that
    /// deployment credentials derive from.
    Setting,
    /// An environment template, keyed by its name.
    EnvironmentTemplate,
    /// A version of an environment template, keyed `template/major.minor`, parent `template`.
    EnvironmentTemplateVersion,
    /// A registered bundle archive, keyed like its template version.
    Bundle,
    /// An environment, keyed by its name.
    Environment,
    /// A deployment, keyed by its id, parent the environment's name.
    Deployment,
    /// The tags of one resource, keyed by its ARN.
    Tags,
    /// A remembered idempotent request, keyed by operation and client token.
    ClientToken,
}

impl Kind {
    /// The stored name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::EnvironmentTemplate => "environment_template",
            Kind::EnvironmentTemplateVersion => "environment_template_version",
            Kind::Bundle => "bundle",
            Kind::Environment => "environment",
            Kind::Deployment => "deployment",
            Kind::Tags => "tags",
            Kind::ClientToken => "client_token",
            Kind::PendingRegistration => "pending_registration",
            Kind::Setting => "setting",
        }
    }
}

/// One stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The account that owns the record; no read crosses accounts.
    pub account: String,
    /// What the record is.
    pub kind: Kind,
    /// The record's key within its account and kind.
    pub key: String,
    /// The key of the record this one belongs to, for listing.
    pub parent: Option<String>,
    /// Incremented by every write; the first write stores revision 1.
    pub revision: i64,
    /// The record's body, opaque to the store.
    pub body: Vec<u8>,
}

/// What a write expects to find, checked inside the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No record under this key.
    Absent,
    /// The record exists with exactly this revision.
    Revision(i64),
    /// Anything: the write wins.
    Any,
}

/// One write in an atomic batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Stores `body` under the record's key, if the expectation holds.
    Put {
        /// The record to store; its `revision` field is ignored.
        record: Record,
        /// What must be there before.
        expect: Expect,
    },
    /// Removes a record, if the expectation holds.
    Delete {
        /// The owning account.
        account: String,
        /// The record's kind.
        kind: Kind,
        /// The record's key.
        key: String,
        /// What must be there before.
        expect: Expect,
    },
    /// Queues a deployment for a node to run.
    Enqueue(WorkItem),
    /// Asks whichever node runs the deployment to cancel it.
    RequestCancel {
        /// The deployment to cancel.
        deployment_id: String,
    },
    /// Removes a deployment from the queue; fails unless `node` still holds it, so a node that
    /// lost its lease can never overwrite the outcome written by the node that took over.
    Finish {
        /// The finished deployment.
        deployment_id: String,
        /// The node that must hold it.
        node: String,
    },
}

/// A deployment waiting for, or held by, a node.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// The deployment to run.
    pub deployment_id: String,
    /// The account that owns it.
    pub account: String,
    /// The node holding it, if any.
    pub node: Option<String>,
    /// When the holder's lease ends, in milliseconds since the Unix epoch.
    pub lease_expires_at: Option<i64>,
    /// Whether the provisioner had started work when the item was last held.
    pub started: bool,
    /// Whether a cancel was requested.
    pub cancel_requested: bool,
    /// What the running node wrote about its work, such as a process group id.
    pub runner: Option<String>,
}

impl WorkItem {
    /// A new item for `deployment_id`, held by nobody.
    pub fn new(deployment_id: &str, account: &str) -> WorkItem {
        WorkItem {
            deployment_id: deployment_id.to_owned(),
            account: account.to_owned(),
            node: None,
            lease_expires_at: None,
            started: false,
            cancel_requested: false,
            runner: None,
        }
    }
}

/// How to list the records of one kind.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only records with this parent.
    pub parent: Option<String>,
    /// Only records whose key comes after this one (before it when `descending`).
    pub after: Option<String>,
    /// Newest key first.
    pub descending: bool,
    /// At most this many records.
    pub limit: u32,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An expectation of the batch did not hold; nothing was written.
    #[error("conflicting write: {0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database could not be opened or migrated.
    #[error("cannot open the store: {0}")]
    Open(String),
}

/// The storage engine behind protond.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reads one record.
    async fn get(&self, account: &str, kind: Kind, key: &str)
    -> Result<Option<Record>, StoreError>;

    /// Lists records of one kind in key order.
    async fn list(
        &self,
        account: &str,
        kind: Kind,
        query: &ListQuery,
    ) -> Result<Vec<Record>, StoreError>;

    /// Applies every write or none; returns [`StoreError::Conflict`] when an expectation fails.
    /// Durable when it returns.
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Hands `node` up to `limit` queued deployments that nobody holds or whose lease ended
    /// before `now`, leasing them until `lease_until`. Each item is returned as it was before
    /// the claim, so the caller sees whether a previous holder had started it.
    async fn claim(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<WorkItem>, StoreError>;

    /// Extends the leases `node` holds and returns the ids of those whose cancel was requested.
    async fn renew(&self, node: &str, lease_until: i64) -> Result<Vec<String>, StoreError>;

    /// Records that `node` started the provisioner for a deployment, with what it needs to find
    /// that work again (for example a process group id).
    async fn mark_started(
        &self,
        deployment_id: &str,
        node: &str,
        runner: &str,
    ) -> Result<(), StoreError>;

    /// Reads one queued deployment.
    async fn work_item(&self, deployment_id: &str) -> Result<Option<WorkItem>, StoreError>;

    /// True when this store can only be used by one process at a time, so that at start-up
    /// every lease it holds belonged to a process that is gone.
    fn is_exclusive(&self) -> bool;
}
