//! SigV4 authentication with access keys configured (strict mode), local development mode, and
//! the refusal to listen beyond loopback without keys.
//!
//! Errors an SDK can produce (a wrong secret, an unknown key, a missing session token) go
//! through the Rust SDK; the rest are raw requests signed here with `aws-sigv4`, then altered
//! in exactly one way.

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_proton::config::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use common::{DEADLINE, Protond, RawResponse, code, expect_error};

const KEY: &str = "AKIDALPHA";
const SECRET: &str = "alpha-secret-Qx7bN2mR9tLw";
const TOKEN_KEY: &str = "AKIDTOKEN";
const TOKEN_SECRET: &str = "token-secret-Vp4kZ8sJ1hYc";
const TOKEN: &str = "session-token-Hd6fW3nG5qEa";

/// Two keys of one account; the second needs a session token.
fn keys() -> String {
    format!(
        "[[access_keys]]\n\
         access_key_id = \"{KEY}\"\n\
         secret_access_key = \"{SECRET}\"\n\
         account_id = \"111111111111\"\n\
         \n\
         [[access_keys]]\n\
         access_key_id = \"{TOKEN_KEY}\"\n\
         secret_access_key = \"{TOKEN_SECRET}\"\n\
         account_id = \"111111111111\"\n\
         session_token = \"{TOKEN}\"\n"
    )
}

fn strict() -> Protond {
    Protond::start_with(&keys())
}

/// How a raw request is signed.
#[derive(Clone)]
struct Signing {
    key: String,
    secret: String,
    token: Option<String>,
    region: String,
    service: String,
    time: SystemTime,
}

impl Signing {
    fn good() -> Signing {
        Signing {
            key: KEY.into(),
            secret: SECRET.into(),
            token: None,
            region: "us-east-1".into(),
            service: "proton".into(),
            time: SystemTime::now(),
        }
    }
}

/// The headers of `POST /` calling `operation` with `body`, signed as `signing` says. Host is
/// signed as the harness sends it, and left out of the result since the harness adds it.
fn signed(port: u16, signing: &Signing, operation: &str, body: &str) -> Vec<(String, String)> {
    let host = format!("127.0.0.1:{port}");
    let target = format!("AwsProton20200720.{operation}");
    let base = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target.as_str()),
    ];
    let credentials = Credentials::new(
        &signing.key,
        &signing.secret,
        signing.token.clone(),
        None,
        "tests",
    );
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&signing.region)
        .name(&signing.service)
        .time(signing.time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let request = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        base.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("a signable request");
    let (instructions, _signature) = sign(request, &params).expect("a signature").into_parts();
    let mut headers: Vec<(String, String)> = base[1..]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    for (name, value) in instructions.headers() {
        headers.push((name.to_owned(), value.to_owned()));
    }
    headers
}

fn send(server: &Protond, headers: &[(String, String)], body: &str) -> RawResponse {
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    server.raw(&refs, body)
}

fn authorization(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone())
        .expect("an Authorization header")
}

/// `headers` with the Authorization header replaced by `value` (or removed, when None).
fn with_authorization(headers: &[(String, String)], value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
        .cloned()
        .collect();
    if let Some(value) = value {
        out.push(("authorization".into(), value.into()));
    }
    out
}

const LIST: &str = "ListEnvironmentTemplates";

#[tokio::test]
async fn a_configured_key_is_accepted_through_the_sdk_and_raw() {
    let server = strict();
    let client = server.client_with(KEY, SECRET, None, "us-east-1");
    client
        .create_environment_template()
        .name("signed")
        .send()
        .await
        .expect("CreateEnvironmentTemplate signed with a configured key");
    let listed = client.list_environment_templates().send().await.unwrap();
    assert_eq!(listed.templates.len(), 1);
    assert!(
        listed.templates[0].arn.contains(":111111111111:"),
        "{listed:?}"
    );

    let response = send(
        &server,
        &signed(server.port(), &Signing::good(), LIST, "{}"),
        "{}",
    );
    assert_eq!(response.status, 200, "{response:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_signature_exception() {
    let server = strict();
    let client = server.client_with(KEY, "not-the-secret", None, "us-east-1");
    let error = client
        .list_environment_templates()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&error.into_service_error()),
        "InvalidSignatureException"
    );

    let signing = Signing {
        secret: "not-the-secret".into(),
        ..Signing::good()
    };
    let response = send(&server, &signed(server.port(), &signing, LIST, "{}"), "{}");
    expect_error(&response, 403, "InvalidSignatureException");
}

