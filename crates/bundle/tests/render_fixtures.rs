//! Rendering fixtures: one folder per case under `tests/fixtures/render` (schema, spec,
//! template, and the expected output or error). Expected outputs are what Jinja2 renders
//! (`generate.py` there writes them, with Proton's filters implemented from its user guide),
//! and protond's rendering must match them byte for byte.

mod common;

use std::path::Path;

use protond_bundle::{Bundle, Limits, RenderContext, parse_spec, render};

const ENVIRONMENT_NAME: &str = "fixture-env";

fn render_case(case: &Path) -> Result<Vec<u8>, String> {
    let read = |name: &str| std::fs::read(case.join(name)).unwrap();
    let archive = common::RawTar::new()
        .file("schema/schema.yaml", &read("schema.yaml"))
        .file("infrastructure/manifest.yaml", common::MANIFEST.as_bytes())
        .file(
            "infrastructure/cloudformation.yaml",
            &read("cloudformation.yaml"),
        )
        .gzip();
    let bundle = Bundle::from_archive(&archive, &Limits::default()).unwrap();
    let spec = String::from_utf8(read("spec.yaml")).unwrap();
    let spec = parse_spec(&spec).unwrap();
    let ctx = RenderContext {
        environment_name: ENVIRONMENT_NAME.into(),
        inputs: bundle.schema.environment_inputs(&spec).unwrap(),
    };
    render(&bundle, &ctx)
        .map(|files| files[0].contents.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn every_case_renders_exactly_as_jinja2_does() {
    let root = common::fixture("render");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "fixtures are missing: {cases:?}");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let error_file = case.join("expected-error.txt");
        match (render_case(case), error_file.exists()) {
            (Ok(rendered), false) => {
                let expected = std::fs::read(case.join("expected.yaml")).unwrap();
                if rendered != expected {
                    failures.push(format!(
                        "{name}: rendered\n{}\n--- expected\n{}",
                        String::from_utf8_lossy(&rendered),
                        String::from_utf8_lossy(&expected)
                    ));
                }
            }
            (Err(error), true) => {
                let expected = std::fs::read_to_string(&error_file).unwrap();
                if !error.starts_with(expected.trim_end()) {
                    failures.push(format!("{name}: error `{error}`, expected `{expected}`"));
                }
            }
            (Ok(_), true) => failures.push(format!("{name}: rendered, but an error is expected")),
            (Err(error), false) => failures.push(format!("{name}: failed: {error}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
