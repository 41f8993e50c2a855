//! Rendering CloudFormation templates: Proton's namespace and filters, strict undefined
//! values, and bounded work.

mod common;

use std::time::{Duration, Instant};

use protond_bundle::{Bundle, Limits, RenderContext, RenderError, pack_dir, parse_spec, render};
use serde_json::json;

/// A CloudFormation bundle whose template is the fixture `templates/<name>`.
fn bundle_with_template(name: &str) -> Bundle {
    let template = std::fs::read(common::fixture("templates").join(name)).unwrap();
    let archive = common::RawTar::new()
        .file("schema/schema.yaml", common::SCHEMA.as_bytes())
        .file("infrastructure/manifest.yaml", common::MANIFEST.as_bytes())
        .file("infrastructure/cloudformation.yaml", &template)
        .gzip();
    Bundle::from_archive(&archive, &Limits::default()).unwrap()
}

fn render_with(bundle: &Bundle, inputs: serde_json::Value) -> Result<String, RenderError> {
    let ctx = RenderContext {
        environment_name: "dev".into(),
        inputs,
    };
    let files = render(bundle, &ctx)?;
    Ok(String::from_utf8(files[0].contents.clone()).unwrap())
}

#[test]
fn undefined_input_fails_with_file_and_line() {
    let bundle = bundle_with_template("undefined.yaml");
    let error = render_with(&bundle, json!({})).unwrap_err();
    assert_eq!(error.file, "infrastructure/cloudformation.yaml");
    assert_eq!(error.line, Some(5));
    let message = error.to_string();
    assert!(
        message.starts_with("infrastructure/cloudformation.yaml:5: undefined value"),
        "{message}"
    );
    assert!(
        message.contains("environment.inputs.table_name"),
        "{message}"
    );
}

#[test]
fn huge_range_is_stopped() {
    let bundle = bundle_with_template("endless.yaml");
    let start = Instant::now();
    let error = render_with(&bundle, json!({})).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(
        error.starts_with("infrastructure/cloudformation.yaml:1: "),
        "{error}"
    );
}

#[test]
fn nested_loops_run_out_of_fuel() {
    let bundle = bundle_with_template("nested-loops.yaml");
    let start = Instant::now();
    let error = render_with(&bundle, json!({})).unwrap_err().to_string();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(error.contains("fuel"), "{error}");
}

#[test]
fn proton_filters_render_as_the_user_guide_shows() {
    let bundle = bundle_with_template("filters.yaml");
    let outputs = json!({"outputs": {
        "Output1": "hello",
        "Policy": "arn:aws:iam::123456789012:policy/read-orders",
    }});
    let rendered = render_with(&bundle, outputs).unwrap();
    let arn = "arn:aws:iam::123456789012:policy/read-orders";
    let expected = format!(
        "Environment:\n  - Name: Output1\n    Value: hello\n  - Name: Policy\n    Value: {arn}\n\
         Variables:\n  Output1: hello\n  Policy: {arn}\n\
         ManagedPolicyArns:\n  - !Ref Base\n  - {arn}\n\
         Name: my-env_01"
    );
    assert_eq!(rendered, expected);
}

#[test]
fn sanitize_refuses_what_is_neither_a_token_nor_an_arn() {
    let bundle = bundle_with_template("sanitize.yaml");
    let error = render_with(&bundle, json!({"value": "this::is::incorrect"}))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "Illegal character(s) detected in \"this::is::incorrect\". Must match regex \
             ^[a-zA-Z0-9_-]*$ or be a valid ARN"
        ),
        "{error}"
    );
}

#[test]
fn nested_inputs_render_with_jinja_whitespace() {
    let archive = pack_dir(&common::fixture("nested-env")).unwrap();
    let bundle = Bundle::from_archive(&archive, &Limits::default()).unwrap();
    let spec = parse_spec(
        "proton: EnvironmentSpec\nspec:\n  network: {cidr: 10.2.0.0/16}\n  zones: [a, b]\n",
    );
    let inputs = bundle.schema.environment_inputs(&spec.unwrap()).unwrap();
    let ctx = RenderContext {
        environment_name: "web-dev".into(),
        inputs,
    };
    let rendered = String::from_utf8(render(&bundle, &ctx).unwrap()[0].contents.clone()).unwrap();
    assert!(rendered.contains("CidrBlock: '10.2.0.0/16'"));
    assert!(rendered.contains("Value: 'platform'"));
    // Without trim_blocks the newline after each block tag stays, as in Jinja2.
    assert!(
        rendered.contains("\n\n  SubnetA:\n    Type: AWS::EC2::Subnet\n\n  SubnetB:"),
        "{rendered}"
    );
    assert!(
        rendered.ends_with("Value: web-dev"),
        "the final newline is dropped: {rendered:?}"
    );
}
