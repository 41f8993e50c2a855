//! protond's configuration: one typed struct, read from an optional TOML file, then
//! environment variables (`PROTOND_*`), then command-line flags, each overriding the last.
//! Every default works on a laptop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// Everything `protond serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The address the API listens on. Without access keys (local development mode) it must
    /// be a loopback address.
    pub listen: SocketAddr,
    /// The directory for the database, the local bundle store and deployment logs.
    pub data_dir: PathBuf,
    /// The account every caller acts in, in local development mode.
    pub account_id: String,
    /// The region of requests that are not signed.
    pub region: String,
    /// How long one deployment's commands may run, in seconds.
    pub deployment_timeout_secs: u64,
    /// How long stopped commands get between SIGTERM and SIGKILL, in seconds.
    pub stop_grace_secs: u64,
    /// At most this many deployments run at once on this node; the rest wait in the queue
    /// (accepted already), where another node with the same PostgreSQL database may take them.
    pub max_running_deployments: usize,
    /// How long a claimed deployment's lease lasts without renewal, in seconds. A deployment
    /// whose node died is taken over at most this long after its last renewal.
    pub lease_secs: u64,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How long a client may take to send a request body, in seconds.
    pub body_timeout_secs: u64,
    /// How long a stopping protond waits for running deployments before it exits, in seconds.
    /// Deployments still running then are ended as interrupted at the next start.
    pub shutdown_grace_secs: u64,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Where CloudFormation bundles are deployed (the `[cloudformation]` table). See
    /// docs/cloudformation.md.
    pub cloudformation: CloudFormationConfig,
    /// The access keys callers sign with (`[[access_keys]]` tables). With none, protond runs in
    /// local development mode: any signature is accepted, every caller acts in `account_id`,
    /// and it listens on loopback only.
    pub access_keys: Vec<AccessKeyConfig>,
    /// A PostgreSQL URL (`postgres://user@host:5432/database`) for an installation served by
    /// several protond nodes. Unset, the store is SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The PostgreSQL schema protond's tables live in, created if needed; unset, the
    /// connection's default (`public`).
    pub database_schema: Option<String>,
}

/// One access key, in `[[access_keys]]` tables.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyConfig {
    /// The access key id (`AKIA...`).
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
    /// The 12-digit account it acts in.
    pub account_id: String,
    /// A session token requests must carry, for temporary credentials.
    #[serde(default)]
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of every debug print of the configuration.
        f.debug_struct("AccessKeyConfig")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// The `[cloudformation]` table: how protond reaches CloudFormation for AWS-managed
/// provisioning. With nothing set, it uses AWS itself, in each environment's region, with the
/// AWS SDK's default credential chain.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudFormationConfig {
    /// The CloudFormation endpoint URL, for a compatible service (moto, LocalStack) or a VPC
    /// endpoint. Default: AWS's public endpoint for the region.
    pub endpoint: Option<String>,
    /// The region every stack goes to. Default: the environment's region (from its ARN, that
    /// is, the region of the request that created it).
    pub region: Option<String>,
    /// An access key id to use instead of the default credential chain; needs
    /// `secret_access_key` too.
    pub access_key_id: Option<String>,
    /// The secret of `access_key_id`.
    pub secret_access_key: Option<String>,
    /// A session token, with temporary credentials.
    pub session_token: Option<String>,
    /// A role to assume (STS AssumeRole, session name `protond`) before calling
    /// CloudFormation, for example one in the account the stacks belong to.
    pub role_arn: Option<String>,
    /// Stack names are this prefix followed by the environment's name.
    pub stack_name_prefix: String,
    /// How often a changing stack's status is read, in milliseconds.
    pub poll_interval_ms: u64,
    /// Whether an environment's `protonServiceRoleArn` is given to CloudFormation as the
    /// stack's service role (`RoleARN`). The role must then trust
    /// `cloudformation.amazonaws.com`. When false, the stack operations run with protond's own
    /// credentials and the role is only recorded.
    pub pass_service_role: bool,
}

impl Default for CloudFormationConfig {
    fn default() -> Self {
        let engine = protond_engine::CloudFormationSettings::default();
        CloudFormationConfig {
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            role_arn: None,
            stack_name_prefix: engine.stack_name_prefix,
            poll_interval_ms: u64::try_from(engine.poll_interval.as_millis()).unwrap_or(5000),
            pass_service_role: engine.pass_service_role,
        }
    }
}

impl std::fmt::Debug for CloudFormationConfig {
    // The secret and the session token never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudFormationConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("role_arn", &self.role_arn)
            .field("stack_name_prefix", &self.stack_name_prefix)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("pass_service_role", &self.pass_service_role)
            .finish_non_exhaustive()
    }
}

impl CloudFormationConfig {
    /// The engine's settings, after checking that the fields fit together.
    pub fn settings(&self) -> anyhow::Result<protond_engine::CloudFormationSettings> {
        let credentials = match (&self.access_key_id, &self.secret_access_key) {
            (Some(id), Some(secret)) => Some(protond_engine::StaticCredentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.session_token.clone(),
            }),
            (None, None) => None,
            _ => anyhow::bail!(
                "cloudformation.access_key_id and cloudformation.secret_access_key go together"
            ),
        };
        Ok(protond_engine::CloudFormationSettings {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            credentials,
            role_arn: self.role_arn.clone(),
            stack_name_prefix: self.stack_name_prefix.clone(),
            poll_interval: std::time::Duration::from_millis(self.poll_interval_ms.max(10)),
            pass_service_role: self.pass_service_role,
        })
    }
}

/// The form of log lines.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines with fields.
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            data_dir: PathBuf::from("protond-data"),
            account_id: "123456789012".into(),
            region: "us-east-1".into(),
            deployment_timeout_secs: 3600,
            stop_grace_secs: 10,
            max_running_deployments: 64,
            lease_secs: 30,
            body_limit_bytes: 1024 * 1024,
            body_timeout_secs: 30,
            shutdown_grace_secs: 10,
            log_format: LogFormat::Text,
            cloudformation: CloudFormationConfig::default(),
            access_keys: Vec::new(),
            database_url: None,
            database_schema: None,
        }
    }
}

impl Config {
    /// Reads the TOML file at `path`, fields it lacks keeping their defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not valid", path.display()))
    }

    /// Checks what serde cannot: account ids and distinct key ids.
    pub fn check(&self) -> anyhow::Result<()> {
        let twelve_digits = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
        anyhow::ensure!(
            twelve_digits(&self.account_id),
            "account_id must be 12 digits"
        );
        let mut seen = std::collections::HashSet::new();
        for key in &self.access_keys {
            anyhow::ensure!(
                twelve_digits(&key.account_id),
                "access key {}: account_id must be 12 digits",
                key.access_key_id
            );
            anyhow::ensure!(
                !key.access_key_id.is_empty() && !key.access_key_id.contains('/'),
                "access key ids must be non-empty and contain no '/'"
            );
            anyhow::ensure!(
                !key.secret_access_key.is_empty(),
                "an access key has no secret"
            );
            anyhow::ensure!(
                seen.insert(&key.access_key_id),
                "access key {} is listed twice",
                key.access_key_id
            );
        }
        Ok(())
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("protond.db")
    }

    /// The local bundle store: one folder per bucket.
    pub fn buckets(&self) -> PathBuf {
        self.data_dir.join("buckets")
    }

    /// Working directories and logs of deployments.
    pub fn deployments(&self) -> PathBuf {
        self.data_dir.join("deployments")
    }
}
