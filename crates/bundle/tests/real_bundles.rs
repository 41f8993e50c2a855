//! The public sample bundles, end to end: packed, loaded, their example spec validated,
//! rendered, and specific values checked in the output.

mod common;

use std::path::Path;

use protond_bundle::{
    Bundle, Limits, Provisioning, RenderContext, RenderedFile, pack_dir, parse_spec, render,
};

fn load(dir: &Path) -> Bundle {
    let archive = pack_dir(dir).unwrap();
    Bundle::from_archive(&archive, &Limits::default()).unwrap()
}

fn render_spec(bundle: &Bundle, name: &str, spec_path: &Path) -> Vec<RenderedFile> {
    let spec = parse_spec(&std::fs::read_to_string(spec_path).unwrap()).unwrap();
    let inputs = bundle.schema.environment_inputs(&spec).unwrap();
    let ctx = RenderContext {
        environment_name: name.into(),
        inputs,
    };
    render(bundle, &ctx).unwrap()
}

fn text<'a>(files: &'a [RenderedFile], path: &str) -> &'a str {
    let file = files.iter().find(|f| f.path == path).expect(path);
    std::str::from_utf8(&file.contents).unwrap()
}

#[test]
fn vpc_env_renders_spec_cidrs_into_mappings() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let env = root.join("cloudformation/environment-templates/vpc-env");
    let bundle = load(&env.join("v1"));
    assert!(matches!(
        bundle.manifest.provisioning,
        Provisioning::CloudFormation { .. }
    ));

    let files = render_spec(&bundle, "my-vpc", &env.join("spec/spec.yaml"));
    let rendered = text(&files, "cloudformation.yaml");
    assert!(
        rendered.contains("    VPC:\n      CIDR: '10.0.0.0/16'"),
        "{rendered}"
    );
    assert!(rendered.contains("CIDR: '10.0.192.0/18'"));
    assert!(rendered.contains("VpcConnectorName: 'my-vpc-vpc-connector'"));
    assert!(!rendered.contains("{{"));
}

#[test]
fn ecs_ec2_env_renders_subnet_choice_and_numbers() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let env = root.join("cloudformation/environment-templates/ecs-ec2-env");
    let bundle = load(&env.join("v1"));

    let files = render_spec(&bundle, "ecs", &env.join("spec/spec.yaml"));
    let rendered = text(&files, "cloudformation.yaml");
    assert!(
        rendered.contains("MaxSize: '6'"),
        "numbers print as Jinja prints them"
    );
    assert!(rendered.contains("InstanceType: 'c4.xlarge'"));
    assert!(
        rendered.contains("- !Ref PublicSubnet1")
            && !rendered.contains("PrivateSubnet1\n        - !Ref PrivateSubnet2")
    );
    assert!(rendered.contains("Name: 'ecs.local'"));
    assert!(
        rendered.contains(
            "Default: /aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id"
        )
    );
}

#[test]
fn lambda_env_renders_ttl_attribute() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let base = root.join("cloudformation/lambda-multi-svc");
    let bundle = load(&base.join("lambda-env/v1"));

    let files = render_spec(&bundle, "lambda", &base.join("specs/env-spec.yaml"));
    assert!(text(&files, "cloudformation.yaml").contains("AttributeName: \"ttl\""));
}

#[test]
fn terraform_env_matches_proton_generated_variable_files() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let env = root.join("terraform/environment-templates/vpc-env");
    let bundle = load(&env.join("v1"));

    let files = render_spec(&bundle, "vpc-env", &env.join("spec/spec.yaml"));
    let golden =
        |name: &str| std::fs::read_to_string(env.join("dev-resources").join(name)).unwrap();
    assert_eq!(
        text(&files, "proton.auto.tfvars.json"),
        golden("proton.auto.tfvars.json")
    );
    assert_eq!(
        text(&files, "proton.variables.tf"),
        golden("proton.variables.tf")
    );
    let mut tf: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    tf.sort();
    let expected = ["config.tf", "data.tf", "locals.tf", "main.tf", "outputs.tf"];
    assert_eq!(
        tf,
        [
            &expected[..],
            &["proton.auto.tfvars.json", "proton.variables.tf"]
        ]
        .concat()
    );
    let main = std::fs::read(env.join("v1/infrastructure/main.tf")).unwrap();
    assert_eq!(
        files.iter().find(|f| f.path == "main.tf").unwrap().contents,
        main
    );
}

#[test]
fn bundle_wrapped_in_one_folder_loads_like_root_layout() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let v1 = root.join("cloudformation/environment-templates/vpc-env/v1");
    let file = |p: &str| std::fs::read(v1.join(p)).unwrap();
    let archive = common::RawTar::new()
        .entry("v1/", tar::EntryType::Directory, b"")
        .file("v1/schema/schema.yaml", &file("schema/schema.yaml"))
        .file(
            "v1/infrastructure/manifest.yaml",
            &file("infrastructure/manifest.yaml"),
        )
        .file(
            "v1/infrastructure/cloudformation.yaml",
            &file("infrastructure/cloudformation.yaml"),
        )
        .gzip();
    let bundle = Bundle::from_archive(&archive, &Limits::default()).unwrap();
    assert_eq!(
        bundle.schema.environment_input_type().unwrap(),
        "VPCEnvironmentInput"
    );
    assert!(bundle.infrastructure.contains_key("cloudformation.yaml"));
}

/// For each real schema, a spec that breaks it one way is refused naming the field.
#[test]
fn broken_specs_are_refused_naming_the_field() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let cfn = root.join("cloudformation/environment-templates");
    let cases = [
        (
            cfn.join("vpc-env/v1"),
            "vpc_cidr: not-a-cidr",
            "spec.vpc_cidr: must match pattern",
        ),
        (
            cfn.join("ecs-ec2-env/v1"),
            "MaxSize: many",
            "spec.MaxSize: must be a number",
        ),
        (
            cfn.join("ecs-ec2-env/v1"),
            "subnet_type: hybrid",
            "spec.subnet_type: must be one of",
        ),
        (
            root.join("cloudformation/lambda-multi-svc/lambda-env/v1"),
            "ttl_attribute: \"\"",
            "spec.ttl_attribute: must be at least 1 characters long",
        ),
        (
            root.join("terraform/environment-templates/vpc-env/v1"),
            "vpc_cidrs: 10.0.0.0/16",
            "spec.vpc_cidrs: not defined in the schema",
        ),
    ];
    for (dir, line, expected) in cases {
        let bundle = load(&dir);
        let spec = parse_spec(&format!("proton: EnvironmentSpec\nspec:\n  {line}\n")).unwrap();
        let error = bundle
            .schema
            .environment_inputs(&spec)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{}: {error}", dir.display());
    }
}

#[test]
fn lambda_env_applies_the_default_ttl_attribute() {
    let Some(root) = common::real_bundles() else {
        return;
    };
    let bundle = load(&root.join("cloudformation/lambda-multi-svc/lambda-env/v1"));
    // ttl_attribute is required but has a default, so leaving it out is fine.
    let spec = parse_spec("proton: EnvironmentSpec\nspec: {}\n").unwrap();
    let inputs = bundle.schema.environment_inputs(&spec).unwrap();
    assert_eq!(inputs["ttl_attribute"], "ttl");
}
