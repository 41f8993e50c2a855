//! The load generator: SigV4-signed awsJson1_0 requests over keep-alive HTTP/1.1 connections,
//! closed-loop (each connection sends its next request when the last one was answered),
//! open-loop at a fixed rate, or one fixed list of requests.
//!
//! Every request is signed afresh with `aws-sigv4`, as an SDK signs it, so the client pays the
//! same signing cost against protond and against the ceiling.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The access key the harness configures in protond and signs with.
pub const ACCESS_KEY_ID: &str = "AKIABENCHMARK0000001";
/// Its secret.
pub const SECRET_ACCESS_KEY: &str = "benchmark/secret/key/0000000000000000000";
/// The account the key acts in.
pub const ACCOUNT_ID: &str = "111122223333";
/// The region requests are signed for.
pub const REGION: &str = "us-east-1";

/// One request: the operation and its JSON body.
#[derive(Clone, Debug)]
pub struct Call {
    /// The operation name, such as `GetEnvironment`.
    pub operation: &'static str,
    /// The JSON body.
    pub body: Bytes,
}

impl Call {
    /// A call of `operation` with `body`.
    pub fn new(operation: &'static str, body: serde_json::Value) -> Call {
        Call {
            operation,
            body: Bytes::from(body.to_string()),
        }
    }
}

/// Signs requests for one server address.
#[derive(Clone)]
pub struct Signer {
    identity: Identity,
    host: String,
}

impl Signer {
    /// A signer for requests to `addr`.
    pub fn new(addr: SocketAddr) -> Signer {
        let credentials = Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "bench");
        Signer {
            identity: credentials.into(),
            host: addr.to_string(),
        }
    }

    /// The signed HTTP request for `call`, dated now.
    pub fn request(&self, call: &Call) -> anyhow::Result<http::Request<Full<Bytes>>> {
        let target = format!("AwsProton20200720.{}", call.operation);
        let mut request = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", &self.host)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", &target)
            .body(Full::new(call.body.clone()))?;
        let params: SigningParams<'_> = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(REGION)
            .name("proton")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let url = format!("http://{}/", self.host);
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", target.as_str()),
        ];
        let signable = SignableRequest::new(
            "POST",
            url.as_str(),
            headers.into_iter(),
            SignableBody::Bytes(&call.body),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }
}

/// One keep-alive connection.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    signer: Signer,
}

impl Connection {
    /// Opens a connection to `addr`.
    pub async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            signer: Signer::new(addr),
        })
    }

    /// Sends `call` and returns the status and the body.
    pub async fn send(&mut self, call: &Call) -> anyhow::Result<(u16, Bytes)> {
        let request = self.signer.request(call)?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// Sends `call` and returns the decoded body, failing on any status but 200.
    pub async fn ok(&mut self, call: &Call) -> anyhow::Result<serde_json::Value> {
        let (status, body) = self.send(call).await?;
        if status != 200 {
            bail!(
                "{} answered {status}: {}",
                call.operation,
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }
}

/// What a load run measured.
#[derive(Debug, Default, Clone)]
pub struct LoadResult {
    /// Requests answered 200.
    pub ok: u64,
    /// Requests answered with another status.
    pub failed: u64,
    /// The first failure's status and body, for the report.
    pub first_failure: Option<String>,
    /// The latency of every answered request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// How long the measured part of the run took.
    pub elapsed: Duration,
}

impl LoadResult {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn merge(&mut self, other: LoadResult) {
        self.ok += other.ok;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        self.latencies_us.extend(other.latencies_us);
    }

    fn record(&mut self, status: u16, body: &[u8], latency: Duration) {
        if status == 200 {
            self.ok += 1;
        } else {
            self.failed += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some(format!("{status}: {}", String::from_utf8_lossy(body)));
            }
        }
        self.latencies_us
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }
}

/// Picks the call for the `n`th request of connection `conn`.
pub type CallSource = Arc<dyn Fn(usize, u64) -> Call + Send + Sync>;

async fn open_all(addr: SocketAddr, connections: usize) -> anyhow::Result<Vec<Connection>> {
    let mut all = Vec::with_capacity(connections);
    for _ in 0..connections {
        all.push(Connection::open(addr).await?);
    }
    Ok(all)
}

/// Closed loop: `connections` connections each send requests back to back for `warmup` plus
/// `duration`; only the requests sent after the warm-up count.
pub async fn closed_loop(
    addr: SocketAddr,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    calls: CallSource,
) -> anyhow::Result<LoadResult> {
    let conns = open_all(addr, connections).await?;
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for (index, mut conn) in conns.into_iter().enumerate() {
        let calls = Arc::clone(&calls);
        tasks.push(tokio::spawn(async move {
            let mut result = LoadResult::default();
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let call = calls(index, n);
                n += 1;
                let (status, body) = conn.send(&call).await?;
                if sent >= measure_from {
                    result.record(status, &body, sent.elapsed());
                }
            }
            anyhow::Ok(result)
        }));
    }
    merged(tasks, duration).await
}

