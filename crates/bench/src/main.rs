//! `protond-bench`: starts the real protond on loopback with a fresh data directory and strict
//! SigV4 keys, loads it with a generator of its own, runs a minimal hyper server as the
//! ceiling with the same generator, and prints a table. See docs/benchmarks.md.
//!
//! `cargo run --release -p protond-bench` measures at full scale (1,000 environments, then
//! 100,000 environments and 1,000,000 deployments); `--quick` runs every measurement at a tiny
//! scale in seconds and judges nothing.

mod ceiling;
mod load;
mod report;
mod scenario;
mod seed;
mod server;

use std::path::PathBuf;

use anyhow::Context as _;

/// How big and how long the run is.
#[derive(Debug, Clone)]
pub struct Scale {
    /// Quick mode: tiny, no verdicts.
    pub quick: bool,
    /// Environments made through the API (the small figure).
    pub small_envs: usize,
    /// Environments at the large scale.
    pub large_envs: usize,
    /// Deployments at the large scale.
    pub large_deployments: usize,
    /// Warm-up before each measured load run, in seconds.
    pub warmup_secs: f64,
    /// Length of each measured load run, in seconds.
    pub run_secs: f64,
    /// Each throughput figure is the best of this many runs (the machine is shared).
    pub repeats: usize,
    /// Samples of scheduling and cancel latency, and of each ListDeployments page.
    pub samples: usize,
    /// Keep-alive connections of the load runs.
    pub connections: usize,
}

impl Scale {
    fn full() -> Scale {
        Scale {
            quick: false,
            small_envs: 1_000,
            large_envs: 100_000,
            large_deployments: 1_000_000,
            warmup_secs: 1.0,
            run_secs: 5.0,
            repeats: 3,
            samples: 200,
            connections: 64,
        }
    }

    fn quick() -> Scale {
        Scale {
            quick: true,
            small_envs: 50,
            large_envs: 200,
            large_deployments: 1_000,
            warmup_secs: 0.1,
            run_secs: 0.4,
            repeats: 1,
            samples: 10,
            connections: 64,
        }
    }
}

struct Args {
    scale: Scale,
    protond: Option<PathBuf>,
    keep: bool,
}

fn usage() -> &'static str {
    "usage: protond-bench [--quick] [--protond PATH] [--keep]\n\
     \n\
     --quick         every measurement at a tiny scale, in seconds; no verdicts\n\
     --protond PATH  the protond binary to measure (default: built by cargo, same profile)\n\
     --keep          keep the working folder (data directory, logs) afterwards"
}

fn parse_args(args: &[String]) -> anyhow::Result<Args> {
    let mut parsed = Args {
        scale: Scale::full(),
        protond: None,
        keep: false,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--quick" => parsed.scale = Scale::quick(),
            "--keep" => parsed.keep = true,
            "--protond" => {
                parsed.protond = Some(iter.next().context("--protond needs a path")?.into());
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}\n{}", usage()),
        }
    }
    Ok(parsed)
}

/// The protond binary of the same profile as this one, built first by cargo (a no-op when it
/// is up to date).
fn protond_binary() -> anyhow::Result<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cargo = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()));
    cargo.current_dir(&root).args(["build", "-p", "protond"]);
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let status = cargo.status().context("cannot run cargo")?;
    anyhow::ensure!(status.success(), "cargo build -p protond failed");
    let binary = std::env::current_exe()?
        .parent()
        .context("the binary's folder")?
        .join("protond");
    anyhow::ensure!(binary.is_file(), "{} is missing", binary.display());
    Ok(binary)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__ceiling") {
        return ceiling::serve(&args[1..]);
    }
    let profile = args.first().map(String::as_str) == Some("__profile");
    let (op, out) = if profile {
        let op = args
            .get(1)
            .context("__profile get|list|update OUT")?
            .clone();
        let out = PathBuf::from(args.get(2).context("__profile get|list|update OUT")?);
        (op, out)
    } else {
        Default::default()
    };
    let args = parse_args(if profile { &args[3..] } else { &args })?;
    let binary = match args.protond {
        Some(path) => path,
        None => protond_binary()?,
    };
    let root = std::env::temp_dir().join(format!("protond-bench-{}", std::process::id()));
    let home = server::Home::create(root.clone())?;
    eprintln!(
        "protond-bench: {} run, protond {}, working folder {}",
        if args.scale.quick { "quick" } else { "full" },
        binary.display(),
        root.display()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if profile {
        let result = runtime.block_on(scenario::profile(&binary, &home, &args.scale, &op, &out));
        let _ = std::fs::remove_dir_all(&root);
        return result;
    }
    let result = runtime.block_on(scenario::run(&binary, &home, &args.scale));
    if args.keep || result.is_err() {
        eprintln!("protond-bench: kept {}", root.display());
    } else {
        let _ = std::fs::remove_dir_all(&root);
    }
    let table = result?;
    println!("{table}");
    Ok(())
}
