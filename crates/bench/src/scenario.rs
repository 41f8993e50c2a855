//! The measurements, in order: set up through the API, the read paths against the ceiling,
//! scheduling and cancel latency, UpdateEnvironment bursts, then the large history.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

use crate::Scale;
use crate::load::{self, ACCOUNT_ID, Call, CallSource, Connection, LoadResult, REGION};
use crate::report::{Row, ms, percentile, table};
use crate::seed;
use crate::server::{self, Home, Process};

const TRUE_TEMPLATE: &str = "bench-true";
const PROBE_TEMPLATE: &str = "bench-probe";
const PROBE_ENV: &str = "probe-0";
const BUCKET: &str = "bench";
const TRUE_SPEC: &str = "proton: EnvironmentSpec\nspec:\n  note: bench\n";
const RUN_SPEC: &str = "proton: EnvironmentSpec\nspec:\n  hold: false\n";
const HOLD_SPEC: &str = "proton: EnvironmentSpec\nspec:\n  hold: true\n";

const TRUE_SCHEMA: &str = r#"schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "BenchInput"
  types:
    BenchInput:
      type: object
      description: "A benchmark environment"
      properties:
        note:
          type: string
          description: "Any text"
          default: "bench"
"#;

const TRUE_MANIFEST: &str = r#"infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:5.0
        provision:
          - "true"
        deprovision:
          - "true"
"#;

const PROBE_SCHEMA: &str = r#"schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "ProbeInput"
  types:
    ProbeInput:
      type: object
      description: "A benchmark environment that records when it starts and is stopped"
      properties:
        hold:
          type: boolean
          description: "Whether provisioning waits (to be cancelled)"
          default: false
"#;

const PROBE_MANIFEST: &str = r#"infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:5.0
        provision:
          - ". ./probe.sh"
        deprovision:
          - "true"
"#;

/// Sourced by the provision shell (no extra shell): records the wall-clock time in
/// nanoseconds when it runs and when SIGTERM reaches it, then waits when `hold` is true.
const PROBE_SCRIPT: &str = r#"stamp() {
  echo "$PROTOND_DEPLOYMENT_ID $(date +%s%N)" >> "$PROTOND_BENCH_DIR/$1"
}
trap 'stamp signalled; exit 143' TERM
stamp started
if grep -q '"hold": *true' proton-inputs.json; then
  sleep 60 &
  wait
fi
"#;

fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A cheap, well-mixed pseudo-random number from two counters (splitmix64).
fn mix(a: usize, b: u64) -> u64 {
    let mut z = (a as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_add(0x6A09_E667);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn write_bundle(
    dir: &Path,
    schema: &str,
    manifest: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("schema"))?;
    std::fs::create_dir_all(dir.join("infrastructure"))?;
    std::fs::write(dir.join("schema/schema.yaml"), schema)?;
    std::fs::write(dir.join("infrastructure/manifest.yaml"), manifest)?;
    for (name, text) in extra {
        std::fs::write(dir.join("infrastructure").join(name), text)?;
    }
    Ok(())
}

fn push_bundle(binary: &Path, home: &Home, dir: &Path, key: &str) -> anyhow::Result<()> {
    let output = std::process::Command::new(binary)
        .arg("bundle")
        .arg("push")
        .arg(dir)
        .arg(format!("s3://{BUCKET}/{key}"))
        .arg("--data-dir")
        .arg(home.data())
        .output()?;
    if !output.status.success() {
        bail!(
            "bundle push failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Creates a template, registers and publishes version 1.0 from s3://bench/`key`.
async fn publish_template(conn: &mut Connection, name: &str, key: &str) -> anyhow::Result<()> {
    conn.ok(&Call::new(
        "CreateEnvironmentTemplate",
        json!({"name": name}),
    ))
    .await?;
    conn.ok(&Call::new(
        "CreateEnvironmentTemplateVersion",
        json!({"templateName": name, "source": {"s3": {"bucket": BUCKET, "key": key}}}),
    ))
    .await?;
    let version = json!({"templateName": name, "majorVersion": "1", "minorVersion": "0"});
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = conn
            .ok(&Call::new("GetEnvironmentTemplateVersion", version.clone()))
            .await?;
        match got["environmentTemplateVersion"]["status"].as_str() {
            Some("DRAFT") => break,
            Some("REGISTRATION_IN_PROGRESS") if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => bail!("template {name} did not register: {other:?} {got}"),
        }
    }
    let mut publish = version;
    publish["status"] = json!("PUBLISHED");
    conn.ok(&Call::new("UpdateEnvironmentTemplateVersion", publish))
        .await?;
    Ok(())
}

fn true_env(i: usize) -> String {
    format!("bench-{i:05}")
}

/// Waits until no environment has a deployment in flight; returns how many failed and the
/// latest `lastDeploymentSucceededAt` (epoch seconds).
async fn settle(addr: std::net::SocketAddr, deadline: Duration) -> anyhow::Result<(usize, f64)> {
    // A connection of its own: protond closes connections idle for longer than its header
    // timeout (10 s).
    let mut conn = Connection::open(addr).await?;
    let until = Instant::now() + deadline;
    loop {
        let mut token: Option<String> = None;
        let (mut busy, mut failed, mut latest) = (0, 0, 0.0f64);
        loop {
            let mut body = json!({"maxResults": 100});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = conn.ok(&Call::new("ListEnvironments", body)).await?;
            for env in page["environments"].as_array().into_iter().flatten() {
                match env["deploymentStatus"].as_str().unwrap_or("") {
                    "IN_PROGRESS" | "CANCELLING" | "DELETE_IN_PROGRESS" => busy += 1,
                    "FAILED" | "DELETE_FAILED" => failed += 1,
                    _ => {}
                }
                latest = latest.max(env["lastDeploymentSucceededAt"].as_f64().unwrap_or(0.0));
            }
            token = page["nextToken"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        if busy == 0 {
            return Ok((failed, latest));
        }
        if Instant::now() > until {
            bail!("{busy} deployments still in flight after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One closed-loop run at the scale's connections, warm-up and length; a failed request fails
/// it, with `failed` saying what failed.
async fn closed_run(
    addr: std::net::SocketAddr,
    scale: &Scale,
    calls: &CallSource,
    failed: &str,
) -> anyhow::Result<LoadResult> {
    let result = load::closed_loop(
        addr,
        scale.connections,
        secs(scale.warmup_secs),
        secs(scale.run_secs),
        Arc::clone(calls),
    )
    .await?;
    if let Some(failure) = &result.first_failure {
        bail!("{failed}: {failure}");
    }
    Ok(result)
}

/// Runs `run` against protond and the ceiling `repeats` times, alternating, and keeps the best
/// (highest throughput) of each.
async fn versus(
    protond: &Process,
    ceiling: &Process,
    scale: &Scale,
    calls: CallSource,
) -> anyhow::Result<(LoadResult, LoadResult)> {
    let (mut best_p, mut best_c) = (LoadResult::default(), LoadResult::default());
    for _ in 0..scale.repeats {
        for (addr, best) in [(protond.addr, &mut best_p), (ceiling.addr, &mut best_c)] {
            let result =
                closed_run(addr, scale, &calls, "a request failed during a load run").await?;
            if result.rate() > best.rate() {
                *best = result;
            }
        }
    }
    Ok((best_p, best_c))
}

fn rate(r: &LoadResult) -> String {
    format!("{:.0} req/s", r.rate())
}

fn ratio(a: f64, b: f64) -> String {
    format!("{:.2}", a / b.max(1e-9))
}

fn latency_rows(name: &str, p: &LoadResult, c: &LoadResult, rows: &mut Vec<Row>) {
    for (label, q) in [("p50", 50.0), ("p99", 99.0)] {
        let (pp, cc) = (
            percentile(&p.latencies_us, q),
            percentile(&c.latencies_us, q),
        );
        rows.push(Row {
            name: format!("{name} {label}"),
            protond: ms(pp),
            ceiling: ms(cc),
            ratio: ratio(f64::from(pp), f64::from(cc)),
            target: String::new(),
            met: None,
        });
    }
}

/// The first timestamp recorded for each deployment id in a probe file.
fn probe_times(path: &Path) -> std::collections::HashMap<String, i64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut times = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((id, t)) = line.split_once(' ')
            && let Ok(t) = t.trim().parse::<i64>()
        {
            times.entry(id.to_owned()).or_insert(t);
        }
    }
    times
}

async fn wait_probe(path: &Path, id: &str, deadline: Duration) -> anyhow::Result<i64> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(t) = probe_times(path).get(id) {
            return Ok(*t);
        }
        if Instant::now() > until {
            bail!("{} has no line for {id} after {deadline:?}", path.display());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

async fn wait_env_status(conn: &mut Connection, name: &str, want: &str) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let env = conn
            .ok(&Call::new("GetEnvironment", json!({"name": name})))
            .await?;
        let status = env["environment"]["deploymentStatus"]
            .as_str()
            .unwrap_or("");
        if status == want {
            return Ok(());
        }
        if Instant::now() > until {
            bail!("environment {name} is {status}, not {want}, after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Microseconds from `from_ns` to `to_ns`, never negative (an event that happened before the
/// client read the answer counts as 0).
fn us_between(from_ns: i64, to_ns: i64) -> u32 {
    u32::try_from((to_ns - from_ns).max(0) / 1000).unwrap_or(u32::MAX)
}

struct Latencies {
    scheduling: Vec<u32>,
    signalled: Vec<u32>,
    cancelled: Vec<u32>,
}

async fn probe_latencies(
    addr: std::net::SocketAddr,
    home: &Home,
    samples: usize,
) -> anyhow::Result<Latencies> {
    let mut conn = Connection::open(addr).await?;
    let started = home.probe().join("started");
    let signalled = home.probe().join("signalled");
    let mut out = Latencies {
        scheduling: Vec::new(),
        signalled: Vec::new(),
        cancelled: Vec::new(),
    };
    let update = |spec: &str| {
        Call::new(
            "UpdateEnvironment",
            json!({"name": PROBE_ENV, "deploymentType": "CURRENT_VERSION", "spec": spec}),
        )
    };
    for _ in 0..samples {
        let answer = conn.ok(&update(RUN_SPEC)).await?;
        let answered = now_ns();
        let id = answer["environment"]["lastAttemptedDeploymentId"]
            .as_str()
            .context("the update's deployment id")?
            .to_owned();
        let ran = wait_probe(&started, &id, Duration::from_secs(30)).await?;
        out.scheduling.push(us_between(answered, ran));
        wait_env_status(&mut conn, PROBE_ENV, "SUCCEEDED").await?;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..samples.div_ceil(2) {
        let answer = conn.ok(&update(HOLD_SPEC)).await?;
        let id = answer["environment"]["lastAttemptedDeploymentId"]
            .as_str()
            .context("the update's deployment id")?
            .to_owned();
        wait_probe(&started, &id, Duration::from_secs(30)).await?;
        // Let the shell reach its wait.
        tokio::time::sleep(Duration::from_millis(20)).await;
        conn.ok(&Call::new(
            "CancelEnvironmentDeployment",
            json!({"environmentName": PROBE_ENV}),
        ))
        .await?;
        let answered = now_ns();
        let get = Call::new(
            "GetDeployment",
            json!({"id": id, "environmentName": PROBE_ENV}),
        );
        let until = Instant::now() + Duration::from_secs(30);
        let stored = loop {
            let got = conn.ok(&get).await?;
            let seen = now_ns();
            match got["deployment"]["deploymentStatus"].as_str() {
                Some("CANCELLED") => break seen,
                Some("CANCELLING") | Some("IN_PROGRESS") if Instant::now() < until => {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
                other => bail!("the cancelled deployment ended {other:?}"),
            }
        };
        let sig = wait_probe(&signalled, &id, Duration::from_secs(30)).await?;
        out.signalled.push(us_between(answered, sig));
        out.cancelled.push(us_between(answered, stored));
        wait_env_status(&mut conn, PROBE_ENV, "CANCELLED").await?;
    }
    Ok(out)
}

/// Samples a process's resident memory every 20 ms until stopped; returns the highest.
fn rss_sampler(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let mut max = 0;
        while !flag.load(Ordering::Relaxed) {
            let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kib = text
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            max = max.max(kib * 1024);
            std::thread::sleep(Duration::from_millis(20));
        }
        max
    });
    (stop, handle)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Sequential latency of one call, `samples` times, on one connection.
async fn sequential(
    addr: std::net::SocketAddr,
    call: &Call,
    samples: usize,
) -> anyhow::Result<Vec<u32>> {
    let mut conn = Connection::open(addr).await?;
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples.max(1) + 5 {
        let sent = Instant::now();
        let (status, body) = conn.send(call).await?;
        if status != 200 {
            bail!(
                "{} answered {status}: {}",
                call.operation,
                String::from_utf8_lossy(&body)
            );
        }
        out.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    // The first few warm the connection and caches.
    Ok(out.split_off(5))
}

fn progress(what: &str) {
    eprintln!("protond-bench: {what}");
}

/// Runs everything and returns the printed table.
pub async fn run(binary: &Path, home: &Home, scale: &Scale) -> anyhow::Result<String> {
    let judged = !scale.quick;
    let mut rows: Vec<Row> = Vec::new();
    let partition = format!("{ACCOUNT_ID}/{REGION}");

    // Bundles, then a fresh protond.
    let true_dir = home.root.join("bundles/true");
    let probe_dir = home.root.join("bundles/probe");
    write_bundle(&true_dir, TRUE_SCHEMA, TRUE_MANIFEST, &[])?;
    write_bundle(
        &probe_dir,
        PROBE_SCHEMA,
        PROBE_MANIFEST,
        &[("probe.sh", PROBE_SCRIPT)],
    )?;
    push_bundle(binary, home, &true_dir, "true.tar.gz")?;
    push_bundle(binary, home, &probe_dir, "probe.tar.gz")?;
    let (mut protond, startup_small) = server::start_protond(binary, home).await?;
    let addr = protond.addr;
    progress(&format!("protond {} listening on {addr}", protond.pid()));
    let idle_small = protond.rss();

    // Setup through the API.
    let mut conn = Connection::open(addr).await?;
    publish_template(&mut conn, TRUE_TEMPLATE, "true.tar.gz").await?;
    publish_template(&mut conn, PROBE_TEMPLATE, "probe.tar.gz").await?;
    conn.ok(&Call::new(
        "CreateEnvironment",
        json!({"name": PROBE_ENV, "templateName": PROBE_TEMPLATE,
               "templateMajorVersion": "1", "spec": RUN_SPEC}),
    ))
    .await?;
    let creates: Vec<Call> = (0..scale.small_envs)
        .map(|i| {
            Call::new(
                "CreateEnvironment",
                json!({"name": true_env(i), "templateName": TRUE_TEMPLATE,
                       "templateMajorVersion": "1", "spec": TRUE_SPEC}),
            )
        })
        .collect();
    let (created, _) = load::batch(addr, scale.connections, Arc::new(creates)).await?;
    if let Some(failure) = created.first_failure {
        bail!("CreateEnvironment failed: {failure}");
    }
    progress(&format!(
        "created {} environments at {:.0}/s; waiting for their deployments",
        created.ok,
        created.rate()
    ));
    let (failed, _) = settle(addr, Duration::from_secs(600)).await?;
    anyhow::ensure!(failed == 0, "{failed} first deployments failed");

    // The ceiling answers bodies of the sizes protond answers.
    let n = scale.small_envs;
    let get_call = |i: usize| Call::new("GetEnvironment", json!({"name": true_env(i)}));
    let list_call = Call::new("ListEnvironments", json!({}));
    let mut conn = Connection::open(addr).await?;
    let get_size = conn.send(&get_call(0)).await?.1.len();
    let list_size = conn.send(&list_call).await?.1.len();
    let mut ceiling = server::start_ceiling(&[
        ("GetEnvironment", get_size),
        ("ListEnvironments", list_size),
    ])?;
    progress(&format!(
        "ceiling {} on {} (GetEnvironment {get_size} B, ListEnvironments {list_size} B)",
        ceiling.pid(),
        ceiling.addr
    ));

    // GetEnvironment and ListEnvironments at 64 connections.
    let gets: CallSource = Arc::new(move |c, i| get_call((mix(c, i) % n as u64) as usize));
    let (get_p, get_c) = versus(&protond, &ceiling, scale, Arc::clone(&gets)).await?;
    progress(&format!(
        "GetEnvironment {} vs {}",
        rate(&get_p),
        rate(&get_c)
    ));
    let lists: CallSource = {
        let call = list_call.clone();
        Arc::new(move |_, _| call.clone())
    };
    let (list_p, list_c) = versus(&protond, &ceiling, scale, lists).await?;
    progress(&format!(
        "ListEnvironments {} vs {}",
        rate(&list_p),
        rate(&list_c)
    ));
    let get_ratio = get_p.rate() / get_c.rate().max(1e-9);
    rows.push(Row {
        name: format!("GetEnvironment throughput, {} conns", scale.connections),
        protond: rate(&get_p),
        ceiling: rate(&get_c),
        ratio: ratio(get_p.rate(), get_c.rate()),
        target: ">= 0.50 of ceiling".into(),
        met: Some(get_ratio >= 0.5),
    });
    latency_rows("GetEnvironment latency", &get_p, &get_c, &mut rows);
    rows.push(Row {
        name: format!("ListEnvironments throughput, {} conns", scale.connections),
        protond: rate(&list_p),
        ceiling: rate(&list_c),
        ratio: ratio(list_p.rate(), list_c.rate()),
        target: String::new(),
        met: None,
    });
    latency_rows("ListEnvironments latency", &list_p, &list_c, &mut rows);

    // p99 at half of protond's maximum rate, open loop.
    let half = get_p.rate() / 2.0;
    let paced_p = load::open_loop(
        addr,
        scale.connections,
        half,
        secs(scale.warmup_secs),
        secs(scale.run_secs),
        Arc::clone(&gets),
    )
    .await?;
    let paced_c = load::open_loop(
        ceiling.addr,
        scale.connections,
        half,
        secs(scale.warmup_secs),
        secs(scale.run_secs),
        Arc::clone(&gets),
    )
    .await?;
    let paced_p99 = percentile(&paced_p.latencies_us, 99.0);
    let paced_c99 = percentile(&paced_c.latencies_us, 99.0);
    rows.push(Row {
        name: format!("GetEnvironment p99 at {half:.0} req/s (half max)"),
        protond: ms(paced_p99),
        ceiling: ms(paced_c99),
        ratio: ratio(f64::from(paced_p99), f64::from(paced_c99)),
        target: "< 2 ms".into(),
        met: Some(paced_p99 < 2000),
    });
    progress(&format!("paced p99 {}", ms(paced_p99)));
    ceiling.stop(Duration::from_secs(5));

    // Scheduling and cancel latency, on an otherwise idle server.
    let probes = probe_latencies(addr, home, scale.samples).await?;
    for (name, values, target, limit) in [
        (
            "Scheduling: update answered -> command running",
            &probes.scheduling,
            "p99 < 20 ms",
            20_000,
        ),
        (
            "Cancel: answered -> process group signalled",
            &probes.signalled,
            "p99 < 10 ms",
            10_000,
        ),
        (
            "Cancel: answered -> CANCELLED stored",
            &probes.cancelled,
            "p99 < 100 ms",
            100_000,
        ),
    ] {
        let (p50, p99) = (percentile(values, 50.0), percentile(values, 99.0));
        rows.push(Row::plain(
            &format!("{name} (n={})", values.len()),
            format!("p50 {} / p99 {}", ms(p50), ms(p99)),
            target,
            Some(p99 < limit),
        ));
    }
    progress("scheduling and cancel latency measured");

    // UpdateEnvironment bursts: every environment once, then the engine drains them.
    let updates: Arc<Vec<Call>> = Arc::new(
        (0..n)
            .map(|i| {
                Call::new(
                    "UpdateEnvironment",
                    json!({"name": true_env(i), "deploymentType": "CURRENT_VERSION"}),
                )
            })
            .collect(),
    );
    let (mut best_accept, mut best_e2e) = (0.0f64, 0.0f64);
    let mut accept_p99 = 0;
    for _ in 0..scale.repeats {
        let started = now_ns();
        let (burst, statuses) = load::batch(addr, scale.connections, Arc::clone(&updates)).await?;
        if let Some(failure) = &burst.first_failure {
            bail!("UpdateEnvironment failed: {failure}");
        }
        let accepted = statuses.iter().filter(|s| **s == 200).count();
        if burst.rate() > best_accept {
            best_accept = burst.rate();
            accept_p99 = percentile(&burst.latencies_us, 99.0);
        }
        let (failed, latest) = settle(addr, Duration::from_secs(600)).await?;
        anyhow::ensure!(failed == 0, "{failed} deployments failed");
        let drained = latest - started as f64 / 1e9;
        best_e2e = best_e2e.max(accepted as f64 / drained.max(1e-3));
        progress(&format!(
            "burst: {accepted} accepted at {:.0}/s, drained in {drained:.2} s",
            burst.rate()
        ));
    }
    rows.push(Row::plain(
        &format!("UpdateEnvironment accepted (durable), {n} envs x 64 conns"),
        format!("{best_accept:.0} /s (p99 {})", ms(accept_p99)),
        ">= 2000 /s",
        Some(best_accept >= 2000.0),
    ));
    rows.push(Row::plain(
        "Deployments end to end (provision: true)",
        format!("{best_e2e:.0} /s"),
        "",
        None,
    ));

    // The large history: stop, seed straight into the database, start again.
    let (have_envs, have_deps) = (
        n + 1,
        n * (1 + scale.repeats) + 1 + scale.samples + scale.samples.div_ceil(2),
    );
    protond.stop(Duration::from_secs(30));
    progress(&format!(
        "seeding {} environments and {} deployments into the stopped database",
        scale.large_envs, scale.large_deployments
    ));
    let seeding = Instant::now();
    let seeded = seed::seed(
        &home.database(),
        &partition,
        &true_env(0),
        (have_envs, have_deps),
        (scale.large_envs, scale.large_deployments),
    )
    .await?;
    progress(&format!(
        "seeded {} environments and {} deployments in {:.1} s",
        seeded.environments.len(),
        seeded.deployments,
        seeding.elapsed().as_secs_f64()
    ));
    let (protond_large, startup_large) = server::start_protond(binary, home).await?;
    let addr = protond_large.addr;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_large = protond_large.rss();

    let mut names: Vec<String> = (0..n).map(true_env).collect();
    names.extend(seeded.environments.iter().cloned());
    let names = Arc::new(names);
    let total_envs = names.len();
    let large_gets: CallSource = {
        let names = Arc::clone(&names);
        Arc::new(move |c, i| {
            let name = &names[(mix(c, i) % names.len() as u64) as usize];
            Call::new("GetEnvironment", json!({"name": name}))
        })
    };
    let (sampler_stop, sampler) = rss_sampler(protond_large.pid());
    let mut large_get = LoadResult::default();
    for _ in 0..scale.repeats {
        let result = closed_run(addr, scale, &large_gets, "GetEnvironment failed at scale").await?;
        if result.rate() > large_get.rate() {
            large_get = result;
        }
    }
    progress(&format!("GetEnvironment at scale {}", rate(&large_get)));

    let token = |key: &str| protond_engine::records::base64_bytes::encode(key.as_bytes());
    let pages = [
        ("ListDeployments, all, first page", json!({})),
        (
            "ListDeployments, all, deep page",
            json!({"nextToken": token(&seeded.deep_key)}),
        ),
        (
            "ListDeployments, one env, first page",
            json!({"environmentName": seed::HOT_ENVIRONMENT}),
        ),
        (
            "ListDeployments, one env, deep page",
            json!({"environmentName": seed::HOT_ENVIRONMENT,
                   "nextToken": token(&seeded.hot_deep_key)}),
        ),
    ];
    let mut page_rows = Vec::new();
    for (name, body) in &pages {
        let call = Call::new("ListDeployments", body.clone());
        let values = sequential(addr, &call, scale.samples).await?;
        let (p50, p99) = (percentile(&values, 50.0), percentile(&values, 99.0));
        page_rows.push(Row::plain(
            &format!("{name} (n={})", values.len()),
            format!("p50 {} / p99 {}", ms(p50), ms(p99)),
            "p99 < 5 ms",
            Some(p99 < 5000),
        ));
    }
    progress("ListDeployments pages measured");
    // Memory under a list-heavy load too: 64 connections reading deep pages.
    let deep_lists: CallSource = {
        let bodies: Vec<Value> = pages.iter().map(|(_, b)| b.clone()).collect();
        Arc::new(move |c, i| Call::new("ListDeployments", bodies[(mix(c, i) % 4) as usize].clone()))
    };
    let list_load = load::closed_loop(
        addr,
        scale.connections,
        secs(scale.warmup_secs),
        secs(scale.run_secs),
        deep_lists,
    )
    .await?;
    progress(&format!(
        "ListDeployments mix at 64 conns {}",
        rate(&list_load)
    ));
    sampler_stop.store(true, Ordering::Relaxed);
    let loaded_rss = sampler.join().unwrap_or(0);
    let db_bytes = home.database_bytes();
    let mut protond_large = protond_large;
    protond_large.stop(Duration::from_secs(30));

    let scale_ratio = large_get.rate() / get_p.rate().max(1e-9);
    rows.push(Row {
        name: format!(
            "GetEnvironment at {total_envs} envs / {} deployments",
            have_deps + seeded.deployments
        ),
        protond: rate(&large_get),
        ceiling: format!("{} (at {n} envs)", rate(&get_p)),
        ratio: format!("{scale_ratio:.2}"),
        target: ">= 0.90 of small".into(),
        met: Some(scale_ratio >= 0.9),
    });
    latency_rows_single("GetEnvironment at scale latency", &large_get, &mut rows);
    rows.extend(page_rows);
    rows.push(Row::plain(
        "ListDeployments mix, 64 conns (memory load)",
        rate(&list_load),
        "",
        None,
    ));
    rows.push(Row::plain(
        &format!("Start-up, {n} envs (spawn -> first 200)"),
        ms(u32::try_from(startup_small.as_micros()).unwrap_or(u32::MAX)),
        "",
        None,
    ));
    let startup_us = u32::try_from(startup_large.as_micros()).unwrap_or(u32::MAX);
    rows.push(Row::plain(
        "Start-up at scale (spawn -> first 200)",
        ms(startup_us),
        "< 300 ms",
        Some(startup_us < 300_000),
    ));
    rows.push(Row::plain("RSS idle, fresh", mib(idle_small), "", None));
    rows.push(Row::plain(
        "RSS idle at scale",
        mib(idle_large),
        "< 30 MB",
        Some(idle_large < 30_000_000),
    ));
    rows.push(Row::plain(
        "RSS under load at scale (max)",
        mib(loaded_rss),
        "< 150 MB",
        Some(loaded_rss < 150_000_000),
    ));
    rows.push(Row::plain(
        "Database size at scale (db + WAL + shm)",
        format!("{} ({} WAL)", mib(db_bytes), mib(home.wal_bytes())),
        "",
        None,
    ));

    let title = format!(
        "protond-bench ({} run): {} cores shared by client and server; ratios are protond / \
         ceiling unless noted",
        if scale.quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(table(&title, &rows, judged))
}

fn latency_rows_single(name: &str, r: &LoadResult, rows: &mut Vec<Row>) {
    let (p50, p99) = (
        percentile(&r.latencies_us, 50.0),
        percentile(&r.latencies_us, 99.0),
    );
    rows.push(Row::plain(
        name,
        format!("p50 {} / p99 {}", ms(p50), ms(p99)),
        "",
        None,
    ));
}

/// A profiling aid (`protond-bench __profile get|list|update OUT`): sets up a small protond,
/// then records it with `perf record -g` while one operation is loaded, into OUT.
pub async fn profile(
    binary: &Path,
    home: &Home,
    scale: &Scale,
    op: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let true_dir = home.root.join("bundles/true");
    write_bundle(&true_dir, TRUE_SCHEMA, TRUE_MANIFEST, &[])?;
    push_bundle(binary, home, &true_dir, "true.tar.gz")?;
    let (protond, _) = server::start_protond(binary, home).await?;
    let addr = protond.addr;
    let mut conn = Connection::open(addr).await?;
    publish_template(&mut conn, TRUE_TEMPLATE, "true.tar.gz").await?;
    let n = scale.small_envs;
    let creates: Vec<Call> = (0..n)
        .map(|i| {
            Call::new(
                "CreateEnvironment",
                json!({"name": true_env(i), "templateName": TRUE_TEMPLATE,
                       "templateMajorVersion": "1", "spec": TRUE_SPEC}),
            )
        })
        .collect();
    load::batch(addr, scale.connections, Arc::new(creates)).await?;
    settle(addr, Duration::from_secs(600)).await?;
    let mut perf = std::process::Command::new("perf")
        .args(["record", "-F", "499", "--call-graph", "dwarf,16384", "-o"])
        .arg(out)
        .arg("-p")
        .arg(protond.pid().to_string())
        .spawn()
        .context("cannot run perf")?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let result = if op == "update" {
        let updates: Vec<Call> = (0..n)
            .map(|i| {
                Call::new(
                    "UpdateEnvironment",
                    json!({"name": true_env(i), "deploymentType": "CURRENT_VERSION"}),
                )
            })
            .collect();
        load::batch(addr, scale.connections, Arc::new(updates))
            .await?
            .0
    } else {
        let calls: CallSource = if op == "list" {
            Arc::new(|_, _| Call::new("ListEnvironments", json!({})))
        } else {
            Arc::new(move |c, i| {
                let name = true_env((mix(c, i) % n as u64) as usize);
                Call::new("GetEnvironment", json!({"name": name}))
            })
        };
        load::closed_loop(
            addr,
            scale.connections,
            secs(0.2),
            secs(scale.run_secs),
            calls,
        )
        .await?
    };
    if let Ok(pid) = i32::try_from(perf.id()) {
        // SAFETY: kill(2) aimed at the perf process this function started.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
    let _ = perf.wait();
    eprintln!("{op}: {:.0} req/s, {} failed", result.rate(), result.failed);
    Ok(())
}
