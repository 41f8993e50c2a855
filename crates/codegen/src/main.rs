//! `protond-codegen`: regenerates `crates/wire/src/generated/` from the vendored model.
//!
//! Usage: `protond-codegen [--strip PATH/TO/service-2.json]`. With `--strip`, the vendored
//! model (and the waiters and paginators beside the given file) is first refreshed from that
//! botocore model, documentation removed. Run it from anywhere inside the workspace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

const MODEL: &str = "proton-2020-07-20.json";
/// Vendored beside the model, byte for byte unless they carry documentation to strip.
const COMPANIONS: [&str; 2] = ["waiters-2.json", "paginators-1.json"];

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("protond-codegen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let wire = wire_crate();
    match args.as_slice() {
        [] => {}
        [flag, source] if flag == "--strip" => refresh_vendored(Path::new(source), &wire)?,
        _ => return Err("usage: protond-codegen [--strip PATH/TO/service-2.json]".to_string()),
    }
    let model = read_json(&wire.join("model").join(MODEL))?;
    write_generated(
        &wire.join("src/generated"),
        &protond_codegen::generate(&model),
    )
}

/// The wire crate's directory, found from this crate's own location at build time.
fn wire_crate() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wire")
}

fn refresh_vendored(source: &Path, wire: &Path) -> Result<(), String> {
    let model_dir = wire.join("model");
    let model = read_json(source)?;
    write(
        &model_dir.join(MODEL),
        &protond_codegen::vendored_text(&model),
    )?;
    let source_dir = source.parent().unwrap_or(Path::new("."));
    for name in COMPANIONS {
        let path = source_dir.join(name);
        let text = fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        let companion = read_json(&path)?;
        if protond_codegen::strip_documentation(&companion) == companion {
            write(&model_dir.join(name), &text)?;
        } else {
            write(
                &model_dir.join(name),
                &protond_codegen::vendored_text(&companion),
            )?;
        }
    }
    Ok(())
}

/// Writes every generated file and removes stale ones, so the folder equals the generator.
fn write_generated(dir: &Path, files: &[(String, String)]) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    for (name, text) in files {
        write(&dir.join(name), text)?;
    }
    let entries = fs::read_dir(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !files.iter().any(|(generated, _)| *generated == name) {
            fs::remove_file(entry.path()).map_err(|err| format!("{name}: {err}"))?;
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|err| format!("{}: {err}", path.display()))?;
    serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|err| format!("{}: {err}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}
