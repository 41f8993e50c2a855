//! Runs a list of shell commands the way CodeBuild runs a build phase: in order, in one shell,
//! stopping at the first that fails.
//!
//! The shell is the leader of a new process group, so that a cancel or a timeout can stop
//! everything the commands started (SIGTERM to the group, SIGKILL after a grace period). Output
//! goes straight from the children to the deployment's log file, so a chatty command cannot
//! fill protond's memory.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::watch;

/// Variables of protond's own environment that could hand the operator's AWS credentials to
/// the commands; they are removed, and the commands get credentials of their own.
const CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// The file in the working directory where the shell writes which command it is running.
const STEP_FILE: &str = ".protond-step";

/// One run of a command list.
#[derive(Debug, Clone)]
pub struct CommandRun {
    /// What the commands are for, in the log: `provision`, `deprovision`, `restore`.
    pub phase: &'static str,
    /// The commands, each a line of shell.
    pub commands: Vec<String>,
    /// The working directory, holding the bundle's files and `proton-inputs.json`.
    pub workdir: PathBuf,
    /// Variables added to protond's own environment for the shell.
    pub env: Vec<(String, String)>,
    /// The log the output is appended to.
    pub log: PathBuf,
    /// How long the commands may run in all.
    pub timeout: Duration,
    /// How long the commands get between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How a run ended.
#[derive(Debug, PartialEq)]
pub enum RunEnd {
    /// Every command exited 0.
    Completed,
    /// A command failed; the rest did not run.
    CommandFailed {
        /// The 1-based position of the command.
        index: usize,
        /// The command's text.
        command: String,
        /// Its exit status, or the signal that killed it.
        status: String,
    },
    /// A stop was asked for and the process group was stopped.
    Stopped,
    /// The timeout passed and the process group was stopped.
    TimedOut,
    /// The shell could not be started at all.
    SpawnFailed(String),
}

/// Runs `run`, calling `started` with the process group id once the shell runs, and stopping
/// early when `stop` turns true.
pub async fn run_commands(
    run: &CommandRun,
    mut stop: watch::Receiver<bool>,
    started: impl FnOnce(u32),
) -> RunEnd {
    if *stop.borrow() {
        return RunEnd::Stopped;
    }
    let mut child = match spawn(run) {
        Ok(child) => child,
        Err(e) => return RunEnd::SpawnFailed(e),
    };
    let Some(pgid) = child.id() else {
        return RunEnd::SpawnFailed("the shell exited before it could be watched".into());
    };
    started(pgid);

    let deadline = tokio::time::sleep(run.timeout);
    tokio::pin!(deadline);
    let stopped_by = tokio::select! {
        status = child.wait() => {
            return match status {
                Ok(status) if status.success() => RunEnd::Completed,
                Ok(status) => failed_command(run, &describe(status)),
                Err(e) => RunEnd::SpawnFailed(e.to_string()),
            };
        }
        _ = wait_for_stop(&mut stop) => RunEnd::Stopped,
        _ = &mut deadline => RunEnd::TimedOut,
    };
    stop_group(pgid, &mut child, run.grace).await;
    append_log(
        &run.log,
        &format!("[protond] {} stopped: {stopped_by:?}\n", run.phase),
    );
    stopped_by
}

/// Waits until the stop flag is true. A dropped sender means nobody can stop us any more.
async fn wait_for_stop(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn spawn(run: &CommandRun) -> Result<tokio::process::Child, String> {
    let script = script(run);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&run.log)
        .map_err(|e| format!("cannot open the log {}: {e}", run.log.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    let mut command = Command::new("/bin/sh");
    for variable in CREDENTIAL_VARIABLES {
        command.env_remove(variable);
    }
    command
        .arg("-c")
        .arg(script)
        .current_dir(&run.workdir)
        // No credentials file and no instance metadata: only the variables below count.
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(run.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| format!("cannot start /bin/sh: {e}"))
}

/// The shell script: each command in turn, its number written to [`STEP_FILE`] first, and a
/// non-zero exit status ends the script with that status.
fn script(run: &CommandRun) -> String {
    let mut script = String::new();
    for (index, command) in run.commands.iter().enumerate() {
        let number = index + 1;
        script.push_str(&format!(
            "echo {number} > {STEP_FILE}\n\
             printf '%s\\n' {}\n\
             {command}\n\
             protond_status=$?\n\
             if [ $protond_status -ne 0 ]; then exit $protond_status; fi\n",
            shell_quote(&format!(
                "[protond] {} command {number}: {command}",
                run.phase
            )),
        ));
    }
    script.push_str("exit 0\n");
    script
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn failed_command(run: &CommandRun, status: &str) -> RunEnd {
    let step = std::fs::read_to_string(run.workdir.join(STEP_FILE)).unwrap_or_default();
    let index = step
        .trim()
        .parse::<usize>()
        .unwrap_or(1)
        .clamp(1, run.commands.len().max(1));
    let command = run.commands.get(index - 1).cloned().unwrap_or_default();
    append_log(
        &run.log,
        &format!("[protond] {} command {index} failed: {status}\n", run.phase),
    );
    RunEnd::CommandFailed {
        index,
        command,
        status: status.to_owned(),
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "unknown status".into(),
    }
}

/// SIGTERM to the whole group, then SIGKILL once the grace period is over. The group is
/// signalled a second time even when the shell exited, because its children may not have.
async fn stop_group(pgid: u32, child: &mut tokio::process::Child, grace: Duration) {
    signal_group(pgid, libc::SIGTERM);
    let _ = tokio::time::timeout(grace, child.wait()).await;
    signal_group(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub fn signal_group(pgid: u32, signal: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers; a negative pid addresses the process group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Appends a line of protond's own to a deployment log; the log is best-effort.
pub fn append_log(log: &Path, line: &str) {
    use std::io::Write as _;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in(dir: &Path, commands: &[&str]) -> CommandRun {
        CommandRun {
            phase: "provision",
            commands: commands.iter().map(|c| c.to_string()).collect(),
            workdir: dir.to_owned(),
            env: vec![("GREETING".into(), "hello".into())],
            log: dir.join("log"),
            timeout: Duration::from_secs(20),
            grace: Duration::from_millis(200),
        }
    }

    #[tokio::test]
    async fn commands_share_one_shell_and_log_their_output() {
        let dir = tempfile::tempdir().unwrap();
        let run = run_in(dir.path(), &["X=$GREETING", "echo \"$X world\" > out"]);
        let (_tx, rx) = watch::channel(false);
        assert_eq!(run_commands(&run, rx, |_| {}).await, RunEnd::Completed);
        let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
        assert_eq!(out, "hello world\n");
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert!(log.contains("[protond] provision command 2: echo"), "{log}");
    }

    #[tokio::test]
    async fn first_failing_command_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let run = run_in(dir.path(), &["true", "exit 3", "touch never"]);
        let (_tx, rx) = watch::channel(false);
        let end = run_commands(&run, rx, |_| {}).await;
        assert_eq!(
            end,
            RunEnd::CommandFailed {
                index: 2,
                command: "exit 3".into(),
                status: "exit status 3".into()
            }
        );
        assert!(!dir.path().join("never").exists());
    }

    #[tokio::test]
    async fn stop_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let run = run_in(dir.path(), &["sleep 30 & echo $! > bg.pid; sleep 30"]);
        let (tx, rx) = watch::channel(false);
        let handle = tokio::spawn(async move { run_commands(&run, rx, |_| {}).await });
        let pid_file = dir.path().join("bg.pid");
        while !pid_file.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tx.send(true).unwrap();
        assert_eq!(handle.await.unwrap(), RunEnd::Stopped);
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The signal is sent before the run ends, but the kernel ends the child only once it is
        // scheduled again, which on a loaded machine can take a moment: wait, with a deadline
        // far beyond that moment and far below the child's own 30 s.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "background child {pid} survived the stop"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether `pid` still runs; a killed child lingers as a zombie until its new parent reaps
    /// it, and that counts as dead.
    fn running(pid: i32) -> bool {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        state
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !matches!(rest.trim_start().chars().next(), Some('Z' | 'X')))
    }

    #[tokio::test]
    async fn timeout_stops_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = run_in(dir.path(), &["sleep 30"]);
        run.timeout = Duration::from_millis(100);
        let (_tx, rx) = watch::channel(false);
        assert_eq!(run_commands(&run, rx, |_| {}).await, RunEnd::TimedOut);
    }
}
