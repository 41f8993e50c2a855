//! `protond render` and `protond deployment rendered`: a bundle's rendered templates without a
//! server, and the templates a deployment was given, read back from the data directory.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use protond_bundle::{Bundle, Limits, RenderContext, RenderedFile};

/// Renders the bundle folder `dir` with the spec file `spec` as environment `environment_name`
/// and prints the result: a single file as it is (so it can be piped to `cfn-lint`), several
/// files each under a `==> path <==` header.
pub fn render(dir: &Path, spec: &Path, environment_name: &str) -> anyhow::Result<()> {
    let archive = protond_bundle::pack_dir(dir)?;
    let bundle = Bundle::from_archive(&archive, &Limits::default())
        .with_context(|| format!("{} is not a valid bundle", dir.display()))?;
    let text = std::fs::read_to_string(spec)
        .with_context(|| format!("cannot read the spec {}", spec.display()))?;
    let spec = protond_bundle::parse_spec(&text)
        .with_context(|| format!("{} is not a valid spec", spec.display()))?;
    let inputs = bundle
        .schema
        .environment_inputs(&spec)
        .context("the spec does not fit the bundle's schema")?;
    let ctx = RenderContext {
        environment_name: environment_name.to_owned(),
        inputs,
    };
    let files = protond_bundle::render(&bundle, &ctx)?;
    print_files(&files)
}

/// Prints the rendered templates kept for deployment `id` under `data_dir`.
pub fn rendered(data_dir: &Path, id: &str) -> anyhow::Result<()> {
    let dir = protond_engine::rendered_dir(&data_dir.join("deployments"), id);
    if !dir.is_dir() {
        anyhow::bail!(
            "no rendered templates for deployment {id} in {} (only CloudFormation deployments \
             keep them)",
            dir.display()
        );
    }
    let mut files = Vec::new();
    collect(&dir, &dir, &mut files)?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    print_files(&files)
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<RenderedFile>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(root, &path, files)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            files.push(RenderedFile {
                path: relative.to_string_lossy().into_owned(),
                contents: std::fs::read(&path)?,
            });
        }
    }
    Ok(())
}

fn print_files(files: &[RenderedFile]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match files {
        [only] => out.write_all(&only.contents)?,
        many => {
            for file in many {
                writeln!(out, "==> {} <==", file.path)?;
                out.write_all(&file.contents)?;
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
