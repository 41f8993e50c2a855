//! The end-to-end harness: runs the real `protond` binary as a child process on loopback with a
//! data directory of its own, and talks to it through the AWS SDK for Rust and through raw
//! HTTP.
//!
//! Every server lives in a fresh temporary folder holding its data directory, its log and the
//! folders the test bundles record their work in. Dropping the [`Protond`] kills the server (also
//! when a test panics, in which case the end of its log is printed) and removes the folder, which
//! ends any gated provisioning still waiting.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]
// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_proton::Client;
use aws_sdk_proton::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_proton::error::ProvideErrorMetadata;
use aws_sdk_proton::types::{
    DeploymentStatus, Environment, EnvironmentTemplateVersion, S3ObjectSource,
    TemplateVersionSourceInput, TemplateVersionStatus,
};

/// The longest any wait in a test may take before it fails; generous, for a loaded machine.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How often waits poll.
pub const POLL: Duration = Duration::from_millis(50);

/// The bucket test bundles are pushed to.
pub const BUCKET: &str = "bundles";

/// A fixture folder under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The public bundles shared by the project, read in place; None when they are absent.
pub fn real_bundles() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/real-bundles");
    root.is_dir().then_some(root)
}

/// A running `protond serve` and a client for it.
pub struct Protond {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
    child: Option<Child>,
    port: u16,
    client: Client,
}

impl Protond {
    /// Starts a server on a fresh data directory and waits until it answers.
    pub fn start() -> Protond {
        Protond::start_with_env("", &[])
    }

    /// Starts a server whose configuration also holds `config_extra`: top-level settings
    /// first, then tables such as `[[access_keys]]`.
    pub fn start_with(config_extra: &str) -> Protond {
        Protond::start_with_env(config_extra, &[])
    }

    /// As [`Protond::start_with`], with `env` added to the server's environment.
    pub fn start_with_env(config_extra: &str, env: &[(&str, &str)]) -> Protond {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let home = tempfile::Builder::new()
            .prefix("protond-e2e-")
            .tempdir()
            .expect("a temporary folder");
        for sub in ["data", "work", "example", "home"] {
            std::fs::create_dir_all(home.path().join(sub)).expect("a folder");
        }
        std::fs::write(home.path().join("protond.toml"), config_text(config_extra))
            .expect("the configuration");
        let (child, port) = spawn_listening(home.path(), &env);
        let client = client_for(port);
        Protond {
            home,
            env,
            child: Some(child),
            port,
            client,
        }
    }

    /// The SDK client, pointed at this server.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A client for this server signing with the given key, in `region`.
    pub fn client_with(
        &self,
        key: &str,
        secret: &str,
        token: Option<&str>,
        region: &str,
    ) -> Client {
        signed_client(self.port, key, secret, token, region)
    }

