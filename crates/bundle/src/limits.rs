//! The sizes a bundle may reach. Defaults are Proton's published quotas where it has one, and a
//! deliberate bound of our own where it does not (unpacked total, entry count).

/// Bounds enforced while a bundle is read. Every limit is checked as soon as the data that
/// could exceed it is seen, so an oversized or compression-bomb archive costs little to refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest compressed archive accepted, in bytes (Proton: 5 MB).
    pub max_archive_bytes: u64,
    /// Largest total of all entries once inflated, in bytes. Proton states no figure; 50 MB is
    /// ten times the compressed limit and far above what the per-file limits allow in practice.
    pub max_unpacked_bytes: u64,
    /// Most entries (files and folders) read from the archive before giving up.
    pub max_entries: usize,
    /// Most template files in `infrastructure/`, not counting the manifest (Proton: 10).
    pub max_template_files: usize,
    /// Largest `infrastructure/manifest.yaml`, in bytes (Proton: 50 KB).
    pub max_manifest_bytes: u64,
    /// Largest `schema/schema.yaml`, in bytes (Proton: 50 KB).
    pub max_schema_bytes: u64,
    /// Largest of any other file, in bytes (Proton: 200 KB).
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_archive_bytes: 5 * 1024 * 1024,
            max_unpacked_bytes: 50 * 1024 * 1024,
            max_entries: 1000,
            max_template_files: 10,
            max_manifest_bytes: 50 * 1024,
            max_schema_bytes: 50 * 1024,
            max_file_bytes: 200 * 1024,
        }
    }
}
