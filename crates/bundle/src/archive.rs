//! Reading and writing bundle archives.
//!
//! Reading happens entirely in memory and in one pass: the gzip stream is inflated only as far
//! as tar asks for it, and every limit is checked against what has been read so far, so a
//! compression bomb stops at the first limit it passes rather than after inflating.
//!
//! Layout: Proton documents a bundle as `schema/schema.yaml` plus an `infrastructure/` folder at
//! the archive root. People often tar the folder that holds them instead (`tar czf b.tgz v1`),
//! which wraps everything in one top-level folder. We accept that too: when the root holds no
//! `schema/` or `infrastructure/` and every entry sits under the same single folder, that
//! folder is stripped. Files outside `schema/` and `infrastructure/` are read (and count
//! against the limits) but otherwise ignored.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::error::BundleError;
use crate::limits::Limits;

/// One regular file read from an archive, its path normalized and relative to the bundle root.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveFile {
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// Reads every regular file of a gzipped tar, enforcing `limits`, and returns them by path with
/// a wrapping top-level folder already stripped.
pub(crate) fn read_archive(
    bytes: &[u8],
    limits: &Limits,
) -> Result<BTreeMap<String, ArchiveFile>, BundleError> {
    let size = bytes.len() as u64;
    if size > limits.max_archive_bytes {
        return Err(BundleError::ArchiveTooLarge {
            size,
            limit: limits.max_archive_bytes,
        });
    }
    let exceeded = Rc::new(Cell::new(false));
    let inflated = BoundedReader {
        inner: MultiGzDecoder::new(bytes),
        remaining: limits.max_unpacked_bytes,
        exceeded: exceeded.clone(),
    };
    let mut archive = tar::Archive::new(inflated);
    let mut reader = ArchiveReader::new(exceeded, limits);
    let files = reader.read_all(&mut archive)?;
    Ok(strip_wrapping_folder(files))
}

/// The state of one pass over an archive.
struct ArchiveReader<'a> {
    exceeded: Rc<Cell<bool>>,
    limits: &'a Limits,
    /// The entry being read, named in an error that arises mid-read.
    current: String,
    entries: usize,
    declared_total: u64,
}

impl<'a> ArchiveReader<'a> {
    fn new(exceeded: Rc<Cell<bool>>, limits: &'a Limits) -> Self {
        ArchiveReader {
            exceeded,
            limits,
            current: "bundle".to_string(),
            entries: 0,
            declared_total: 0,
        }
    }

    fn read_all<R: Read>(
        &mut self,
        archive: &mut tar::Archive<R>,
    ) -> Result<BTreeMap<String, ArchiveFile>, BundleError> {
        let limits = self.limits;
        let mut files = BTreeMap::new();
        let mut folders = Vec::new();
        let entries = archive.entries().map_err(|e| not_an_archive(&e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.read_error(e))?;
            let path = entry_path(&entry.path_bytes())?;
            self.entries += 1;
            if self.entries > limits.max_entries {
                return Err(BundleError::TooManyEntries {
                    path,
                    limit: limits.max_entries,
                });
            }
            let kind = entry.header().entry_type();
            check_kind(kind, &path)?;
            if kind.is_dir() {
                folders.push(path);
                continue;
            }
            if !(kind.is_file() || kind.is_contiguous()) {
                // PAX and GNU metadata entries that tar did not fold into the next entry.
                continue;
            }
            self.check_declared_size(&path, entry.size())?;
            self.current = path.clone();
            let mut contents = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut contents)
                .map_err(|e| self.read_error(e))?;
            let executable = entry
                .header()
                .mode()
                .map(|m| m & 0o111 != 0)
                .unwrap_or(false);
            let file = ArchiveFile {
                contents,
                executable,
            };
            if files.insert(path.clone(), file).is_some() {
                return Err(BundleError::Duplicate { path });
            }
        }
        check_conflicts(&files, &folders)?;
        Ok(files)
    }

    /// Refuses a file by the size its header declares, before any of its data is inflated.
    fn check_declared_size(&mut self, path: &str, size: u64) -> Result<(), BundleError> {
        let limits = self.limits;
        // The role of a file (manifest, schema, other) is only certain once the layout is
        // known, so the largest per-file limit applies here and the exact one later.
        let limit = limits.max_file_bytes.max(limits.max_manifest_bytes);
        let limit = limit.max(limits.max_schema_bytes);
        if size > limit {
            return Err(BundleError::FileTooLarge {
                path: path.to_string(),
                limit,
            });
        }
        self.declared_total += size;
        if self.declared_total > limits.max_unpacked_bytes {
            let limit = limits.max_unpacked_bytes;
            return Err(BundleError::UnpackedTooLarge {
                path: path.to_string(),
                limit,
            });
        }
        Ok(())
    }

    fn read_error(&self, error: io::Error) -> BundleError {
        if self.exceeded.get() {
            let limit = self.limits.max_unpacked_bytes;
            return BundleError::UnpackedTooLarge {
                path: self.current.clone(),
                limit,
            };
        }
        not_an_archive(&error)
    }
}

fn not_an_archive(error: &io::Error) -> BundleError {
    BundleError::NotAnArchive(error.to_string())
}

