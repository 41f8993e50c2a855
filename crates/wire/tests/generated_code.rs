//! The committed model and generated code are exactly what the generator produces.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn vendored_model() -> Value {
    read_json(&crate_dir().join("model/proton-2020-07-20.json"))
}

#[test]
fn generated_code_is_up_to_date() {
    let generated_dir = crate_dir().join("src/generated");
    let files = protond_codegen::generate(&vendored_model());
    for (name, expected) in &files {
        let committed = fs::read_to_string(generated_dir.join(name)).unwrap_or_default();
        assert!(
            committed == *expected,
            "src/generated/{name} is stale: run `cargo run -p protond-codegen`"
        );
    }
    let mut committed: Vec<String> = fs::read_dir(&generated_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let mut expected: Vec<String> = files.into_iter().map(|(name, _)| name).collect();
    expected.sort();
    assert_eq!(
        committed, expected,
        "src/generated holds files the generator does not write"
    );
}

#[test]
fn generated_files_carry_the_generated_header() {
    for (name, text) in protond_codegen::generate(&vendored_model()) {
        assert!(
            text.starts_with(protond_codegen::HEADER),
            "{name} lacks the header"
        );
    }
}

#[test]
fn vendored_model_matches_shared_model() {
    let shared = crate_dir().join("../../../shared/proton-model");
    if !shared.is_dir() {
        println!("skipped: {} is absent", shared.display());
        return;
    }
    let expected = protond_codegen::vendored_text(&read_json(&shared.join("service-2.json")));
    let vendored = fs::read_to_string(crate_dir().join("model/proton-2020-07-20.json")).unwrap();
    assert!(
        vendored == expected,
        "run `cargo run -p protond-codegen -- --strip <shared model>`"
    );
    for companion in ["waiters-2.json", "paginators-1.json"] {
        let shared = protond_codegen::strip_documentation(&read_json(&shared.join(companion)));
        let vendored = read_json(&crate_dir().join("model").join(companion));
        assert_eq!(
            vendored, shared,
            "model/{companion} differs from the shared copy"
        );
    }
}

#[test]
fn vendored_model_has_no_documentation() {
    let text = fs::read_to_string(crate_dir().join("model/proton-2020-07-20.json")).unwrap();
    assert!(!text.contains("\"documentation\""));
}
