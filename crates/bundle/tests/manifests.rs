//! Manifest parsing: the three provisioning methods, and the mistakes refused.

mod common;

use protond_bundle::{
    Bundle, InputType, Limits, Manifest, Provisioning, RenderContext, pack_dir, parse_spec, render,
};

fn codebuild() -> Bundle {
    let archive = pack_dir(&common::fixture("codebuild-env")).unwrap();
    Bundle::from_archive(&archive, &Limits::default()).unwrap()
}

#[test]
fn codebuild_manifest_lists_provision_and_deprovision_commands() {
    let bundle = codebuild();
    let Provisioning::CodeBuild(settings) = &bundle.manifest.provisioning else {
        panic!("expected CodeBuild, got {:?}", bundle.manifest.provisioning);
    };
    assert_eq!(
        settings.image,
        "aws/codebuild/amazonlinux2-x86_64-standard:4.0"
    );
    assert_eq!(settings.runtimes["nodejs"], "16");
    assert_eq!(settings.provision[0], "./deploy.sh");
    assert_eq!(settings.provision.len(), 2);
    assert_eq!(settings.deprovision, ["./destroy.sh"]);
    assert_eq!(settings.input_type, InputType::Hcl);
    assert!(bundle.infrastructure["deploy.sh"].executable);
}

#[test]
fn codebuild_bundle_renders_input_files_and_writes_its_scripts() {
    let bundle = codebuild();
    let spec = parse_spec("proton: EnvironmentSpec\nspec:\n  replicas: 3\n").unwrap();
    let inputs = bundle.schema.environment_inputs(&spec).unwrap();
    let ctx = RenderContext {
        environment_name: "shell".into(),
        inputs,
    };
    let files = render(&bundle, &ctx).unwrap();
    let file = |p: &str| files.iter().find(|f| f.path == p).unwrap().contents.clone();
    let json: serde_json::Value = serde_json::from_slice(&file("proton-inputs.json")).unwrap();
    let expected = serde_json::json!(
        {"environment": {"name": "shell", "inputs": {"greeting": "hello", "replicas": 3}}}
    );
    assert_eq!(json, expected);
    let hcl = String::from_utf8(file("proton-inputs.tfvars")).unwrap();
    let expected = concat!(
        "environment = {\n  name = \"shell\"\n  inputs = {\n",
        "    greeting = \"hello\"\n    replicas = 3\n  }\n}\n",
    );
    assert_eq!(hcl, expected);

    let dir = tempfile::tempdir().unwrap();
    bundle.write_infrastructure(dir.path()).unwrap();
    assert!(dir.path().join("deploy.sh").is_file());
    assert!(dir.path().join("manifest.yaml").is_file());
    assert!(!dir.path().join("schema.yaml").exists());
    assert!(
        bundle.write_infrastructure(dir.path()).is_err(),
        "existing files are not replaced"
    );
}

fn manifest_error(text: &str) -> String {
    Manifest::parse(text).unwrap_err().to_string()
}

#[test]
fn unknown_engine_is_refused() {
    let text =
        "infrastructure:\n  templates:\n    - file: a.yaml\n      rendering_engine: mustache\n";
    let error = manifest_error(text);
    assert!(
        error.starts_with("infrastructure/manifest.yaml: unknown rendering_engine \"mustache\"")
    );
}

#[test]
fn manifest_mixing_engines_is_refused() {
    let text = concat!(
        "infrastructure:\n  templates:\n",
        "    - file: a.tf\n      rendering_engine: hcl\n      template_language: terraform\n",
        "    - file: b.yaml\n      rendering_engine: jinja\n",
        "      template_language: cloudformation\n",
    );
    let error = manifest_error(text);
    assert_eq!(
        error,
        "infrastructure/manifest.yaml: mixes rendering engines hcl and jinja"
    );
}

#[test]
fn misspelt_codebuild_setting_is_refused() {
    let text = concat!(
        "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n",
        "        image: x\n        provison: [a]\n        deprovision: [b]\n",
    );
    assert_eq!(
        manifest_error(text),
        "infrastructure/manifest.yaml: unknown key settings.provison"
    );
}

#[test]
fn template_file_missing_from_bundle_is_refused() {
    let archive = common::RawTar::new()
        .file("schema/schema.yaml", common::SCHEMA.as_bytes())
        .file("infrastructure/manifest.yaml", common::MANIFEST.as_bytes())
        .file("infrastructure/other.yaml", b"x")
        .gzip();
    let error = Bundle::from_archive(&archive, &Limits::default())
        .unwrap_err()
        .to_string();
    let expected =
        "infrastructure/manifest.yaml: file \"cloudformation.yaml\" is not in infrastructure/";
    assert_eq!(error, expected);
}