/// A reader that fails once more than a set number of bytes has come through it, recording
/// that it did so the failure can be told apart from a corrupt archive.
struct BoundedReader<R> {
    inner: R,
    remaining: u64,
    exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // Read one more byte to tell "exactly at the limit" from "over it".
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded.set(true);
            return Err(io::Error::other("bundle unpacks past the size limit"));
        }
        let cap = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..cap])?;
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Refuses links, devices and other special entries.
fn check_kind(kind: tar::EntryType, path: &str) -> Result<(), BundleError> {
    let path = path.to_string();
    if kind.is_symlink() || kind.is_hard_link() {
        return Err(BundleError::Link { path });
    }
    let special = kind.is_character_special()
        || kind.is_block_special()
        || kind.is_fifo()
        || kind.is_gnu_sparse();
    if special {
        return Err(BundleError::SpecialFile { path });
    }
    Ok(())
}

/// Turns an entry name into a clean relative path (`a/b/c`), or says why it cannot be one.
pub(crate) fn entry_path(raw: &[u8]) -> Result<String, BundleError> {
    let Ok(name) = std::str::from_utf8(raw) else {
        let path = String::from_utf8_lossy(raw).into_owned();
        return Err(BundleError::NonUtf8Name { path });
    };
    let path = name.to_string();
    if name.starts_with('/') {
        return Err(BundleError::AbsolutePath { path });
    }
    if name.contains('\\') || name.contains('\0') {
        return Err(BundleError::InvalidName { path });
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(BundleError::PathEscapes { path }),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(BundleError::InvalidName { path });
    }
    Ok(parts.join("/"))
}

/// Refuses a file that is also used as a folder (`a` as a file and `a/b`), which could not be
/// written out faithfully.
fn check_conflicts(
    files: &BTreeMap<String, ArchiveFile>,
    folders: &[String],
) -> Result<(), BundleError> {
    for folder in folders {
        if files.contains_key(folder) {
            return Err(BundleError::Duplicate {
                path: folder.clone(),
            });
        }
    }
    for path in files.keys() {
        let mut prefix = path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if files.contains_key(parent) {
                return Err(BundleError::Duplicate {
                    path: parent.to_string(),
                });
            }
            prefix = parent;
        }
    }
    Ok(())
}

/// Strips a single top-level folder that wraps the whole bundle (see the module notes).
fn strip_wrapping_folder(files: BTreeMap<String, ArchiveFile>) -> BTreeMap<String, ArchiveFile> {
    let top = |path: &str| path.split('/').next().unwrap_or("").to_string();
    let at_root = files.keys().any(|p| {
        let t = top(p);
        p.contains('/') && (t == "schema" || t == "infrastructure")
    });
    let mut tops = files.keys().map(|p| top(p));
    let first = tops.next();
    let single = first.as_ref().is_some_and(|f| tops.all(|t| &t == f));
    let wrapped = files.keys().all(|p| p.contains('/'));
    if at_root || !single || !wrapped {
        return files;
    }
    let prefix_len = first.map_or(0, |f| f.len() + 1);
    files
        .into_iter()
        .map(|(path, file)| (path[prefix_len..].to_string(), file))
        .collect()
}

/// Packs a bundle folder into a `.tar.gz`, for `protond bundle push`.
///
/// Paths are relative to `dir`, entries are sorted, and owners, groups and times are zeroed, so
/// the same folder always packs to the same bytes. Modes are reduced to 0755 for folders and
/// executable files and 0644 for other files. Links and special files are refused.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>, BundleError> {
    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(encoder);
    add_folder(&mut builder, dir, "")?;
    let io = |source| BundleError::Io {
        path: dir.display().to_string(),
        source,
    };
    let encoder = builder.into_inner().map_err(io)?;
    encoder.finish().map_err(io)
}

fn add_folder<W: io::Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &str,
) -> Result<(), BundleError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| BundleError::Io { path, source }
    };
    let mut children = Vec::new();
    for child in std::fs::read_dir(dir).map_err(io(dir))? {
        children.push(child.map_err(io(dir))?.path());
    }
    children.sort();
    for child in children {
        let Some(name) = child.file_name().and_then(|n| n.to_str()) else {
            let path = child.display().to_string();
            return Err(BundleError::NonUtf8Name { path });
        };
        let rel = format!("{prefix}{name}");
        let meta = std::fs::symlink_metadata(&child).map_err(io(&child))?;
        if meta.file_type().is_symlink() {
            return Err(BundleError::Link { path: rel });
        }
        if meta.is_dir() {
            append(
                builder,
                &format!("{rel}/"),
                tar::EntryType::Directory,
                0o755,
                &[],
            )?;
            add_folder(builder, &child, &format!("{rel}/"))?;
        } else if meta.is_file() {
            let contents = std::fs::read(&child).map_err(io(&child))?;
            let mode = if is_executable(&meta) { 0o755 } else { 0o644 };
            append(builder, &rel, tar::EntryType::Regular, mode, &contents)?;
        } else {
            return Err(BundleError::SpecialFile { path: rel });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn append<W: io::Write>(
    builder: &mut tar::Builder<W>,
    path: &str,
    kind: tar::EntryType,
    mode: u32,
    contents: &[u8],
) -> Result<(), BundleError> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(contents.len() as u64);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    builder
        .append_data(&mut header, path, contents)
        .map_err(|source| BundleError::Io {
            path: path.to_string(),
            source,
        })
}
