//! `infrastructure/manifest.yaml`: which provisioning method a bundle uses, and with what.
//!
//! Proton knows three shapes, one per provisioning method, and a manifest uses exactly one:
//!
//! - `rendering_engine: jinja` with `template_language: cloudformation` and a single `file`;
//! - `rendering_engine: hcl` with `template_language: terraform` and one or more `file`s, where
//!   `*` stands for every `.tf` file of `infrastructure/` (other files are not templates);
//! - `rendering_engine: codebuild` with `settings: {image, runtimes, provision, deprovision,
//!   env, project_properties}`; we also read `settings.input_type` (`JSON` or `HCL`) to choose
//!   the form of the input file.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::BundleError;

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// How the bundle is provisioned.
    pub provisioning: Provisioning,
}

/// The provisioning method a manifest selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Provisioning {
    /// Shell commands run by protond itself (Proton ran them in CodeBuild).
    CodeBuild(Box<CodeBuildSettings>),
    /// A Jinja-rendered CloudFormation template; `file` is relative to `infrastructure/`.
    CloudFormation { file: String },
    /// Terraform files handed over unchanged with generated variable files. `files` are the
    /// entries as written in the manifest: file names relative to `infrastructure/`, or `*`.
    Terraform { files: Vec<String> },
}

/// The `settings` of a CodeBuild-style manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeBuildSettings {
    /// The CodeBuild image. Recorded only: protond runs the commands on its host.
    pub image: String,
    /// Runtime versions by language, as strings. Recorded only. YAML reads `1.20` as the
    /// number 1.2, so a version written unquoted can lose a trailing zero here.
    pub runtimes: BTreeMap<String, String>,
    /// Commands run, in order, to provision.
    pub provision: Vec<String>,
    /// Commands run, in order, to deprovision.
    pub deprovision: Vec<String>,
    /// The form of the input file the commands read.
    pub input_type: InputType,
    /// The `env` block (variables, secrets), kept as written.
    pub env: Option<Value>,
    /// The `project_properties` block, kept as written.
    pub project_properties: Option<Value>,
}

/// The form of the CodeBuild input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputType {
    /// `proton-inputs.json` only (the default).
    #[default]
    Json,
    /// `proton-inputs.json` plus the same inputs as HCL variable values.
    Hcl,
}

const SETTINGS_KEYS: &[&str] = &[
    "image",
    "runtimes",
    "provision",
    "deprovision",
    "env",
    "project_properties",
    "input_type",
];

impl Manifest {
    /// Parses the manifest text. File references are checked by [`Manifest::check_files`].
    pub fn parse(text: &str) -> Result<Manifest, BundleError> {
        let root: Value = serde_norway::from_str(text).map_err(|e| err(format!("{e}")))?;
        let templates = root
            .get("infrastructure")
            .and_then(|i| i.get("templates"))
            .and_then(Value::as_array)
            .ok_or_else(|| err("expected infrastructure.templates to be a list".into()))?;
        let first = templates
            .first()
            .ok_or_else(|| err("no templates listed".into()))?;
        let engine = engine_of(first)?;
        for template in templates {
            let other = engine_of(template)?;
            if other != engine {
                return Err(err(format!("mixes rendering engines {engine} and {other}")));
            }
        }
        let provisioning = match engine {
            "jinja" => cloudformation(templates)?,
            "hcl" => terraform(templates)?,
            _ => codebuild(templates)?,
        };
        Ok(Manifest { provisioning })
    }

    /// Checks that every file the manifest names is present. `files` are the paths under
    /// `infrastructure/`.
    pub fn check_files<'a>(&self, files: impl Iterator<Item = &'a str>) -> Result<(), BundleError> {
        let files: Vec<&str> = files.collect();
        let named: Vec<&str> = match &self.provisioning {
            Provisioning::CodeBuild(_) => return Ok(()),
            Provisioning::CloudFormation { file } => vec![file],
            Provisioning::Terraform { files } => files.iter().map(String::as_str).collect(),
        };
        for name in named {
            if name == "*" && !files.iter().any(|f| is_tf(f)) {
                return Err(err(
                    "file \"*\" matches no .tf file in infrastructure/".into()
                ));
            }
            if name != "*" && !files.contains(&name) {
                return Err(err(format!("file {name:?} is not in infrastructure/")));
            }
        }
        Ok(())
    }

    /// The template files the manifest selects among `files` (paths under `infrastructure/`),
    /// without duplicates, in manifest order. Empty for CodeBuild-style manifests.
    pub fn template_files<'a>(&self, files: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
        let files: Vec<&str> = files.collect();
        let named: Vec<&str> = match &self.provisioning {
            Provisioning::CodeBuild(_) => return Vec::new(),
            Provisioning::CloudFormation { file } => vec![file],
            Provisioning::Terraform { files } => files.iter().map(String::as_str).collect(),
        };
        let mut selected: Vec<&str> = Vec::new();
        for name in named {
            let matches = files
                .iter()
                .filter(|f| **f == name || (name == "*" && is_tf(f)));
            for file in matches {
                if !selected.contains(file) {
                    selected.push(file);
                }
            }
        }
        selected
    }
}