/// The connections' results together, over `duration`.
async fn merged(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<LoadResult>>>,
    duration: Duration,
) -> anyhow::Result<LoadResult> {
    let mut total = LoadResult::default();
    for task in tasks {
        total.merge(task.await??);
    }
    total.elapsed = duration;
    Ok(total)
}

/// Open loop: `rate` requests per second in all, spread evenly over `connections` connections,
/// for `warmup` plus `duration`. A request's latency counts from when it was due, not from
/// when it could be sent, so a stalled server is not hidden (no coordinated omission).
pub async fn open_loop(
    addr: SocketAddr,
    connections: usize,
    rate: f64,
    warmup: Duration,
    duration: Duration,
    calls: CallSource,
) -> anyhow::Result<LoadResult> {
    let conns = open_all(addr, connections).await?;
    let per_conn = Duration::from_secs_f64(connections as f64 / rate.max(1.0));
    let start = Instant::now() + Duration::from_millis(5);
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for (index, mut conn) in conns.into_iter().enumerate() {
        let calls = Arc::clone(&calls);
        // Connections start staggered, so that the requests are evenly spaced in all.
        let offset = per_conn.mul_f64(index as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            let mut result = LoadResult::default();
            let mut n = 0u64;
            loop {
                let due = start + offset + per_conn.mul_f64(n as f64);
                if due >= end {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                let call = calls(index, n);
                n += 1;
                let (status, body) = conn.send(&call).await?;
                if due >= measure_from {
                    result.record(status, &body, due.elapsed());
                }
            }
            anyhow::Ok(result)
        }));
    }
    merged(tasks, duration).await
}

/// Sends every call of `calls` once, over `connections` connections, as fast as answered.
/// Returns the result and each call's status, in the order of `calls`.
pub async fn batch(
    addr: SocketAddr,
    connections: usize,
    calls: Arc<Vec<Call>>,
) -> anyhow::Result<(LoadResult, Vec<u16>)> {
    let conns = open_all(addr, connections.min(calls.len().max(1))).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let (calls, next) = (Arc::clone(&calls), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut result = LoadResult::default();
            let mut statuses = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(call) = calls.get(i) else { break };
                let sent = Instant::now();
                let (status, body) = conn.send(call).await?;
                result.record(status, &body, sent.elapsed());
                statuses.push((i, status));
            }
            anyhow::Ok((result, statuses))
        }));
    }
    let mut total = LoadResult::default();
    let mut statuses = vec![0u16; calls.len()];
    for task in tasks {
        let (result, some) = task.await??;
        total.merge(result);
        for (i, status) in some {
            statuses[i] = status;
        }
    }
    total.elapsed = start.elapsed();
    Ok((total, statuses))
}
