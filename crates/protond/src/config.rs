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
            lease_secs: 30,
            body_limit_bytes: 1024 * 1024,
            body_timeout_secs: 30,
            shutdown_grace_secs: 10,
            log_format: LogFormat::Text,
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