/// Whether a path is a Terraform file matched by `*`: directly in `infrastructure/`, as
/// Terraform itself only loads the root folder's files.
fn is_tf(path: &str) -> bool {
    path.ends_with(".tf") && !path.contains('/')
}

fn err(message: String) -> BundleError {
    BundleError::Manifest(message)
}

fn engine_of(template: &Value) -> Result<&str, BundleError> {
    let engine = template
        .get("rendering_engine")
        .and_then(Value::as_str)
        .ok_or_else(|| err("every template needs a rendering_engine".into()))?;
    match engine {
        "jinja" | "hcl" | "codebuild" => Ok(engine),
        other => Err(err(format!(
            "unknown rendering_engine {other:?} (expected jinja, hcl or codebuild)"
        ))),
    }
}

fn language_must_be(template: &Value, expected: &str) -> Result<(), BundleError> {
    match template.get("template_language").and_then(Value::as_str) {
        Some(language) if language == expected => Ok(()),
        Some(other) => Err(err(format!(
            "template_language {other:?} should be {expected}"
        ))),
        None => Err(err(format!(
            "template_language is required (expected {expected})"
        ))),
    }
}

fn file_of(template: &Value) -> Result<String, BundleError> {
    let file = template
        .get("file")
        .and_then(Value::as_str)
        .ok_or_else(|| err("every template needs a file".into()))?;
    crate::archive::entry_path(file.as_bytes())
        .map_err(|_| {
            err(format!(
                "file {file:?} is not a path inside infrastructure/"
            ))
        })
        .map(|_| file.to_string())
}

fn cloudformation(templates: &[Value]) -> Result<Provisioning, BundleError> {
    if templates.len() != 1 {
        return Err(err(
            "a CloudFormation manifest lists exactly one file".into()
        ));
    }
    language_must_be(&templates[0], "cloudformation")?;
    Ok(Provisioning::CloudFormation {
        file: file_of(&templates[0])?,
    })
}

fn terraform(templates: &[Value]) -> Result<Provisioning, BundleError> {
    let mut files = Vec::new();
    for template in templates {
        language_must_be(template, "terraform")?;
        files.push(file_of(template)?);
    }
    Ok(Provisioning::Terraform { files })
}

fn codebuild(templates: &[Value]) -> Result<Provisioning, BundleError> {
    if templates.len() != 1 {
        return Err(err("a CodeBuild manifest lists exactly one template".into()));
    }
    let settings = templates[0]
        .get("settings")
        .and_then(Value::as_object)
        .ok_or_else(|| err("rendering_engine codebuild needs settings".into()))?;
    if let Some(key) = settings
        .keys()
        .find(|k| !SETTINGS_KEYS.contains(&k.as_str()))
    {
        return Err(err(format!("unknown key settings.{key}")));
    }
    let image = settings
        .get("image")
        .and_then(Value::as_str)
        .ok_or_else(|| err("settings.image is required".into()))?
        .to_string();
    Ok(Provisioning::CodeBuild(Box::new(CodeBuildSettings {
        image,
        runtimes: runtimes(settings)?,
        provision: commands(settings, "provision")?,
        deprovision: commands(settings, "deprovision")?,
        input_type: input_type(settings)?,
        env: settings.get("env").cloned(),
        project_properties: settings.get("project_properties").cloned(),
    })))
}

fn runtimes(settings: &Map<String, Value>) -> Result<BTreeMap<String, String>, BundleError> {
    let Some(runtimes) = settings.get("runtimes") else {
        return Ok(BTreeMap::new());
    };
    let runtimes = runtimes
        .as_object()
        .ok_or_else(|| err("settings.runtimes should map a language to a version".into()))?;
    let version = |(name, v): (&String, &Value)| match v {
        Value::String(s) => Ok((name.clone(), s.clone())),
        Value::Number(n) => Ok((name.clone(), n.to_string())),
        _ => Err(err(format!("settings.runtimes.{name} should be a version"))),
    };
    runtimes.iter().map(version).collect()
}

fn commands(settings: &Map<String, Value>, key: &str) -> Result<Vec<String>, BundleError> {
    let list = settings
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| err(format!("settings.{key} should be a list of commands")))?;
    let command = |(i, c): (usize, &Value)| {
        c.as_str()
            .map(str::to_string)
            .ok_or_else(|| err(format!("settings.{key}[{i}] should be a command string")))
    };
    list.iter().enumerate().map(command).collect()
}

fn input_type(settings: &Map<String, Value>) -> Result<InputType, BundleError> {
    match settings
        .get("input_type")
        .map(|v| v.as_str().map(str::to_ascii_uppercase))
    {
        None => Ok(InputType::Json),
        Some(Some(t)) if t == "JSON" => Ok(InputType::Json),
        Some(Some(t)) if t == "HCL" => Ok(InputType::Hcl),
        Some(_) => Err(err("settings.input_type should be JSON or HCL".into())),
    }
}
