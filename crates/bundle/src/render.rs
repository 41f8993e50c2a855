//! Producing the files a provisioner consumes from a bundle and validated inputs.
//!
//! - CloudFormation (`jinja`): the template is rendered with MiniJinja under Jinja2's default
//!   whitespace rules (no `trim_blocks`, no `lstrip_blocks`, a final newline dropped), with no
//!   auto-escaping, with `environment.name` and `environment.inputs` in scope (Proton gives an
//!   environment template nothing else), the `proton_cfn_*` filters, and an undefined value as
//!   an error. Values print as Jinja2 prints them (`True`, `None`, Python's list notation),
//!   and the block filters are indented to their column afterwards. Rendering is bounded: fuel
//!   caps the instructions a template may run, a recursion limit caps nesting, and the output is
//!   capped at CloudFormation's own 1 MB limit on a template body. One expression can still
//!   build a large string (MiniJinja allows up to 100 MB from `"x" * n`) before the output cap
//!   sees it.
//! - Terraform (`hcl`): the `.tf` files the manifest selects, unchanged, plus
//!   `proton.auto.tfvars.json` and `proton.variables.tf`.
//! - CodeBuild: every `infrastructure/` file unchanged plus `proton-inputs.json` (and
//!   `proton-inputs.tfvars` for `input_type: HCL`).

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::Value;

use crate::bundle::Bundle;
use crate::inputs::{self, HCL_INPUTS_FILE, JSON_INPUTS_FILE, TFVARS_FILE, VARIABLES_FILE};
use crate::manifest::{InputType, Provisioning};

/// What a deployment renders with.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderContext {
    /// The environment's name (`environment.name`).
    pub environment_name: String,
    /// Validated inputs with defaults applied (`environment.inputs`), from
    /// [`Schema::environment_inputs`](crate::Schema::environment_inputs).
    pub inputs: Value,
}

/// Bounds on one template's rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderLimits {
    /// Instructions a template may execute.
    pub fuel: u64,
    /// Deepest nesting of calls, includes and blocks.
    pub recursion_limit: usize,
    /// Largest rendered file, in bytes.
    pub max_output_bytes: usize,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            fuel: 5_000_000,
            recursion_limit: 100,
            max_output_bytes: 1024 * 1024,
        }
    }
}

/// One output file, its path relative to the working folder the provisioner uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative path, for example `cloudformation.yaml` or `proton.auto.tfvars.json`.
    pub path: String,
    /// The file's bytes.
    pub contents: Vec<u8>,
}

/// A template that failed to render; Display reads `file:line: reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct RenderError {
    /// The template's path in the bundle, for example `infrastructure/cloudformation.yaml`.
    pub file: String,
    /// The line the failure points at, when known.
    pub line: Option<usize>,
    /// What went wrong.
    pub reason: String,
}

/// Renders a bundle for a deployment with the default [`RenderLimits`].
pub fn render(bundle: &Bundle, ctx: &RenderContext) -> Result<Vec<RenderedFile>, RenderError> {
    render_with_limits(bundle, ctx, &RenderLimits::default())
}

/// Renders a bundle for a deployment within `limits`.
pub fn render_with_limits(
    bundle: &Bundle,
    ctx: &RenderContext,
    limits: &RenderLimits,
) -> Result<Vec<RenderedFile>, RenderError> {
    match &bundle.manifest.provisioning {
        Provisioning::CloudFormation { .. } => {
            let mut rendered = Vec::new();
            for (path, source) in bundle.template_files() {
                let contents = render_template(path, source, ctx, limits)?;
                rendered.push(RenderedFile {
                    path: path.to_string(),
                    contents,
                });
            }
            Ok(rendered)
        }
        Provisioning::Terraform { .. } => Ok(terraform_files(bundle, ctx)),
        Provisioning::CodeBuild(settings) => Ok(codebuild_files(bundle, ctx, settings.input_type)),
    }
}

