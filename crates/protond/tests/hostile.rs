//! Hostile input at the front door and in template bundles: every bad request answered with a
//! 4xx in Proton's shape (never a 5xx), stalled clients cut off, hostile bundles refused with
//! `REGISTRATION_FAILED` naming the file and nothing written outside the data directory.
//!
//! Bounded rendering (`{% for i in range(100000000) %}` and nested loops) is covered by
//! crates/bundle/tests/rendering.rs (`huge_range_is_stopped`, `nested_loops_run_out_of_fuel`).

// Every Proton operation is deprecated in the SDK since AWS closed the service.
#![allow(deprecated)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_proton::types::TemplateVersionStatus;
use common::{BUCKET, Protond, RawResponse, exchange, expect_error, post_bytes, unique};

const LIMIT: usize = 400_000;

fn server() -> Protond {
    Protond::start_with(&format!(
        "body_limit_bytes = {LIMIT}\nbody_timeout_secs = 1\n"
    ))
}

const JSON: &[u8] = b"application/x-amz-json-1.0";

fn call(server: &Protond, operation: &str, body: &[u8]) -> RawResponse {
    let target = format!("AwsProton20200720.{operation}");
    let headers: [(&str, &[u8]); 2] = [("X-Amz-Target", target.as_bytes()), ("Content-Type", JSON)];
    post_bytes(server.port(), &headers, body)
}