#[tokio::test]
async fn an_unknown_key_is_an_unrecognized_client_exception() {
    let server = strict();
    let client = server.client_with("AKIDNOBODY", SECRET, None, "us-east-1");
    let error = client
        .list_environment_templates()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&error.into_service_error()),
        "UnrecognizedClientException"
    );

    let signing = Signing {
        key: "AKIDNOBODY".into(),
        ..Signing::good()
    };
    let response = send(&server, &signed(server.port(), &signing, LIST, "{}"), "{}");
    expect_error(&response, 403, "UnrecognizedClientException");
}

#[test]
fn an_unsigned_request_is_a_missing_authentication_token_exception() {
    let server = strict();
    let headers = signed(server.port(), &Signing::good(), LIST, "{}");
    let response = send(&server, &with_authorization(&headers, None), "{}");
    expect_error(&response, 403, "MissingAuthenticationTokenException");

    // Nothing AWS-like at all: only the target.
    let target = ("X-Amz-Target", "AwsProton20200720.ListEnvironmentTemplates");
    let response = server.raw(&[target], "{}");
    expect_error(&response, 403, "MissingAuthenticationTokenException");
}

#[test]
fn partial_authorization_headers_are_incomplete_signature_exceptions() {
    let server = strict();
    let headers = signed(server.port(), &Signing::good(), LIST, "{}");
    let full = authorization(&headers);
    let parts: Vec<&str> = full
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .expect("a SigV4 header")
        .split(", ")
        .collect();
    assert_eq!(parts.len(), 3, "{full}");
    let without = |prefix: &str| {
        let kept: Vec<&str> = parts
            .iter()
            .copied()
            .filter(|p| !p.starts_with(prefix))
            .collect();
        format!("AWS4-HMAC-SHA256 {}", kept.join(", "))
    };
    let credential = parts.iter().find(|p| p.starts_with("Credential=")).unwrap();
    let short_scope = full.replace(*credential, &format!("Credential={KEY}/us-east-1/proton"));
    let cases = [
        ("no Signature", without("Signature=")),
        ("no SignedHeaders", without("SignedHeaders=")),
        ("no Credential", without("Credential=")),
        ("a scope without its date", short_scope),
        (
            "an empty Signature",
            full.replace(full.rsplit("Signature=").next().unwrap(), ""),
        ),
        (
            "another algorithm",
            full.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"),
        ),
        ("only the algorithm", "AWS4-HMAC-SHA256".into()),
    ];
    for (what, value) in cases {
        let response = send(&server, &with_authorization(&headers, Some(&value)), "{}");
        assert_eq!(response.status, 400, "{what}: {response:?}");
        expect_error(&response, 400, "IncompleteSignatureException");
    }
}

