//! A registered bundle: its schema, its manifest and the files under `infrastructure/`.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use crate::archive::{ArchiveFile, read_archive};
use crate::error::BundleError;
use crate::limits::Limits;
use crate::manifest::Manifest;
use crate::schema::Schema;

const SCHEMA_PATH: &str = "schema/schema.yaml";
const MANIFEST_PATH: &str = "infrastructure/manifest.yaml";
const INFRASTRUCTURE: &str = "infrastructure/";

/// One file of `infrastructure/`, as it came out of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfrastructureFile {
    /// The file's bytes.
    pub contents: Vec<u8>,
    /// Whether the archive marked it executable (kept for CodeBuild-style scripts).
    pub executable: bool,
}

/// A bundle that passed every check at registration.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The parsed `schema/schema.yaml`.
    pub schema: Schema,
    /// The parsed `infrastructure/manifest.yaml`.
    pub manifest: Manifest,
    /// Every file under `infrastructure/` (the manifest included), by path relative to that
    /// folder, for example `manifest.yaml` or `scripts/deploy.sh`.
    pub infrastructure: BTreeMap<String, InfrastructureFile>,
}

impl Bundle {
    /// Reads a gzipped tar bundle held in memory. Nothing is written to disk.
    ///
    /// The checks, in order: archive size, then while reading each entry its name, kind and
    /// size, the entry count and the inflated total; then the per-role file limits, the count
    /// of template files, the schema, the manifest, and the files the manifest names.
    pub fn from_archive(bytes: &[u8], limits: &Limits) -> Result<Bundle, BundleError> {
        let files = read_archive(bytes, limits)?;
        check_role_limits(&files, limits)?;
        let schema_text = text(&files, SCHEMA_PATH)?;
        let manifest_text = text(&files, MANIFEST_PATH)?;
        let infrastructure = infrastructure_files(files);
        check_template_count(&infrastructure, limits)?;

        let schema = Schema::parse(&schema_text)?;
        schema.environment_input_type()?;
        let manifest = Manifest::parse(&manifest_text)?;
        manifest.check_files(infrastructure.keys().map(String::as_str))?;
        Ok(Bundle {
            schema,
            manifest,
            infrastructure,
        })
    }

    /// Writes the `infrastructure/` files (and nothing else) under `dest`, creating folders as
    /// needed. Files are created fresh: an existing file or link at a target path is an error,
    /// so a prepared directory cannot redirect the write elsewhere.
    pub fn write_infrastructure(&self, dest: &Path) -> io::Result<()> {
        for (path, file) in &self.infrastructure {
            let target = dest.join(path);
            if let Some(parent) = target.parent() {
                create_folders(dest, parent)?;
            }
            write_new(&target, &file.contents, file.executable)?;
        }
        Ok(())
    }

    /// The template files the manifest names, with their contents, in manifest order.
    pub fn template_files(&self) -> Vec<(&str, &[u8])> {
        self.manifest
            .template_files(self.infrastructure.keys().map(String::as_str))
            .into_iter()
            .filter_map(|p| self.infrastructure.get_key_value(p))
            .map(|(p, f)| (p.as_str(), f.contents.as_slice()))
            .collect()
    }
}

/// Applies the manifest, schema and other-file limits now that the layout is known.
fn check_role_limits(
    files: &BTreeMap<String, ArchiveFile>,
    limits: &Limits,
) -> Result<(), BundleError> {
    for (path, file) in files {
        let limit = match path.as_str() {
            SCHEMA_PATH => limits.max_schema_bytes,
            MANIFEST_PATH => limits.max_manifest_bytes,
            _ => limits.max_file_bytes,
        };
        if file.contents.len() as u64 > limit {
            return Err(BundleError::FileTooLarge {
                path: path.clone(),
                limit,
            });
        }
    }
    Ok(())
}

fn text(files: &BTreeMap<String, ArchiveFile>, path: &str) -> Result<String, BundleError> {
    let file = files
        .get(path)
        .ok_or_else(|| BundleError::Missing { path: path.into() })?;
    String::from_utf8(file.contents.clone()).map_err(|_| BundleError::NotText { path: path.into() })
}

fn infrastructure_files(
    files: BTreeMap<String, ArchiveFile>,
) -> BTreeMap<String, InfrastructureFile> {
    files
        .into_iter()
        .filter_map(|(path, file)| {
            let rel = path.strip_prefix(INFRASTRUCTURE)?.to_string();
            let ArchiveFile {
                contents,
                executable,
            } = file;
            Some((
                rel,
                InfrastructureFile {
                    contents,
                    executable,
                },
            ))
        })
        .collect()
}

fn check_template_count(
    files: &BTreeMap<String, InfrastructureFile>,
    limits: &Limits,
) -> Result<(), BundleError> {
    let templates = files.keys().filter(|p| p.as_str() != "manifest.yaml");
    if let Some(extra) = templates.clone().nth(limits.max_template_files) {
        let path = format!("{INFRASTRUCTURE}{extra}");
        return Err(BundleError::TooManyTemplateFiles {
            path,
            limit: limits.max_template_files,
        });
    }
    Ok(())
}

/// Creates the folders from `root` down to `folder`, refusing to pass through a link.
fn create_folders(root: &Path, folder: &Path) -> io::Result<()> {
    let rel = folder.strip_prefix(root).map_err(io::Error::other)?;
    let mut current = root.to_path_buf();
    for part in rel.components() {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                let message = format!("{} exists and is not a folder", current.display());
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, message));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir(&current)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_new(path: &Path, contents: &[u8], executable: bool) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o755 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = executable;
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
