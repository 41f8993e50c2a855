//! Helpers shared by the bundle tests: where the real bundles live, and a builder for
//! archives with arbitrary (hostile) entries.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// The public sample bundles, kept outside the repository; `None` (with a note) when absent.
pub fn real_bundles() -> Option<PathBuf> {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/real-bundles");
    if root.is_dir() {
        Some(root)
    } else {
        eprintln!(
            "note: {} is absent; skipping real-bundle checks",
            root.display()
        );
        None
    }
}

/// A fixture folder of this crate.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Builds a tar entry by entry, writing names verbatim so tests can produce what a careful
/// tar writer would refuse to.
pub struct RawTar {
    tar: Vec<u8>,
}

impl RawTar {
    pub fn new() -> Self {
        RawTar { tar: Vec::new() }
    }

    pub fn entry(mut self, name: &str, kind: tar::EntryType, data: &[u8]) -> Self {
        self.header(name, kind, data.len() as u64, None);
        self.data(data);
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.entry(name, tar::EntryType::Regular, data)
    }

    pub fn link(mut self, name: &str, kind: tar::EntryType, target: &str) -> Self {
        self.header(name, kind, 0, Some(target));
        self
    }

    /// Writes a header only; the caller supplies `size` bytes of data next.
    pub fn header(&mut self, name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        self.tar.extend_from_slice(header.as_bytes());
    }

    pub fn data(&mut self, data: &[u8]) {
        self.tar.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.tar.extend(std::iter::repeat_n(0u8, pad));
    }

    pub fn gzip(mut self) -> Vec<u8> {
        self.tar.extend(std::iter::repeat_n(0u8, 1024));
        gzip(&self.tar)
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

pub const SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  \
    environment_input_type: \"Input\"\n  types:\n    Input:\n      type: object\n      \
    properties:\n        name:\n          type: string\n";

pub const MANIFEST: &str = "infrastructure:\n  templates:\n    \
    - file: \"cloudformation.yaml\"\n      \
    rendering_engine: jinja\n      template_language: cloudformation\n";

/// A minimal valid bundle as entries, to which a test adds one hostile entry.
pub fn valid_bundle() -> RawTar {
    RawTar::new()
        .file("schema/schema.yaml", SCHEMA.as_bytes())
        .file("infrastructure/manifest.yaml", MANIFEST.as_bytes())
        .file(
            "infrastructure/cloudformation.yaml",
            b"Name: '{{ environment.name }}'\n",
        )
}