#[test]
fn a_body_altered_after_signing_is_an_invalid_signature_exception() {
    let server = strict();
    let op = "CreateEnvironmentTemplate";
    let headers = signed(server.port(), &Signing::good(), op, r#"{"name":"signed"}"#);
    // Same length, one letter changed.
    let response = send(&server, &headers, r#"{"name":"signex"}"#);
    expect_error(&response, 403, "InvalidSignatureException");
    let listed = send(
        &server,
        &signed(server.port(), &Signing::good(), LIST, ""),
        "",
    );
    assert_eq!(
        listed.json()["templates"],
        serde_json::json!([]),
        "{listed:?}"
    );
}

#[test]
fn a_signed_header_altered_after_signing_is_an_invalid_signature_exception() {
    let server = strict();
    let headers = signed(server.port(), &Signing::good(), LIST, "{}");
    let altered: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            if n == "x-amz-target" {
                (n.clone(), "AwsProton20200720.ListEnvironments".to_owned())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect();
    let response = send(&server, &altered, "{}");
    expect_error(&response, 403, "InvalidSignatureException");

    // X-Amz-Date moved by a minute, the Authorization header unchanged.
    let moved = Signing {
        time: SystemTime::now() - Duration::from_secs(60),
        ..Signing::good()
    };
    let old = signed(server.port(), &moved, LIST, "{}");
    let newer = signed(server.port(), &Signing::good(), LIST, "{}");
    let date = |h: &[(String, String)]| {
        h.iter()
            .find(|(n, _)| n == "x-amz-date")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let mut spliced = with_authorization(&newer, Some(&authorization(&old)));
    spliced.retain(|(n, _)| n != "x-amz-date");
    spliced.push(("x-amz-date".into(), date(&newer)));
    let response = send(&server, &spliced, "{}");
    assert!(
        response.status == 403 || response.status == 400,
        "{response:?}"
    );
    assert_ne!(response.status, 200, "{response:?}");
}

#[test]
fn requests_signed_more_than_fifteen_minutes_away_are_refused_in_both_directions() {
    let server = strict();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    for (what, time) in [
        ("16 minutes ago", SystemTime::now() - minutes(16)),
        ("16 minutes ahead", SystemTime::now() + minutes(16)),
        ("a day ago", SystemTime::now() - minutes(24 * 60)),
    ] {
        let signing = Signing {
            time,
            ..Signing::good()
        };
        let response = send(&server, &signed(server.port(), &signing, LIST, "{}"), "{}");
        assert!(
            response.status == 400 || response.status == 403,
            "{what}: {response:?}"
        );
        let body = response.json();
        let kind = body["__type"].as_str().unwrap_or_default();
        assert!(
            kind.ends_with("InvalidSignatureException") || kind.ends_with("RequestExpired"),
            "{what}: {response:?}"
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("15 minutes"), "{what}: {message}");
    }
    // Within the window on either side (by a wide margin for a loaded machine): accepted.
    for time in [
        SystemTime::now() - minutes(10),
        SystemTime::now() + minutes(10),
    ] {
        let signing = Signing {
            time,
            ..Signing::good()
        };
        let response = send(&server, &signed(server.port(), &signing, LIST, "{}"), "{}");
        assert_eq!(response.status, 200, "{response:?}");
    }
}

#[test]
fn a_scope_for_another_service_is_an_invalid_signature_exception() {
    let server = strict();
    let signing = Signing {
        service: "s3".into(),
        ..Signing::good()
    };
    let response = send(&server, &signed(server.port(), &signing, LIST, "{}"), "{}");
    expect_error(&response, 403, "InvalidSignatureException");
    assert!(
        response.json()["message"]
            .as_str()
            .unwrap()
            .contains("proton")
    );
}

#[test]
fn an_invalid_region_in_the_scope_is_an_invalid_signature_exception() {
    let server = strict();
    for region in ["US_EAST_1", "useast1", "us-east-1;x"] {
        let signing = Signing {
            region: region.into(),
            ..Signing::good()
        };
        let response = send(&server, &signed(server.port(), &signing, LIST, "{}"), "{}");
        expect_error(&response, 403, "InvalidSignatureException");
    }
    // The SDK refuses such a region before sending, so only raw requests carry one.
}

#[tokio::test]
async fn a_key_with_a_session_token_needs_that_token() {
    let server = strict();
    let without = server.client_with(TOKEN_KEY, TOKEN_SECRET, None, "us-east-1");
    let error = without
        .list_environment_templates()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&error.into_service_error()),
        "UnrecognizedClientException"
    );

    let wrong = server.client_with(TOKEN_KEY, TOKEN_SECRET, Some("not-the-token"), "us-east-1");
    let error = wrong.list_environment_templates().send().await.unwrap_err();
    assert_eq!(
        code(&error.into_service_error()),
        "UnrecognizedClientException"
    );

    let right = server.client_with(TOKEN_KEY, TOKEN_SECRET, Some(TOKEN), "us-east-1");
    right
        .list_environment_templates()
        .send()
        .await
        .expect("the right token");

    // A token sent to a key that has none is refused as well.
    let extra = server.client_with(KEY, SECRET, Some(TOKEN), "us-east-1");
    let error = extra.list_environment_templates().send().await.unwrap_err();
    assert_eq!(
        code(&error.into_service_error()),
        "UnrecognizedClientException"
    );
}

#[tokio::test]
async fn local_development_mode_accepts_unsigned_requests_and_any_signature() {
    let server = Protond::start();
    let target = ("X-Amz-Target", "AwsProton20200720.ListEnvironmentTemplates");
    let response = server.raw(&[target], "{}");
    assert_eq!(response.status, 200, "{response:?}");

    let anyone = Signing {
        key: "AKIDANYONE".into(),
        secret: "anything".into(),
        ..Signing::good()
    };
    let response = send(&server, &signed(server.port(), &anyone, LIST, "{}"), "{}");
    assert_eq!(response.status, 200, "{response:?}");

    let client = server.client_with("AKIDWHOEVER", "whatever", None, "eu-west-1");
    client
        .list_environment_templates()
        .send()
        .await
        .expect("any signature");
    assert!(server.log().contains("local development mode"));
}

/// Runs `protond serve` on `listen` with `config` in a folder of its own; returns the child and
/// the file its output goes to.
fn serve_on(listen: &str, config: &str) -> (tempfile::TempDir, std::process::Child) {
    let home = tempfile::Builder::new()
        .prefix("protond-listen-")
        .tempdir()
        .unwrap();
    std::fs::write(home.path().join("protond.toml"), config).unwrap();
    let log = std::fs::File::create(home.path().join("protond.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_protond"))
        .arg("serve")
        .arg("--config")
        .arg(home.path().join("protond.toml"))
        .arg("--listen")
        .arg(listen)
        .arg("--data-dir")
        .arg(home.path().join("data"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("protond starts");
    (home, child)
}

/// CloudFormation aimed at a closed loopback port, so the server never reaches AWS.
fn quiet_cloudformation() -> String {
    format!(
        "[cloudformation]\nendpoint = \"http://127.0.0.1:{}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"AKIDTEST\"\nsecret_access_key = \"test\"\n",
        common::free_port()
    )
}

#[test]
fn development_mode_refuses_to_listen_beyond_loopback() {
    let (home, mut child) = serve_on("0.0.0.0:0", &quiet_cloudformation());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("protond kept running on 0.0.0.0 without keys");
        }
        std::thread::sleep(common::POLL);
    };
    let mut log = String::new();
    std::fs::File::open(home.path().join("protond.log"))
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(!status.success(), "{status:?}: {log}");
    assert!(log.contains("refusing to listen on 0.0.0.0:0"), "{log}");
    assert!(log.contains("loopback"), "{log}");
    assert!(!log.contains("protond is listening"), "{log}");
}

#[test]
fn with_keys_protond_listens_beyond_loopback() {
    let config = format!("{}\n{}", keys(), quiet_cloudformation());
    let (home, mut child) = serve_on("0.0.0.0:0", &config);
    let started = Instant::now();
    let log_path = home.path().join("protond.log");
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("protond is listening") {
            break log;
        }
        let exited = child.try_wait().unwrap();
        if exited.is_some() || started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("protond did not listen on 0.0.0.0 with keys ({exited:?}): {log}");
        }
        std::thread::sleep(common::POLL);
    };
    let alive = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "{log}");
    assert!(log.contains("0.0.0.0:"), "{log}");
    assert!(log.contains("SigV4 verification is on"), "{log}");
    assert!(!log.contains("local development mode"), "{log}");
}