    /// Makes `client` the one the helpers use, and returns the one they used before.
    pub fn use_client(&mut self, client: Client) -> Client {
        std::mem::replace(&mut self.client, client)
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("protond.log")).unwrap_or_default()
    }

    /// The temporary folder that holds the data directory, the log and the scratch folders.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// A fresh folder for one test environment's files, removed with the server.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.home.path().join("work").join(name);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        dir
    }

    /// Kills the server with SIGKILL, as a crash would, and starts it again on the same data
    /// directory (on a new port; the client follows).
    pub fn kill_and_restart(&mut self) {
        self.kill();
        let (child, port) = spawn_listening(self.home.path(), &self.env);
        self.child = Some(child);
        self.port = port;
        self.client = client_for(port);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill sends SIGKILL on Unix.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Packs the bundle folder `dir` into the server's local bundle store as s3://BUCKET/key.
    pub fn push_bundle(&self, dir: &Path, key: &str) {
        let output = Command::new(env!("CARGO_BIN_EXE_protond"))
            .arg("bundle")
            .arg("push")
            .arg(dir)
            .arg(format!("s3://{BUCKET}/{key}"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .env_clear()
            .env("PATH", command_path())
            .output()
            .expect("protond bundle push runs");
        assert!(
            output.status.success(),
            "bundle push of {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates an environment template.
    pub async fn create_template(&self, name: &str) {
        self.client
            .create_environment_template()
            .name(name)
            .send()
            .await
            .expect("CreateEnvironmentTemplate");
    }

    /// Starts registering the bundle at s3://BUCKET/key as a new version of `template`
    /// (`major` None: the next major version).
    pub async fn start_version(
        &self,
        template: &str,
        major: Option<&str>,
        key: &str,
    ) -> EnvironmentTemplateVersion {
        let source = S3ObjectSource::builder()
            .bucket(BUCKET)
            .key(key)
            .build()
            .unwrap();
        self.client
            .create_environment_template_version()
            .template_name(template)
            .set_major_version(major.map(str::to_owned))
            .source(TemplateVersionSourceInput::S3(source))
            .send()
            .await
            .expect("CreateEnvironmentTemplateVersion")
            .environment_template_version
            .expect("a version")
    }

    /// Waits until a version's registration has ended, and returns it.
    pub async fn registered(
        &self,
        template: &str,
        major: &str,
        minor: &str,
    ) -> EnvironmentTemplateVersion {
        let started = Instant::now();
        loop {
            let version = self
                .client
                .get_environment_template_version()
                .template_name(template)
                .major_version(major)
                .minor_version(minor)
                .send()
                .await
                .expect("GetEnvironmentTemplateVersion")
                .environment_template_version
                .expect("a version");
            if version.status != TemplateVersionStatus::RegistrationInProgress {
                return version;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{template}:{major}.{minor} still registering"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Pushes `bundle`, registers it as a version of `template` and waits for the result.
    pub async fn register(
        &self,
        template: &str,
        major: Option<&str>,
        bundle: &Path,
        key: &str,
    ) -> EnvironmentTemplateVersion {
        self.push_bundle(bundle, key);
        let v = self.start_version(template, major, key).await;
        self.registered(template, &v.major_version, &v.minor_version)
            .await
    }

    /// Publishes a version.
    pub async fn publish(&self, template: &str, major: &str, minor: &str) {
        self.client
            .update_environment_template_version()
            .template_name(template)
            .major_version(major)
            .minor_version(minor)
            .status(TemplateVersionStatus::Published)
            .send()
            .await
            .expect("UpdateEnvironmentTemplateVersion to PUBLISHED");
    }

    /// Registers the gated bundle as a new version of `template` (creating the template when
    /// `major` is None and the template does not exist) and publishes it.
    pub async fn publish_gated(&self, template: &str, major: Option<&str>) -> (String, String) {
        let exists = self
            .client
            .get_environment_template()
            .name(template)
            .send()
            .await
            .is_ok();
        if !exists {
            self.create_template(template).await;
        }
        let key = format!("{template}/{}.tar.gz", unique());
        let v = self
            .register(template, major, &fixture("gated"), &key)
            .await;
        assert_eq!(v.status, TemplateVersionStatus::Draft, "{v:?}");
        self.publish(template, &v.major_version, &v.minor_version)
            .await;
        (v.major_version, v.minor_version)
    }

    /// Creates an environment from major version 1 of `template` (its recommended minor).
    pub async fn create_environment(&self, name: &str, template: &str, spec: &str) -> Environment {
        self.client
            .create_environment()
            .name(name)
            .template_name(template)
            .template_major_version("1")
            .spec(spec)
            .proton_service_role_arn("arn:aws:iam::123456789012:role/proton")
            .send()
            .await
            .expect("CreateEnvironment")
            .environment
            .expect("an environment")
    }

    /// Redeploys an environment on its current version with `spec`.
    pub async fn update_spec(&self, name: &str, spec: &str) -> Environment {
        self.client
            .update_environment()
            .name(name)
            .deployment_type(aws_sdk_proton::types::DeploymentUpdateType::CurrentVersion)
            .spec(spec)
            .send()
            .await
            .expect("UpdateEnvironment CURRENT_VERSION")
            .environment
            .expect("an environment")
    }

    /// Reads an environment.
    pub async fn environment(&self, name: &str) -> Environment {
        self.client
            .get_environment()
            .name(name)
            .send()
            .await
            .expect("GetEnvironment")
            .environment
            .expect("an environment")
    }

    /// Waits until the environment's deployment has ended, and returns the environment.
    pub async fn settled(&self, name: &str) -> Environment {
        let started = Instant::now();
        loop {
            let env = self.environment(name).await;
            if !in_flight(&env.deployment_status) {
                return env;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "{name} still {}",
                env.deployment_status
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Creates an environment from the gated bundle without a gate and waits for its success.
    pub async fn deployed_environment(&self, name: &str, template: &str) -> Environment {
        let spec = GatedSpec::new(&self.scratch(name)).spec();
        self.create_environment(name, template, &spec).await;
        let env = self.settled(name).await;
        assert_eq!(
            env.deployment_status,
            DeploymentStatus::Succeeded,
            "{env:?}"
        );
        env
    }

    /// Sends one raw HTTP request and reads the whole response.
    pub fn raw(&self, headers: &[(&str, &str)], body: &str) -> RawResponse {
        raw_request(self.port, headers, body)
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.home.path().join("protond.log")).unwrap_or_default();
        let start = log.len().saturating_sub(6000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(0);
        log[start..].to_owned()
    }
}

impl Drop for Protond {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- protond log (end) ---\n{}", self.log_tail());
        }
        kill_leftover_sleeps(&self.home.path().join("work"));
        kill_heartbeats(&self.home.path().join("example"));
        // Dropping `home` removes the folders, which ends every gated wait.
    }
}

/// The server's configuration. CloudFormation is pointed at a loopback port where nothing
/// listens, with static credentials, so that no test ever reaches AWS or asks the host for
/// credentials: a CloudFormation deployment fails at once instead.
fn config_text(extra: &str) -> String {
    format!(
        "# Short stops keep cancels quick in tests.\n\
         stop_grace_secs = 2\n\
         {extra}\n\
         \n\
         [cloudformation]\n\
         endpoint = \"http://127.0.0.1:{}\"\n\
         region = \"us-east-1\"\n\
         access_key_id = \"AKIDTEST\"\n\
         secret_access_key = \"test\"\n\
         poll_interval_ms = 100\n",
        free_port()
    )
}

/// Whether a deployment status means the deployment still runs.
pub fn in_flight(status: &DeploymentStatus) -> bool {
    matches!(
        status,
        DeploymentStatus::InProgress
            | DeploymentStatus::Cancelling
            | DeploymentStatus::DeleteInProgress
    )
}

/// A spec for the gated bundle.
#[derive(Debug, Clone)]
pub struct GatedSpec {
    pub dir: PathBuf,
    pub gate: Option<PathBuf>,
    pub label: String,
    pub fail: bool,
    pub leftover: bool,
}

impl GatedSpec {
    /// A spec that provisions at once, labelled `one`.
    pub fn new(dir: &Path) -> GatedSpec {
        GatedSpec {
            dir: dir.to_owned(),
            gate: None,
            label: "one".into(),
            fail: false,
            leftover: false,
        }
    }

    /// The same spec, waiting for the file `gate`.
    pub fn gated(mut self, gate: &Path) -> GatedSpec {
        self.gate = Some(gate.to_owned());
        self
    }

    /// The same spec with another label.
    pub fn label(mut self, label: &str) -> GatedSpec {
        self.label = label.into();
        self
    }

    /// The spec's YAML.
    pub fn spec(&self) -> String {
        let mut text = format!(
            "proton: EnvironmentSpec\nspec:\n  dir: \"{}\"\n  label: {}\n",
            self.dir.display(),
            self.label
        );
        if let Some(gate) = &self.gate {
            text.push_str(&format!("  gate: \"{}\"\n", gate.display()));
        }
        if self.fail {
            text.push_str("  fail: true\n");
        }
        if self.leftover {
            text.push_str("  leftover: true\n");
        }
        text
    }
}

/// Waits until `path` exists.
pub async fn wait_for_file(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(
            started.elapsed() < DEADLINE,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The lines of a file the gated bundle writes (empty when it does not exist).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The AWS error code of an SDK error, e.g. `ConflictException`.
pub fn code<E: ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("<no code>").to_owned()
}

/// The message of an SDK error.
pub fn message<E: ProvideErrorMetadata>(error: &E) -> String {
    error.message().unwrap_or("").to_owned()
}

/// A name no other call in this process returns.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("u{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// The PATH the server and the deployment commands get: the test's own (where CI puts the AWS
/// CLI first), then the system folders that the bundles' shell commands need.
fn command_path() -> String {
    let inherited = std::env::var("PATH").unwrap_or_default();
    let system = "/usr/local/bin:/usr/bin:/bin";
    if inherited.is_empty() {
        system.to_owned()
    } else {
        format!("{inherited}:{system}")
    }
}

/// Starts `protond serve` on a free port, retrying when another process takes the port between
/// the probe and the server's bind.
fn spawn_listening(home: &Path, env: &[(String, String)]) -> (Child, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = spawn(home, port, env);
        if wait_until_answering(&mut child, port) {
            return (child, port);
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(home.join("protond.log")).unwrap_or_default();
    panic!("protond did not start; its log:\n{log}");
}

pub fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
    probe.local_addr().expect("an address").port()
}

fn spawn(home: &Path, port: u16, env: &[(String, String)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("protond.log"))
        .expect("the server log");
    Command::new(env!("CARGO_BIN_EXE_protond"))
        .arg("serve")
        .arg("--config")
        .arg(home.join("protond.toml"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(home.join("data"))
        .env_clear()
        .env("PATH", command_path())
        .env("HOME", home.join("home"))
        .env("PROTOND_EXAMPLE_ROOT", home.join("example"))
        .env("PROTOND_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the server log"))
        .stderr(log)
        .spawn()
        .expect("protond starts")
}

/// Polls until the server answers a request, or its process exits (false).
fn wait_until_answering(child: &mut Child, port: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let target = ("X-Amz-Target", "AwsProton20200720.ListEnvironmentTemplates");
        // With access keys configured an unsigned request is refused, but answered.
        if let Some(response) = try_raw_request(port, &[target], "{}")
            && (response.status == 200 || response.status == 403)
        {
            return true;
        }
        std::thread::sleep(POLL);
    }
    false
}

fn client_for(port: u16) -> Client {
    signed_client(port, "AKIDTEST", "secret", None, "us-east-1")
}

fn signed_client(port: u16, key: &str, secret: &str, token: Option<&str>, region: &str) -> Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let credentials = Credentials::new(key, secret, token.map(str::to_owned), None, "tests");
    let config = aws_sdk_proton::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .http_client(http)
        .build();
    Client::from_conf(config)
}

fn raw_request(port: u16, headers: &[(&str, &str)], body: &str) -> RawResponse {
    try_raw_request(port, headers, body).expect("a response")
}

/// POST / with `headers` and `body`, over a fresh connection that the server closes.
fn try_raw_request(port: u16, headers: &[(&str, &str)], body: &str) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    parse_response(&String::from_utf8_lossy(&raw))
}

fn parse_response(text: &str) -> Option<RawResponse> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some(RawResponse {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Kills the background `sleep`s that gated provisioning recorded in `*.pid` files under
/// `work`, in case a test failed before protond stopped them.
fn kill_leftover_sleeps(work: &Path) {
    let Ok(dirs) = std::fs::read_dir(work) else {
        return;
    };
    for dir in dirs.flatten() {
        let Ok(pid) = std::fs::read_to_string(dir.path().join("leftover.pid")) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if pid > 1 && cmdline.starts_with(b"sleep\0") {
            // SAFETY: kill(2) takes plain integers; a positive pid names one process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Kills the heartbeat processes that examples/local-env starts in a session of their own, in
/// case a test failed before deleting its environment. Only processes whose command line names
/// this server's folder are signalled.
fn kill_heartbeats(example_root: &Path) {
    let Ok(dirs) = std::fs::read_dir(example_root) else {
        return;
    };
    let root = example_root.display().to_string();
    for dir in dirs.flatten() {
        let Ok(pid) = std::fs::read_to_string(dir.path().join("heartbeat.pid")) else {
            continue;
        };
        let Ok(pid) = pid.trim().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if pid > 1 && String::from_utf8_lossy(&cmdline).contains(&root) {
            // SAFETY: kill(2) takes plain integers; a positive pid names one process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// The folder examples/local-env provisions into (`PROTOND_EXAMPLE_ROOT`).
pub fn example_root_of(server: &Protond) -> PathBuf {
    server.home.path().join("example")
}

/// Whether a process runs (a zombie, which nobody reaped yet, counts as gone).
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
            !matches!(state.and_then(|s| s.chars().next()), Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

/// Sends `request`, bytes exactly as given, over a fresh connection and reads until the server
/// closes it or `wait` passes. A failed write is ignored: the server may answer (and close)
/// before it has read everything.
pub fn exchange(port: u16, request: &[u8], wait: Duration) -> Option<RawResponse> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("a connection");
    stream.set_read_timeout(Some(wait)).expect("a read timeout");
    let _ = stream.write_all(request);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&String::from_utf8_lossy(&raw))
}

/// POST / with `headers` (Host, Content-Length and `Connection: close` added) and a body of
/// any bytes.
pub fn post_bytes(port: u16, headers: &[(&str, &[u8])], body: &[u8]) -> RawResponse {
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    exchange(port, &request, DEADLINE).expect("a response")
}

/// Checks that `response` is the error `code` with `status`, in Proton's shape: a JSON body with
/// `__type` (the code, possibly after a namespace and `#`) and `message`, and a request id.
pub fn expect_error(response: &RawResponse, status: u16, code: &str) {
    assert_eq!(response.status, status, "{response:?}");
    let body = response.json();
    let kind = body["__type"].as_str().unwrap_or_default();
    let bare = kind.rsplit('#').next().unwrap_or_default();
    assert_eq!(bare, code, "{response:?}");
    assert!(body["message"].is_string(), "{response:?}");
    assert!(
        response
            .header("x-amzn-requestid")
            .is_some_and(|id| !id.is_empty()),
        "{response:?}"
    );
}
