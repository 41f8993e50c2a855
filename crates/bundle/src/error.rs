//! Why a bundle was refused. Each message names the file it is about, relative to the bundle
//! root, because it is shown as-is in a template version's `statusMessage`.

use crate::schema::SchemaError;

/// A bundle that cannot be registered (or packed). The Display text is the user-facing message.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The compressed archive is over the size limit.
    #[error("bundle archive is {size} bytes, more than the limit of {limit} bytes")]
    ArchiveTooLarge { size: u64, limit: u64 },
    /// The bytes are not a gzipped tar archive.
    #[error("bundle is not a valid gzipped tar archive: {0}")]
    NotAnArchive(String),
    /// An entry name is not UTF-8.
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name { path: String },
    /// An entry name starts at the file system root.
    #[error("{path}: absolute paths are not allowed")]
    AbsolutePath { path: String },
    /// An entry name climbs out of the bundle with `..`.
    #[error("{path}: path escapes the bundle")]
    PathEscapes { path: String },
    /// An entry name that cannot be a portable relative path (backslash, NUL, empty).
    #[error("{path}: invalid file name")]
    InvalidName { path: String },
    /// A symbolic or hard link.
    #[error("{path}: links are not allowed in a bundle")]
    Link { path: String },
    /// A device, FIFO or other special entry.
    #[error("{path}: only regular files and folders are allowed in a bundle")]
    SpecialFile { path: String },
    /// The same path appears twice.
    #[error("{path}: appears more than once in the bundle")]
    Duplicate { path: String },
    /// One file is over its size limit.
    #[error("{path}: file is larger than the limit of {limit} bytes")]
    FileTooLarge { path: String, limit: u64 },
    /// The bundle inflates to more than the total limit.
    #[error("{path}: bundle unpacks to more than the limit of {limit} bytes")]
    UnpackedTooLarge { path: String, limit: u64 },
    /// More entries than the limit.
    #[error("{path}: bundle has more than {limit} entries")]
    TooManyEntries { path: String, limit: usize },
    /// More template files in `infrastructure/` than the limit.
    #[error("{path}: infrastructure/ holds more than {limit} template files")]
    TooManyTemplateFiles { path: String, limit: usize },
    /// A required file is absent.
    #[error("{path}: missing from the bundle")]
    Missing { path: String },
    /// A file that must be text is not UTF-8.
    #[error("{path}: not valid UTF-8 text")]
    NotText { path: String },
    /// The manifest is malformed or inconsistent with the bundle.
    #[error("infrastructure/manifest.yaml: {0}")]
    Manifest(String),
    /// The schema is malformed.
    #[error("schema/schema.yaml: {0}")]
    Schema(#[from] SchemaError),
    /// A file could not be read while packing a folder.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
