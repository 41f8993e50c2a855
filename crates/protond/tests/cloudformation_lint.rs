//! The public CloudFormation bundles (`../shared/fixtures/real-bundles/cloudformation`, read in
//! place) rendered by `protond render` with their example specs are valid CloudFormation:
//! `cfn-lint` (from PyPI, which scripts/test installs into `.venv`) reports no error, and each
//! spec value lands on the line where the template puts it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The public bundles: (bundle folder, example spec), relative to the CloudFormation folder.
const BUNDLES: &[(&str, &str)] = &[
    (
        "environment-templates/ecs-ec2-env/v1",
        "environment-templates/ecs-ec2-env/spec/spec.yaml",
    ),
    (
        "environment-templates/vpc-env/v1",
        "environment-templates/vpc-env/spec/spec.yaml",
    ),
    (
        "lambda-multi-svc/lambda-env/v1",
        "lambda-multi-svc/specs/env-spec.yaml",
    ),
];

/// `cfn-lint` checks the bundle's choices too. ecs-ec2-env picks the `python3.6` Lambda
/// runtime, which AWS has retired since the bundle was written (E2533); that is a fact about
/// the bundle, not about its rendering, and bundles are never changed to suit a tool.
const IGNORED_CHECKS: &str = "E2533";

fn cfn_lint() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/cfn-lint");
    venv.is_file().then_some(venv)
}

fn render(bundle: &Path, spec: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_protond"))
        .arg("render")
        .arg(bundle)
        .arg(spec)
        .args(["--environment-name", "lint-env"])
        .output()
        .expect("protond render runs");
    assert!(
        output.status.success(),
        "protond render {} failed: {}",
        bundle.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn public_bundles_render_to_cloudformation_that_cfn_lint_accepts() {
    let Some(root) = common::real_bundles() else {
        println!("note: ../shared/fixtures/real-bundles is absent; nothing to lint");
        return;
    };
    let Some(lint) = cfn_lint() else {
        println!("note: .venv/bin/cfn-lint is not installed (scripts/test installs it); skipped");
        return;
    };
    let out = tempfile::tempdir().expect("a temporary folder");
    for (bundle, spec) in BUNDLES {
        let root = root.join("cloudformation");
        let rendered = render(&root.join(bundle), &root.join(spec));
        let file = out
            .path()
            .join(format!("{}.yaml", bundle.replace('/', "-")));
        std::fs::write(&file, &rendered).expect("the rendered template");
        let result = Command::new(&lint)
            .args([
                "--format",
                "parseable",
                "--ignore-checks",
                IGNORED_CHECKS,
                "--",
            ])
            .arg(&file)
            .output()
            .expect("cfn-lint runs");
        // cfn-lint's exit status is a bit set: 2 errors, 4 warnings, 8 informational notes.
        let code = result.status.code().unwrap_or(1);
        let report = String::from_utf8_lossy(&result.stdout);
        assert_eq!(code & 3, 0, "cfn-lint found errors in {bundle}:\n{report}");
        if !report.is_empty() {
            println!("{bundle}: cfn-lint warnings only:\n{report}");
        }
    }
}

#[test]
fn every_spec_value_lands_where_the_template_puts_it() {
    let Some(root) = common::real_bundles() else {
        println!("note: ../shared/fixtures/real-bundles is absent; nothing to check");
        return;
    };
    let root = root.join("cloudformation");
    for (bundle, spec) in BUNDLES {
        let rendered = render(&root.join(bundle), &root.join(spec));
        let template =
            std::fs::read_to_string(root.join(bundle).join("infrastructure/cloudformation.yaml"))
                .expect("the template");
        let spec: serde_norway::Value =
            serde_norway::from_str(&std::fs::read_to_string(root.join(spec)).unwrap()).unwrap();
        let mut checked = 0;
        for line in template.lines() {
            let Some((before, name, after)) = single_input(line) else {
                continue;
            };
            let value = match spec["spec"].get(name) {
                Some(serde_norway::Value::String(s)) => s.clone(),
                Some(serde_norway::Value::Number(n)) => n.to_string(),
                // Inputs the spec leaves out take the schema's default; others check them.
                _ => continue,
            };
            let expected = format!("{before}{value}{after}");
            assert!(
                rendered
                    .lines()
                    .any(|l| l.trim_end() == expected.trim_end()),
                "{bundle}: no line `{expected}` in the rendered template"
            );
            checked += 1;
        }
        assert!(checked > 0, "{bundle}: no input was checked");
    }
}

/// A template line holding exactly one `{{ environment.inputs.NAME }}`: the text around it and
/// the input's name.
fn single_input(line: &str) -> Option<(&str, &str, &str)> {
    let (before, rest) = line.split_once("{{")?;
    let (expression, after) = rest.split_once("}}")?;
    if after.contains("{{") || before.contains("{%") {
        return None;
    }
    let name = expression.trim().strip_prefix("environment.inputs.")?;
    let simple = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    simple.then_some((before, name, after))
}
