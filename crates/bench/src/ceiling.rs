//! The ceiling: the least an HTTP/1.1 server built like protond (tokio's multi-thread runtime,
//! hyper's http1 connections, no TCP_NODELAY) can do for the same requests. It reads each
//! request's body, looks at `X-Amz-Target`, and answers a prepared body of the size protond
//! answered for that operation, with the same headers. It checks no signature and touches no
//! store: what protond does beyond this is what the ratio measures.
//!
//! It runs as a child process of the harness (`protond-bench __ceiling OP=SIZE...`), like
//! protond, so that both compete with the load generator for the CPU the same way.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// Runs the ceiling server until killed; prints its port on the first line of stdout.
pub fn serve(args: &[String]) -> anyhow::Result<()> {
    let mut bodies: HashMap<String, Bytes> = HashMap::new();
    for arg in args {
        let (operation, size) = arg
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("expected OPERATION=SIZE, got {arg}"))?;
        let target = format!("AwsProton20200720.{operation}");
        bodies.insert(target, filler(size.parse()?));
    }
    let bodies = Arc::new(bodies);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let port = listener.local_addr()?.port();
            let mut out = std::io::stdout();
            writeln!(out, "{port}")?;
            out.flush()?;
            loop {
                let (stream, _) = listener.accept().await?;
                let bodies = Arc::clone(&bodies);
                let service = hyper::service::service_fn(move |request| {
                    let bodies = Arc::clone(&bodies);
                    async move { Ok::<_, Infallible>(answer(&bodies, request).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
}

async fn answer(
    bodies: &HashMap<String, Bytes>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let _ = body.collect().await;
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (status, body) = match bodies.get(target) {
        Some(body) => (200, body.clone()),
        None => (400, Bytes::from_static(b"{}")),
    };
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-requestid", uuid::Uuid::new_v4().to_string())
        .body(Full::new(body))
        .expect("a valid response")
}

/// A JSON document of exactly `size` bytes (at least 8).
fn filler(size: usize) -> Bytes {
    let pad = size.saturating_sub(8);
    Bytes::from(format!("{{\"x\":\"{}\"}}", "a".repeat(pad)))
}
