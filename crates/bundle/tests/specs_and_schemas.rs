//! Schema parsing at registration, and spec validation with defaults.

mod common;

use protond_bundle::{Bundle, Limits, Schema, pack_dir, parse_spec};
use serde_json::json;

fn nested() -> Bundle {
    let archive = pack_dir(&common::fixture("nested-env")).unwrap();
    Bundle::from_archive(&archive, &Limits::default()).unwrap()
}

fn inputs(bundle: &Bundle, spec: &str) -> Result<serde_json::Value, String> {
    let spec = parse_spec(&format!("proton: EnvironmentSpec\nspec:\n{spec}")).unwrap();
    bundle
        .schema
        .environment_inputs(&spec)
        .map_err(|e| e.to_string())
}

#[test]
fn defaults_fill_nested_objects_through_refs() {
    let bundle = nested();
    let inputs = inputs(&bundle, "  network:\n    cidr: 10.1.0.0/16\n").unwrap();
    let expected = json!({
        "network": {"cidr": "10.1.0.0/16", "nat_gateways": 1, "tags": {"team": "platform"}},
        "zones": ["a"],
        "debug": false,
    });
    assert_eq!(inputs, expected);
    let keys: Vec<&String> = inputs.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["network", "zones", "debug"], "schema order is kept");
}

#[test]
fn nested_fields_are_named_in_errors() {
    let bundle = nested();
    let cases = [
        ("  network: {}\n", "spec.network.cidr: required"),
        (
            "  network: {cidr: 192.168.0.0/16}\n",
            "spec.network.cidr: must match pattern ^10\\.",
        ),
        (
            "  network: {cidr: 10.0.0.0/8, nat_gateways: 4}\n",
            "spec.network.nat_gateways: must be at most 3",
        ),
        (
            "  network: {cidr: 10.0.0.0/8, nat_gateways: 1.5}\n",
            "spec.network.nat_gateways: must be an integer",
        ),
        (
            "  network: {cidr: 10.0.0.0/8, tags: {owner: me}}\n",
            "spec.network.tags.owner: not defined in the schema",
        ),
        (
            "  network: {cidr: 10.0.0.0/8}\n  zones: [a, d]\n",
            "spec.zones[1]: must be one of \"a\", \"b\", \"c\"",
        ),
        (
            "  network: {cidr: 10.0.0.0/8}\n  zones: [a, a]\n",
            "spec.zones[1]: duplicates an earlier item",
        ),
        (
            "  network: {cidr: 10.0.0.0/8}\n  zones: []\n",
            "spec.zones: must have at least 1 items",
        ),
        (
            "  network: {cidr: 10.0.0.0/8}\n  ratio: 1\n",
            "spec.ratio: must be less than 1",
        ),
        (
            "  network: {cidr: 10.0.0.0/8}\n  debug: yes\n",
            "spec.debug: must be true or false",
        ),
        ("  zones: [a]\n", "spec.network: required"),
    ];
    for (spec, expected) in cases {
        assert_eq!(inputs(&bundle, spec).unwrap_err(), expected, "{spec}");
    }
}

#[test]
fn spec_of_another_kind_is_refused() {
    let bundle = nested();
    let spec = parse_spec("proton: ServiceSpec\nspec: {}\n").unwrap();
    let error = bundle
        .schema
        .environment_inputs(&spec)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "proton: must be EnvironmentSpec, not \"ServiceSpec\""
    );
}

#[test]
fn spec_with_unknown_top_level_key_is_refused() {
    let error = parse_spec("proton: EnvironmentSpec\nspec: {}\nextra: 1\n").unwrap_err();
    assert_eq!(
        error.to_string(),
        "extra: not a known top-level key of a spec"
    );
}

#[test]
fn billion_laughs_spec_is_refused_quickly() {
    let mut yaml = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    yaml.push_str("proton: EnvironmentSpec\nspec:\n  x: *a9\n");
    let start = std::time::Instant::now();
    let error = parse_spec(&yaml).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(1));
    assert!(
        error.to_string().starts_with("spec: not valid YAML"),
        "{error}"
    );
}

#[test]
fn huge_spec_is_refused() {
    let yaml = format!(
        "proton: EnvironmentSpec\nspec:\n  x: \"{}\"\n",
        "a".repeat(60_000)
    );
    let error = parse_spec(&yaml).unwrap_err().to_string();
    assert!(
        error.starts_with("spec: is 60038 bytes, more than the limit of 51200"),
        "{error}"
    );
}

fn schema(types: &str) -> Result<Schema, String> {
    let text = format!(
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  \
         environment_input_type: Input\n  types:\n{types}"
    );
    Schema::parse(&text).map_err(|e| e.to_string())
}

/// An `Input` type whose one property `a` has the schema lines `body`.
fn property(body: &str) -> String {
    format!("    Input:\n      type: object\n      properties:\n        a:\n{body}")
}

#[test]
fn broken_schemas_are_refused_at_registration() {
    let cases = [
        (
            property("          type: text\n"),
            "schema.types.Input.properties.a.type: unknown type \"text\"",
        ),
        (
            property("          type: string\n          pattern: \"(\"\n"),
            "schema.types.Input.properties.a.pattern: invalid pattern",
        ),
        (
            "    Other:\n      type: object\n".to_string(),
            "schema.environment_input_type: names \"Input\", which is not under types",
        ),
        (
            "    Input:\n      type: string\n".to_string(),
            "schema.environment_input_type: type \"Input\" must be an object",
        ),
        (
            "    Input:\n      type: object\n      required: [b]\n".to_string(),
            "schema.types.Input.required: names \"b\", which is not under properties",
        ),
        (
            property("          $ref: \"#/types/Nope\"\n"),
            "schema.types.Input.properties.a: $ref names unknown type \"Nope\"",
        ),
        (
            property("          type: integer\n          default: x\n"),
            "schema.types.Input.properties.a: default is invalid: default: must be a number",
        ),
    ];
    for (types, expected) in cases {
        let error = schema(&types).unwrap_err();
        assert!(
            error.starts_with(expected),
            "expected {expected}\n got {error}"
        );
    }
}

#[test]
fn schema_without_environment_input_type_is_refused_in_a_bundle() {
    let schema =
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  types:\n    A:\n      type: object\n";
    let archive = common::RawTar::new()
        .file("schema/schema.yaml", schema.as_bytes())
        .file("infrastructure/manifest.yaml", common::MANIFEST.as_bytes())
        .file("infrastructure/cloudformation.yaml", b"x")
        .gzip();
    let error = Bundle::from_archive(&archive, &Limits::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "schema/schema.yaml: schema.environment_input_type: required"
    );
}

#[test]
fn non_finite_numbers_are_refused_naming_the_field() {
    for value in [".nan", ".inf", "-.inf"] {
        let yaml = format!("proton: EnvironmentSpec\nspec:\n  wait: {value}\n");
        let error = protond_bundle::parse_spec(&yaml).unwrap_err();
        assert_eq!(error.field, "spec.wait", "{value}: {error}");
    }
}