#[test]
fn a_body_over_the_limit_is_request_entity_too_large() {
    let server = server();
    let body = format!(r#"{{"name":"x","description":"{}"}}"#, "a".repeat(LIMIT));
    let response = call(&server, "CreateEnvironmentTemplate", body.as_bytes());
    expect_error(&response, 413, "RequestEntityTooLarge");
    let listed = call(&server, "ListEnvironmentTemplates", b"{}");
    assert_eq!(listed.json()["templates"], serde_json::json!([]));
}

#[test]
fn a_stalled_body_is_a_request_timeout() {
    let server = server();
    // Headers promise 100 bytes; 4 arrive.
    let request = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
          X-Amz-Target: AwsProton20200720.ListEnvironmentTemplates\r\n\
          Content-Type: application/x-amz-json-1.0\r\nContent-Length: 100\r\n\r\n{\"na";
    let response = exchange(server.port(), request, Duration::from_secs(60)).expect("an answer");
    expect_error(&response, 408, "RequestTimeout");
}

#[test]
fn stalled_headers_get_the_connection_closed() {
    let server = server();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Tar")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    // EOF or a reset both mean closed; a timeout means the server kept it open.
    match stream.read_to_end(&mut buffer) {
        Ok(_) => {}
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "still open after {:?}",
            started.elapsed()
        ),
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    // The server still answers others.
    let listed = call(&server, "ListEnvironmentTemplates", b"{}");
    assert_eq!(listed.status, 200);
}

#[test]
fn malformed_json_is_a_serialization_exception() {
    let server = server();
    for body in [
        &b"{\"name\": "[..],
        b"{\"name\":\"a\",}",
        b"[]",
        b"\"name\"",
        b"{}}",
    ] {
        let response = call(&server, "CreateEnvironmentTemplate", body);
        expect_error(&response, 400, "SerializationException");
    }
}

#[test]
fn wrong_types_are_refused_with_a_400() {
    let server = server();
    for body in [
        r#"{"name": 5}"#,
        r#"{"name": ["a"]}"#,
        r#"{"name": {"a": 1}}"#,
        r#"{"name": null}"#,
        r#"{"name": true}"#,
    ] {
        let response = call(&server, "CreateEnvironmentTemplate", body.as_bytes());
        assert_eq!(response.status, 400, "{body}: {response:?}");
        let kind = response.json()["__type"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            kind.ends_with("SerializationException") || kind.ends_with("ValidationException"),
            "{body}: {response:?}"
        );
        expect_error(&response, 400, kind.rsplit('#').next().unwrap());
    }
    let response = call(&server, "ListEnvironments", br#"{"maxResults": "ten"}"#);
    assert_eq!(response.status, 400, "{response:?}");
    let response = call(&server, "ListEnvironments", br#"{"maxResults": 1e400}"#);
    assert_eq!(response.status, 400, "{response:?}");
}

#[test]
fn unknown_fields_are_a_validation_exception() {
    let server = server();
    let response = call(
        &server,
        "CreateEnvironmentTemplate",
        br#"{"name":"a","bogus":1}"#,
    );
    expect_error(&response, 400, "ValidationException");
    assert!(response.body.contains("bogus"), "{response:?}");
}

#[test]
fn oversized_strings_are_a_validation_exception() {
    let server = server();
    let long_name = format!(r#"{{"name":"{}"}}"#, "a".repeat(101));
    let response = call(&server, "CreateEnvironmentTemplate", long_name.as_bytes());
    expect_error(&response, 400, "ValidationException");
    let huge = format!(r#"{{"name":"a","description":"{}"}}"#, "d".repeat(200_000));
    let response = call(&server, "CreateEnvironmentTemplate", huge.as_bytes());
    expect_error(&response, 400, "ValidationException");
    // Sensitive values are never echoed.
    assert!(!response.body.contains("ddddddddd"), "{response:?}");
}

#[test]
fn invalid_utf8_is_a_serialization_exception() {
    let server = server();
    for body in [
        &b"{\"name\":\"\xff\xfe\"}"[..],
        b"{\"name\":\"a\xc3\"}",
        b"\xef\xbb\xbf{}",
    ] {
        let response = call(&server, "CreateEnvironmentTemplate", body);
        assert_eq!(response.status, 400, "{response:?}");
        expect_error(&response, 400, "SerializationException");
    }
}

#[test]
fn deep_nesting_is_a_serialization_exception() {
    let server = server();
    let depth = 100_000;
    let arrays = format!(r#"{{"name":{}{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let response = call(&server, "CreateEnvironmentTemplate", arrays.as_bytes());
    expect_error(&response, 400, "SerializationException");
    let objects = format!("{}1{}", r#"{"a":"#.repeat(depth / 2), "}".repeat(depth / 2));
    let response = call(&server, "ListEnvironments", objects.as_bytes());
    assert_eq!(response.status, 400, "{response:?}");
    expect_error(&response, 400, response_code(&response));
    let listed = call(&server, "ListEnvironmentTemplates", b"{}");
    assert_eq!(listed.status, 200);
}

fn response_code(response: &RawResponse) -> &'static str {
    let kind = response.json()["__type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if kind.ends_with("SerializationException") {
        "SerializationException"
    } else {
        "ValidationException"
    }
}

#[test]
fn non_ascii_content_type_or_target_is_refused() {
    let server = server();
    let target: &[u8] = b"AwsProton20200720.ListEnvironmentTemplates";
    let bad_type: &[u8] = b"application/x-amz-json-1.0\xc3\xa9";
    let response = post_bytes(
        server.port(),
        &[("X-Amz-Target", target), ("Content-Type", bad_type)],
        b"{}",
    );
    expect_error(&response, 400, "SerializationException");

    let bad_target: &[u8] = b"AwsProton20200720.ListEnvironment\xc3\xa9";
    let response = post_bytes(
        server.port(),
        &[("X-Amz-Target", bad_target), ("Content-Type", JSON)],
        b"{}",
    );
    expect_error(&response, 400, "UnknownOperationException");
}

#[test]
fn other_methods_and_paths_are_unknown_operations() {
    let server = server();
    for start in [
        "GET / HTTP/1.1",
        "PUT / HTTP/1.1",
        "DELETE / HTTP/1.1",
        "POST /environments HTTP/1.1",
        "GET /../../etc/passwd HTTP/1.1",
    ] {
        let request = format!(
            "{start}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             X-Amz-Target: AwsProton20200720.ListEnvironmentTemplates\r\n\
             Content-Length: 2\r\n\r\n{{}}"
        );
        let response = exchange(server.port(), request.as_bytes(), common::DEADLINE)
            .unwrap_or_else(|| panic!("no answer to {start}"));
        assert!(response.status < 500, "{start}: {response:?}");
        expect_error(&response, 400, "UnknownOperationException");
    }
}

#[tokio::test]
async fn spec_contents_never_reach_the_log_or_an_error_message() {
    let server = server();
    let secret = "SPEC-SENTINEL-Kq8wZ";
    let spec = format!("proton: EnvironmentSpec\nspec:\n  password: {secret}\n");
    // A template that does not exist, a spec too long, and one that is no YAML.
    for spec in [
        spec.clone(),
        format!("{spec}{}", "x".repeat(60_000)),
        format!("{secret}: ["),
    ] {
        let body = serde_json::json!({
            "name": "env",
            "templateName": "missing",
            "templateMajorVersion": "1",
            "spec": spec,
        });
        let response = call(&server, "CreateEnvironment", body.to_string().as_bytes());
        assert!((400..500).contains(&response.status), "{response:?}");
        assert!(!response.body.contains(secret), "{response:?}");
    }
    let log = server.log();
    assert!(log.contains("CreateEnvironment"), "{log}");
    assert!(!log.contains(secret), "{log}");
}

// ---- Hostile bundles ----

/// A tar entry, its header written by hand so that any name and type can be given.
struct Entry {
    name: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    link: Option<&'static str>,
}

fn file(name: &str, data: &[u8]) -> Entry {
    Entry {
        name: name.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        link: None,
    }
}

const SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  \
                      environment_input_type: \"I\"\n  types:\n    I:\n      type: object\n      \
                      properties: {}\n";
const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      \
                        settings:\n        provision:\n          - \"true\"\n        \
                        deprovision:\n          - \"true\"\n";

/// The valid base every hostile bundle adds to.
fn base() -> Vec<Entry> {
    vec![
        file("schema/schema.yaml", SCHEMA.as_bytes()),
        file("infrastructure/manifest.yaml", MANIFEST.as_bytes()),
    ]
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        let name = &mut header.as_old_mut().name;
        assert!(entry.name.len() < name.len());
        name[..entry.name.len()].copy_from_slice(&entry.name);
        header.set_entry_type(entry.kind);
        header.set_mode(0o644);
        header.set_size(entry.data.len() as u64);
        if let Some(link) = entry.link {
            header.set_link_name(link).unwrap();
        }
        if entry.kind.is_character_special() {
            header.set_device_major(1).unwrap();
            header.set_device_minor(3).unwrap();
        }
        header.set_cksum();
        builder.append(&header, entry.data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Every file under `root` (not following links), relative, except under `skip`.
fn files_under(root: &Path, skip: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.starts_with(skip) {
                continue;
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// Registers `archive` (already gzipped) as a version of a new template, written straight into
/// the local bundle store, and returns the status message of the failed registration.
async fn registration_failure(server: &Protond, archive: &[u8]) -> String {
    let template = format!("hostile-{}", unique());
    let key = format!("{template}.tar.gz");
    let bucket = server.data_dir().join("buckets").join(BUCKET);
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::write(bucket.join(&key), archive).unwrap();
    server.create_template(&template).await;
    let v = server.start_version(&template, None, &key).await;
    let v = server
        .registered(&template, &v.major_version, &v.minor_version)
        .await;
    assert_eq!(v.status, TemplateVersionStatus::RegistrationFailed, "{v:?}");
    v.status_message.unwrap_or_default()
}

#[tokio::test]
async fn hostile_bundles_fail_registration_naming_the_file_and_write_nothing_outside() {
    let server = server();
    let outside = std::env::temp_dir().join(format!("protond-escape-{}", std::process::id()));
    let escape = format!("infrastructure/../../../../{}", outside.display());
    let absolute = format!("{}/absolute.yaml", outside.display());
    let before = files_under(server.home(), &server.data_dir());

    let cases: Vec<(&str, Entry)> = vec![
        ("infrastructure/../../../../", file(&escape, b"escaped")),
        ("absolute.yaml", file(&absolute, b"escaped")),
        (
            "infrastructure/link.yaml",
            Entry {
                name: b"infrastructure/link.yaml".to_vec(),
                kind: tar::EntryType::Symlink,
                data: Vec::new(),
                link: Some("/etc/passwd"),
            },
        ),
        (
            "infrastructure/hard.yaml",
            Entry {
                name: b"infrastructure/hard.yaml".to_vec(),
                kind: tar::EntryType::Link,
                data: Vec::new(),
                link: Some("infrastructure/manifest.yaml"),
            },
        ),
        (
            "infrastructure/null",
            Entry {
                name: b"infrastructure/null".to_vec(),
                kind: tar::EntryType::Char,
                data: Vec::new(),
                link: None,
            },
        ),
        (
            "infrastructure/fifo",
            Entry {
                name: b"infrastructure/fifo".to_vec(),
                kind: tar::EntryType::Fifo,
                data: Vec::new(),
                link: None,
            },
        ),
        (
            "infrastructure/big.yaml",
            file("infrastructure/big.yaml", &vec![b'#'; 300 * 1024]),
        ),
    ];
    for (named, entry) in cases {
        let mut entries = base();
        entries.push(entry);
        let message = registration_failure(&server, &gzip(&tar_bytes(&entries))).await;
        assert!(message.contains(named), "{named}: {message}");
    }

    // More template files than Proton allows (10).
    let mut entries = base();
    for i in 0..11 {
        entries.push(file(&format!("infrastructure/t{i}.yaml"), b"a: 1\n"));
    }
    let message = registration_failure(&server, &gzip(&tar_bytes(&entries))).await;
    assert!(message.contains("infrastructure/t"), "{message}");

    // A gzip bomb: one entry of 100 MB of zeros, a few hundred KB compressed.
    let mut entries = base();
    entries.push(file(
        "infrastructure/bomb.yaml",
        &vec![0; 100 * 1024 * 1024],
    ));
    let bomb = gzip(&tar_bytes(&entries));
    assert!(bomb.len() < 5 * 1024 * 1024);
    let message = registration_failure(&server, &bomb).await;
    assert!(message.contains("infrastructure/bomb.yaml"), "{message}");

    // A bomb of many files each under the per-file limit, outside the template folders.
    let mut entries = base();
    for i in 0..300 {
        entries.push(file(&format!("padding/p{i}"), &vec![0; 190 * 1024]));
    }
    let bomb = gzip(&tar_bytes(&entries));
    assert!(bomb.len() < 5 * 1024 * 1024);
    let message = registration_failure(&server, &bomb).await;
    assert!(message.contains("padding/p"), "{message}");

    // A bundle bigger than 5 MB compressed.
    let mut entries = base();
    let mut noise = Vec::with_capacity(6 * 1024 * 1024);
    let mut x: u32 = 1;
    while noise.len() < 6 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    entries.push(file("infrastructure/noise.bin", &noise));
    let message = registration_failure(&server, &gzip(&tar_bytes(&entries))).await;
    assert!(!message.is_empty());

    assert!(!outside.exists(), "{} was written", outside.display());
    let after = files_under(server.home(), &server.data_dir());
    assert_eq!(before, after, "files appeared outside the data directory");
    let listed = call(&server, "ListEnvironmentTemplates", b"{}");
    assert_eq!(listed.status, 200);
}
