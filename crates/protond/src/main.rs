//! The `protond` binary: `serve` runs the server; `bundle push` puts a template bundle into
//! the local bundle store that `CreateEnvironmentTemplateVersion` reads `s3` sources from;
//! `render` renders a bundle folder with a spec without a server; `deployment rendered` prints
//! what a deployment was given to deploy.

mod config;
mod render;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "protond",
    version,
    about = "A self-hosted server for the AWS Proton API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server.
    Serve(ServeArgs),
    /// Works with template bundles.
    Bundle {
        #[command(subcommand)]
        command: BundleCommand,
    },
    /// Renders a bundle folder with a spec file, as a deployment would, and prints the result
    /// (or the error, with its file and line).
    Render {
        /// The bundle folder (holding schema/ and infrastructure/).
        bundle_dir: PathBuf,
        /// The spec file (`proton: EnvironmentSpec` then `spec:`).
        spec_file: PathBuf,
        /// The environment's name, as `environment.name`.
        #[arg(long, default_value = "my-environment")]
        environment_name: String,
    },
    /// Works with deployments.
    Deployment {
        #[command(subcommand)]
        command: DeploymentCommand,
    },
}

#[derive(Subcommand)]
enum DeploymentCommand {
    /// Prints the rendered templates a CloudFormation deployment deployed.
    Rendered {
        /// The deployment's id.
        id: String,
        /// The server's data directory [default: ./protond-data].
        #[arg(long, env = "PROTOND_DATA_DIR", default_value = "protond-data")]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML configuration file.
    #[arg(long, env = "PROTOND_CONFIG")]
    config: Option<PathBuf>,
    /// The address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PROTOND_LISTEN")]
    listen: Option<std::net::SocketAddr>,
    /// The data directory [default: ./protond-data].
    #[arg(long, env = "PROTOND_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// How long a deployment may run, in seconds [default: 3600].
    #[arg(long, env = "PROTOND_DEPLOYMENT_TIMEOUT_SECS")]
    deployment_timeout_secs: Option<u64>,
    /// A PostgreSQL URL, for several nodes sharing one installation [default: SQLite in the
    /// data directory].
    #[arg(long, env = "PROTOND_DATABASE_URL")]
    database_url: Option<String>,
    /// The form of log lines [default: text].
    #[arg(long, env = "PROTOND_LOG_FORMAT")]
    log_format: Option<LogFormat>,
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Packs a bundle folder (holding schema/ and infrastructure/) into the local bundle store
    /// as s3://BUCKET/KEY.
    Push {
        /// The bundle folder.
        dir: PathBuf,
        /// Where to put it: s3://BUCKET/KEY.
        destination: String,
        /// The server's data directory [default: ./protond-data].
        #[arg(long, env = "PROTOND_DATA_DIR", default_value = "protond-data")]
        data_dir: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => settle(args).and_then(serve::run),
        Command::Bundle {
            command:
                BundleCommand::Push {
                    dir,
                    destination,
                    data_dir,
                },
        } => push(&dir, &destination, &data_dir),
        Command::Render {
            bundle_dir,
            spec_file,
            environment_name,
        } => render::render(&bundle_dir, &spec_file, &environment_name),
        Command::Deployment {
            command: DeploymentCommand::Rendered { id, data_dir },
        } => render::rendered(&data_dir, &id),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("protond: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The configuration: the file's, then the flags and variables on top.
fn settle(args: ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(data_dir) = args.data_dir {
        config.data_dir = data_dir;
    }
    if let Some(timeout) = args.deployment_timeout_secs {
        config.deployment_timeout_secs = timeout;
    }
    if args.database_url.is_some() {
        config.database_url = args.database_url;
    }
    if let Some(format) = args.log_format {
        config.log_format = format;
    }
    Ok(config)
}

fn push(
    dir: &std::path::Path,
    destination: &str,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let (bucket, key) = destination
        .strip_prefix("s3://")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(bucket, key)| !bucket.is_empty() && !key.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the destination must look like s3://BUCKET/KEY"))?;
    let archive = protond_bundle::pack_dir(dir)?;
    let store = protond_bundle::LocalObjectStore::new(data_dir.join("buckets"));
    store.put(bucket, key, &archive)?;
    println!(
        "pushed {} ({} bytes) to s3://{bucket}/{key}",
        dir.display(),
        archive.len()
    );
    Ok(())
}
