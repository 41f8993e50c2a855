//! The HTTP front door: `POST /` with an `X-Amz-Target` header, as every AWS JSON 1.0 service.
//!
//! Every response, error or not, carries `x-amzn-requestid`; errors also carry
//! `x-amzn-errortype`, which is what the AWS SDKs read first. One log event per request gives
//! its id, operation, account, status and duration, and never its body.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use protond_wire::{ErrorKind, Operation, ProtonError, RequestContext, decode_request, dispatch};
use std::convert::Infallible;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

use crate::auth::{AuthConfig, Signed, authenticate};
use crate::service::Proton;

/// The content type of every response.
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// What the credentials of a deployment's commands may call: report on their deployment, and
/// read their own environment and deployment (the operations check that it is their own).
const DEPLOYMENT_OPERATIONS: &[Operation] = &[
    Operation::NotifyResourceDeploymentStatusChange,
    Operation::GetEnvironment,
    Operation::GetDeployment,
];

/// How the front door behaves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body accepted; Proton's largest input (a 51,200-character spec,
    /// escaped) fits well within the default.
    pub body_limit: usize,
    /// How long a client may take to send its request body.
    pub body_timeout: Duration,
    /// How callers are authenticated.
    pub auth: AuthConfig,
}

struct App {
    proton: Arc<Proton>,
    config: ServerConfig,
}

/// Serves `proton` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish (for at most `ServerConfig::drain`).
///
/// Connections are served with hyper directly, rather than through a framework's `serve`, for
/// one setting: a limit on how long a client may take to send its request headers, so that
/// clients that connect and stall cannot hold connections open forever.
pub async fn serve(
    listener: TcpListener,
    proton: Arc<Proton>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Arc::new(App { proton, config });
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Running out of file descriptors, say: wait a little rather than spin.
                Err(e) => {
                    warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let app = Arc::clone(&app);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(handle(app, request.map(Body::new)).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that breaks the protocol or goes away ends only its own connection.
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        warn!("requests still running after 30 s were dropped at shutdown");
    }
    Ok(())
}

/// The limit on sending request headers: generous for any real client on any network.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

async fn handle(app: Arc<App>, request: Request) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut operation = "-";
    let mut account = String::from("-");
    let result = serve_one(&app, request, &request_id, &mut operation, &mut account).await;
    let response = respond(&request_id, result);
    let status = response.status().as_u16();
    let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if status >= 500 {
        error!(
            request_id,
            operation, account, status, duration_us, "request"
        );
    } else {
        info!(
            request_id,
            operation, account, status, duration_us, "request"
        );
    }
    response
}

/// The steps of one request: read, decode and validate, authenticate, dispatch.
async fn serve_one(
    app: &App,
    request: Request,
    request_id: &str,
    operation: &mut &'static str,
    account: &mut String,
) -> Result<Vec<u8>, ProtonError> {
    let (parts, body) = request.into_parts();
    if parts.method != http::Method::POST || parts.uri.path() != "/" {
        return Err(ProtonError::unknown_operation(format!(
            "protond serves the Proton API at POST /, not {} {}",
            parts.method,
            parts.uri.path()
        )));
    }
    let body = read_body(body, &app.config).await?;

    // A header that is present but not text is passed on as text that cannot match, so that
    // it is refused rather than taken for absent.
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("(not ASCII)"))
    };
    let (op, input) = decode_request(header("x-amz-target"), header("content-type"), &body)?;
    *operation = op.name();

    let signed = Signed {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &body,
    };
    let ctx: RequestContext =
        authenticate(&app.config.auth, &signed, request_id, SystemTime::now())?;
    account.clone_from(&ctx.account_id);
    if ctx.deployment_id.is_some() && !DEPLOYMENT_OPERATIONS.contains(&op) {
        return Err(ProtonError::access_denied(format!(
            "The credentials of a deployment's commands may not call {}.",
            op.name()
        )));
    }

    dispatch(app.proton.as_ref(), &ctx, op, input).await
}

async fn read_body(body: Body, config: &ServerConfig) -> Result<Bytes, ProtonError> {
    let read = axum::body::to_bytes(body, config.body_limit);
    match tokio::time::timeout(config.body_timeout, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ProtonError::new(
            ErrorKind::RequestEntityTooLarge,
            format!(
                "The request body is larger than {} bytes.",
                config.body_limit
            ),
        )),
        Err(_) => Err(ProtonError::new(
            ErrorKind::RequestTimeout,
            "The request body did not arrive in time.",
        )),
    }
}

fn respond(request_id: &str, result: Result<Vec<u8>, ProtonError>) -> Response {
    let (status, body, error_type) = match result {
        Ok(body) => (StatusCode::OK, body, None),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, e.body(), Some(e.code()))
        }
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    }
    response
}
