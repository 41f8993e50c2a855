//! Feeds `protond_bundle::render` (MiniJinja with the `proton_cfn_*` filters, fuel, recursion
//! and output limits at their real defaults, `RenderLimits::default()`) a CloudFormation
//! template and the inputs it renders with.
//!
//! Input: `template \0 inputs`, the inputs a JSON object (`environment.inputs`); without a NUL,
//! or when they are not a JSON object, the inputs are a fixed mix of strings, numbers, lists and
//! maps. The template is the only file of a bundle whose manifest names it (`jinja`), as
//! `Bundle::from_archive` would have produced; rendering errors are expected, panics are not.
//!
//! libFuzzer's `-timeout` and `-rss_limit_mb` turn a template that escapes the limits (runs
//! for seconds or takes gigabytes) into a reported failure.

#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use protond_bundle::{Bundle, InfrastructureFile, Manifest, RenderContext, Schema, render};
use serde_json::{Value, json};

const SCHEMA: &str = "\
schema:
  format:
    openapi: \"3.0.0\"
  environment_input_type: \"Input\"
  types:
    Input:
      type: object
      properties: {}
";

const MANIFEST: &str = "\
infrastructure:
  templates:
    - file: \"cloudformation.yaml\"
      rendering_engine: jinja
      template_language: cloudformation
";

static SCHEMA_PARSED: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse(SCHEMA).expect("the fixed schema parses"));
static MANIFEST_PARSED: LazyLock<Manifest> =
    LazyLock::new(|| Manifest::parse(MANIFEST).expect("the fixed manifest parses"));

fuzz_target!(|data: &[u8]| {
    let (template, inputs) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], serde_json::from_slice(&data[at + 1..]).ok()),
        None => (data, None),
    };
    let inputs = match inputs {
        Some(Value::Object(members)) => Value::Object(members),
        _ => json!({
            "name": "fuzz",
            "count": 3,
            "ratio": 0.5,
            "enabled": true,
            "subnets": ["10.0.0.0/24", "10.0.1.0/24"],
            "tags": {"team": "payments", "stage": "dev"},
            "policies": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
        }),
    };
    let file = |bytes: &[u8]| InfrastructureFile {
        contents: bytes.to_vec(),
        executable: false,
    };
    let bundle = Bundle {
        schema: SCHEMA_PARSED.clone(),
        manifest: MANIFEST_PARSED.clone(),
        infrastructure: BTreeMap::from([
            ("manifest.yaml".to_string(), file(MANIFEST.as_bytes())),
            ("cloudformation.yaml".to_string(), file(template)),
        ]),
    };
    let ctx = RenderContext {
        environment_name: "fuzz-env".into(),
        inputs,
    };
    let _ = render(&bundle, &ctx);
});
