//! The processes the harness runs: the real protond binary with a configuration of its own,
//! and the ceiling server. Each is a child on 127.0.0.1, stopped by its own process id.

use std::io::BufRead as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::load::{ACCESS_KEY_ID, ACCOUNT_ID, Call, Connection, SECRET_ACCESS_KEY};

/// A running child process on loopback.
pub struct Process {
    child: Option<Child>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Process {
    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Its resident memory now, in bytes (`VmRSS` in `/proc/<pid>/status`).
    pub fn rss(&self) -> u64 {
        status_kib(self.pid(), "VmRSS:") * 1024
    }

    /// Stops it with SIGTERM, then SIGKILL when it has not ended after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) with plain integers, aimed at our own child only.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(15));
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// A free port on 127.0.0.1 (free when asked; the child binds it right after).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The harness's working folder: protond's data directory, its configuration, its log, the
/// bundles and the files the provision commands write.
pub struct Home {
    /// The folder.
    pub root: PathBuf,
}

impl Home {
    /// Creates the folder layout under `root` (which must not exist yet).
    pub fn create(root: PathBuf) -> anyhow::Result<Home> {
        for sub in ["data", "probe", "bundles"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        let config = format!(
            "[[access_keys]]\naccess_key_id = \"{ACCESS_KEY_ID}\"\n\
             secret_access_key = \"{SECRET_ACCESS_KEY}\"\naccount_id = \"{ACCOUNT_ID}\"\n"
        );
        std::fs::write(root.join("protond.toml"), config)?;
        Ok(Home { root })
    }

    /// protond's data directory.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.data().join("protond.db")
    }

    /// Where the probe commands append their timestamps.
    pub fn probe(&self) -> PathBuf {
        self.root.join("probe")
    }

    /// The size of the write-ahead log alone, in bytes.
    pub fn wal_bytes(&self) -> u64 {
        let mut name = self.database().into_os_string();
        name.push("-wal");
        std::fs::metadata(name).map_or(0, |m| m.len())
    }

    /// The size of the database with its WAL and shared-memory files, in bytes.
    pub fn database_bytes(&self) -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| {
                let mut name = self.database().into_os_string();
                name.push(suffix);
                std::fs::metadata(name).map_or(0, |m| m.len())
            })
            .sum()
    }
}

/// Starts `protond serve` on a free loopback port and waits for its first successful request
/// (a signed `ListEnvironments`). Returns the process and the time from spawning it to that
/// answer.
pub async fn start_protond(binary: &Path, home: &Home) -> anyhow::Result<(Process, Duration)> {
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.root.join("protond.log"))?;
    let spawned = Instant::now();
    let child = Command::new(binary)
        .arg("serve")
        .arg("--config")
        .arg(home.root.join("protond.toml"))
        .arg("--data-dir")
        .arg(home.data())
        .arg("--listen")
        .arg(addr.to_string())
        .env("PROTOND_BENCH_DIR", home.probe())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", binary.display()))?;
    let mut process = Process {
        child: Some(child),
        addr,
    };
    let probe = Call::new("ListEnvironments", serde_json::json!({"maxResults": 1}));
    let deadline = spawned + Duration::from_secs(60);
    loop {
        if let Some(child) = process.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!(
                "protond exited ({status}) before answering; see {}",
                home.root.join("protond.log").display()
            );
        }
        if let Ok(mut conn) = Connection::open(addr).await
            && let Ok((200, _)) = conn.send(&probe).await
        {
            return Ok((process, spawned.elapsed()));
        }
        if Instant::now() > deadline {
            process.stop(Duration::from_secs(5));
            bail!("protond did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
}

/// Starts the ceiling server (this binary, `__ceiling`), answering `sizes` bytes per operation.
pub fn start_ceiling(sizes: &[(&str, usize)]) -> anyhow::Result<Process> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("__ceiling");
    for (operation, size) in sizes {
        command.arg(format!("{operation}={size}"));
    }
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("the ceiling's stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let port: u16 = line.trim().parse().context("the ceiling's port")?;
    Ok(Process {
        child: Some(child),
        addr: ([127, 0, 0, 1], port).into(),
    })
}