fn terraform_files(bundle: &Bundle, ctx: &RenderContext) -> Vec<RenderedFile> {
    let mut files: Vec<RenderedFile> = bundle
        .template_files()
        .into_iter()
        .map(|(path, contents)| RenderedFile {
            path: path.into(),
            contents: contents.into(),
        })
        .collect();
    let tfvars = inputs::terraform_tfvars_json(&ctx.environment_name, &ctx.inputs);
    files.push(RenderedFile {
        path: TFVARS_FILE.into(),
        contents: tfvars.into_bytes(),
    });
    let variables = inputs::terraform_variables_tf().as_bytes().to_vec();
    files.push(RenderedFile {
        path: VARIABLES_FILE.into(),
        contents: variables,
    });
    files
}

fn codebuild_files(
    bundle: &Bundle,
    ctx: &RenderContext,
    input_type: InputType,
) -> Vec<RenderedFile> {
    let mut files: Vec<RenderedFile> = bundle
        .infrastructure
        .iter()
        .map(|(path, file)| RenderedFile {
            path: path.clone(),
            contents: file.contents.clone(),
        })
        .collect();
    let json = inputs::proton_inputs_json(&ctx.environment_name, &ctx.inputs);
    let json = serde_json::to_vec_pretty(&json).expect("JSON values serialize");
    files.push(RenderedFile {
        path: JSON_INPUTS_FILE.into(),
        contents: json,
    });
    if input_type == InputType::Hcl {
        let hcl = inputs::proton_inputs_hcl(&ctx.environment_name, &ctx.inputs);
        files.push(RenderedFile {
            path: HCL_INPUTS_FILE.into(),
            contents: hcl.into_bytes(),
        });
    }
    files
}

/// Renders one Jinja template. `path` is relative to `infrastructure/`.
fn render_template(
    path: &str,
    source: &[u8],
    ctx: &RenderContext,
    limits: &RenderLimits,
) -> Result<Vec<u8>, RenderError> {
    let file = format!("infrastructure/{path}");
    let fail = |line, reason: String| RenderError {
        file: file.clone(),
        line,
        reason,
    };
    let source = std::str::from_utf8(source).map_err(|_| fail(None, "not UTF-8 text".into()))?;

    let env = environment(limits);
    let template = env
        .template_from_named_str(path, source)
        .map_err(|e| fail(e.line(), describe(&e, source)))?;
    let context = minijinja::context! {
        environment => minijinja::context! {
            name => &ctx.environment_name,
            inputs => minijinja::Value::from(minijinja::value::Serde(&ctx.inputs)),
        },
    };
    let overflowed = Rc::new(Cell::new(false));
    let mut output = CappedWriter {
        buffer: Vec::new(),
        limit: limits.max_output_bytes,
        overflowed: overflowed.clone(),
    };
    match template.render_captured_to(context, &mut output) {
        // The output is text: every piece of it came from a UTF-8 template or a value.
        Ok(_) => {
            let text = String::from_utf8_lossy(&output.buffer);
            Ok(crate::filters::reindent(&text).into_bytes())
        }
        Err(_) if overflowed.get() => {
            let reason = format!(
                "rendered output is larger than {} bytes",
                limits.max_output_bytes
            );
            Err(fail(None, reason))
        }
        Err(e) => Err(fail(e.line(), describe(&e, source))),
    }
}

fn environment(limits: &RenderLimits) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(limits.fuel));
    env.set_recursion_limit(limits.recursion_limit);
    crate::filters::register(&mut env);
    env
}

/// A short reason for a MiniJinja error: its kind, its detail, and the source it points at.
fn describe(error: &minijinja::Error, source: &str) -> String {
    let mut reason = error.kind().to_string();
    if let Some(detail) = error.detail() {
        reason = format!("{reason}: {detail}");
    }
    let span = error.range().and_then(|r| source.get(r)).map(str::trim);
    if let Some(span) = span.filter(|s| !s.is_empty() && s.len() <= 120) {
        reason = format!("{reason} (in `{span}`)");
    }
    reason
}

/// Collects output and fails once it passes `limit` bytes.
struct CappedWriter {
    buffer: Vec<u8>,
    limit: usize,
    overflowed: Rc<Cell<bool>>,
}

impl io::Write for CappedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buffer.len() + data.len() > self.limit {
            self.overflowed.set(true);
            return Err(io::Error::other("rendered output too large"));
        }
        self.buffer.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