#[tokio::test]
async fn the_log_holds_no_secret_token_or_signature() {
    let server = strict();
    let mut signatures = Vec::new();
    for signing in [
        Signing::good(),
        Signing {
            secret: "wrong-secret-Zr5cT0uK".into(),
            ..Signing::good()
        },
        Signing {
            key: TOKEN_KEY.into(),
            secret: TOKEN_SECRET.into(),
            token: Some(TOKEN.into()),
            ..Signing::good()
        },
        Signing {
            key: TOKEN_KEY.into(),
            secret: TOKEN_SECRET.into(),
            token: Some("wrong-token-Jm2xB8".into()),
            ..Signing::good()
        },
    ] {
        let headers = signed(server.port(), &signing, LIST, "{}");
        let auth = authorization(&headers);
        signatures.push(auth.rsplit("Signature=").next().unwrap().to_owned());
        send(&server, &headers, "{}");
    }
    let client = server.client_with(KEY, SECRET, None, "us-east-1");
    client.list_environments().send().await.unwrap();

    let log = server.log();
    assert!(log.contains("request"), "the log records requests: {log}");
    for secret in [
        SECRET,
        TOKEN_SECRET,
        TOKEN,
        "wrong-secret-Zr5cT0uK",
        "wrong-token-Jm2xB8",
    ] {
        assert!(!log.contains(secret), "the log holds {secret}: {log}");
    }
    for signature in &signatures {
        assert_eq!(signature.len(), 64);
        assert!(
            !log.contains(signature.as_str()),
            "the log holds a signature: {log}"
        );
    }
}
