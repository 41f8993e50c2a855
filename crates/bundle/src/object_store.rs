//! A folder-backed object store: where CreateEnvironmentTemplateVersion's `s3 = {bucket, key}`
//! resolves when no S3 endpoint is configured.
//!
//! Layout: `<root>/<bucket>/<key>`, the key's `/` separators becoming sub-folders. Bucket names
//! follow S3's rules; keys are refused when they could not map one-to-one onto a path (empty,
//! `.` or `..` segments, a leading or trailing `/`, NUL, over 1024 bytes). Writes go to a
//! temporary file in the target folder, are synced, then renamed into place, so a reader never
//! sees half an object and a crash leaves the old object or the new one.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Longest key S3 accepts, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Why an object could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// The bucket name breaks S3's naming rules.
    #[error("invalid bucket name {bucket:?}: {reason}")]
    InvalidBucket {
        bucket: String,
        reason: &'static str,
    },
    /// The key cannot name an object here.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// The file system failed.
    #[error("object store: {0}")]
    Io(#[from] io::Error),
}

/// Objects kept as files under `root`.
#[derive(Debug, Clone)]
pub struct LocalObjectStore {
    /// The folder holding one folder per bucket.
    pub root: PathBuf,
}

impl LocalObjectStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalObjectStore { root: root.into() }
    }

    /// Stores `bytes` as `bucket/key`, replacing any previous object atomically.
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) -> Result<(), ObjectStoreError> {
        let path = self.path(bucket, key)?;
        let folder = path.parent().expect("an object path has a bucket folder");
        std::fs::create_dir_all(folder)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".put-")
            .tempfile_in(folder)?;
        temp.write_all(bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(&path).map_err(|e| e.error)?;
        sync_folder(folder)
    }

    /// Reads `bucket/key`, or `None` when there is no such object.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ObjectStoreError> {
        let path = self.path(bucket, key)?;
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => Ok(None),
            Err(_) if path.is_dir() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn path(&self, bucket: &str, key: &str) -> Result<PathBuf, ObjectStoreError> {
        check_bucket(bucket)?;
        check_key(key)?;
        Ok(self.root.join(bucket).join(key))
    }
}

#[cfg(unix)]
fn sync_folder(folder: &Path) -> Result<(), ObjectStoreError> {
    std::fs::File::open(folder)?.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> Result<(), ObjectStoreError> {
    Ok(())
}

/// S3's general-purpose bucket naming rules.
fn check_bucket(bucket: &str) -> Result<(), ObjectStoreError> {
    let invalid = |reason| ObjectStoreError::InvalidBucket {
        bucket: bucket.into(),
        reason,
    };
    if !(3..=63).contains(&bucket.len()) {
        return Err(invalid("must be 3 to 63 characters long"));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    if !bucket.chars().all(allowed) {
        return Err(invalid(
            "may hold only lowercase letters, digits, dots and hyphens",
        ));
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(bucket.chars().next()) || !edge(bucket.chars().last()) {
        return Err(invalid("must begin and end with a letter or digit"));
    }
    if bucket.contains("..") {
        return Err(invalid("must not hold two adjacent dots"));
    }
    if bucket.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(invalid("must not look like an IP address"));
    }
    let reserved_prefix = ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| bucket.starts_with(p));
    let reserved_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
        .iter()
        .any(|s| bucket.ends_with(s));
    if reserved_prefix || reserved_suffix {
        return Err(invalid("uses a prefix or suffix S3 reserves"));
    }
    Ok(())
}

fn check_key(key: &str) -> Result<(), ObjectStoreError> {
    let invalid = |reason| ObjectStoreError::InvalidKey {
        key: key.into(),
        reason,
    };
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(invalid("must be 1 to 1024 bytes long"));
    }
    if key.contains('\0') || key.contains('\\') {
        return Err(invalid("must not hold NUL or backslash characters"));
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(invalid("must not begin or end with /"));
    }
    if key
        .split('/')
        .any(|segment| matches!(segment, "" | "." | ".."))
    {
        return Err(invalid("must not hold empty, . or .. segments"));
    }
    Ok(())
}
