//! Archives built to hurt: each is refused quickly, with a message naming the file.

mod common;

use std::time::{Duration, Instant};

use common::{RawTar, valid_bundle};
use protond_bundle::{Bundle, BundleError, Limits};
use tar::EntryType;

/// Loads `archive` with `limits`, expecting a refusal within a second; returns its message.
fn refuse_with(archive: &[u8], limits: &Limits) -> String {
    let start = Instant::now();
    let error = Bundle::from_archive(archive, limits).expect_err("archive must be refused");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "took {:?}",
        start.elapsed()
    );
    error.to_string()
}

fn refuse(archive: &[u8]) -> String {
    refuse_with(archive, &Limits::default())
}

#[test]
fn valid_minimal_bundle_loads() {
    Bundle::from_archive(&valid_bundle().gzip(), &Limits::default()).unwrap();
}

#[test]
fn dot_dot_path_is_refused() {
    let archive = valid_bundle()
        .file("infrastructure/../../etc/passwd", b"x")
        .gzip();
    assert_eq!(
        refuse(&archive),
        "infrastructure/../../etc/passwd: path escapes the bundle"
    );
}

#[test]
fn absolute_path_is_refused() {
    let archive = valid_bundle().file("/etc/cron.d/evil", b"x").gzip();
    assert_eq!(
        refuse(&archive),
        "/etc/cron.d/evil: absolute paths are not allowed"
    );
}

#[test]
fn symlink_is_refused() {
    let archive = valid_bundle().link("infrastructure/key", EntryType::Symlink, "/etc/shadow");
    assert_eq!(
        refuse(&archive.gzip()),
        "infrastructure/key: links are not allowed in a bundle"
    );
}

#[test]
fn hard_link_is_refused() {
    let archive = valid_bundle().link("infrastructure/copy", EntryType::Link, "schema/schema.yaml");
    assert_eq!(
        refuse(&archive.gzip()),
        "infrastructure/copy: links are not allowed in a bundle"
    );
}

#[test]
fn device_and_fifo_entries_are_refused() {
    for kind in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let archive = valid_bundle().entry("infrastructure/dev", kind, b"").gzip();
        let message = refuse(&archive);
        assert_eq!(
            message,
            "infrastructure/dev: only regular files and folders are allowed in a bundle"
        );
    }
}

#[test]
fn non_utf8_name_is_refused() {
    let mut tar = valid_bundle();
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..5].copy_from_slice(b"a\xffb.t");
    header.set_size(0);
    header.set_cksum();
    tar.data(header.as_bytes());
    let message = refuse(&tar.gzip());
    assert!(
        message.ends_with("file name is not valid UTF-8"),
        "{message}"
    );
}

#[test]
fn duplicate_file_is_refused() {
    let archive = valid_bundle()
        .file("./infrastructure/cloudformation.yaml", b"again")
        .gzip();
    let message = refuse(&archive);
    assert_eq!(
        message,
        "infrastructure/cloudformation.yaml: appears more than once in the bundle"
    );
}

#[test]
fn eleventh_template_file_is_refused() {
    let mut archive = valid_bundle();
    for i in 1..=10 {
        archive = archive.file(&format!("infrastructure/extra{i:02}.yaml"), b"x");
    }
    let message = refuse(&archive.gzip());
    assert_eq!(
        message,
        "infrastructure/extra10.yaml: infrastructure/ holds more than 10 template files"
    );
}

#[test]
fn oversized_file_is_refused() {
    let big = vec![b'a'; 200 * 1024 + 1];
    let archive = valid_bundle().file("infrastructure/big.yaml", &big).gzip();
    assert_eq!(
        refuse(&archive),
        "infrastructure/big.yaml: file is larger than the limit of 204800 bytes"
    );
}

#[test]
fn oversized_manifest_is_refused_at_its_own_limit() {
    let mut manifest = common::MANIFEST.as_bytes().to_vec();
    manifest.extend(std::iter::repeat_n(b'#', 60 * 1024));
    let archive = RawTar::new()
        .file("schema/schema.yaml", common::SCHEMA.as_bytes())
        .file("infrastructure/manifest.yaml", &manifest)
        .gzip();
    let message = refuse(&archive);
    assert_eq!(
        message,
        "infrastructure/manifest.yaml: file is larger than the limit of 51200 bytes"
    );
}

#[test]
fn oversized_archive_is_refused_before_reading() {
    let archive = vec![0u8; 5 * 1024 * 1024 + 1];
    assert!(refuse(&archive).starts_with("bundle archive is 5242881 bytes"));
}

/// A gigabyte entry of zeros compresses to about a megabyte; the header alone refuses it.
#[test]
fn gzip_bomb_entry_is_refused_from_its_header() {
    let mut tar = valid_bundle();
    let size = 1 << 30;
    tar.header("infrastructure/bomb.yaml", EntryType::Regular, size, None);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &tar_bytes(tar)).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        std::io::Write::write_all(&mut encoder, &zeros).unwrap();
    }
    let archive = encoder.finish().unwrap();
    assert!(archive.len() < 1 << 20);
    let message = refuse(&archive);
    assert_eq!(
        message,
        "infrastructure/bomb.yaml: file is larger than the limit of 204800 bytes"
    );
}

fn tar_bytes(tar: RawTar) -> Vec<u8> {
    let gz = tar.gzip();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
    out.truncate(out.len() - 1024);
    out
}

/// Many files each under the per-file limit still stop at the unpacked total.
#[test]
fn many_small_files_stop_at_the_unpacked_total() {
    let limits = Limits {
        max_unpacked_bytes: 1024 * 1024,
        ..Limits::default()
    };
    let mut archive = valid_bundle();
    let chunk = vec![0u8; 150 * 1024];
    for i in 0..10 {
        archive = archive.file(&format!("other/part{i}"), &chunk);
    }
    let message = refuse_with(&archive.gzip(), &limits);
    assert_eq!(
        message,
        "other/part6: bundle unpacks to more than the limit of 1048576 bytes"
    );
}

/// A GNU long-name record is inflated by tar itself; the bounded reader stops it.
#[test]
fn long_name_bomb_stops_at_the_unpacked_total() {
    let mut tar = valid_bundle();
    let size = 200 << 20;
    tar.header("././@LongLink", EntryType::GNULongName, size, None);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &tar_bytes(tar)).unwrap();
    let name = vec![b'a'; 1 << 20];
    for _ in 0..200 {
        std::io::Write::write_all(&mut encoder, &name).unwrap();
    }
    let message = refuse(&encoder.finish().unwrap());
    assert!(
        message.ends_with("bundle unpacks to more than the limit of 52428800 bytes"),
        "{message}"
    );
}

#[test]
fn many_empty_entries_stop_at_the_entry_limit() {
    let mut archive = valid_bundle();
    for i in 0..2000 {
        archive = archive.entry(&format!("other/d{i}/"), EntryType::Directory, b"");
    }
    let message = refuse(&archive.gzip());
    assert_eq!(message, "other/d997: bundle has more than 1000 entries");
}

#[test]
fn missing_schema_is_refused() {
    let archive = RawTar::new()
        .file("infrastructure/manifest.yaml", common::MANIFEST.as_bytes())
        .file("infrastructure/cloudformation.yaml", b"x")
        .gzip();
    assert_eq!(
        refuse(&archive),
        "schema/schema.yaml: missing from the bundle"
    );
}

#[test]
fn garbage_is_not_an_archive() {
    let message = refuse(b"this is not gzip");
    assert!(
        message.starts_with("bundle is not a valid gzipped tar archive"),
        "{message}"
    );
}

#[test]
fn errors_are_typed() {
    let archive = valid_bundle()
        .link("infrastructure/key", EntryType::Symlink, "/x")
        .gzip();
    let error = Bundle::from_archive(&archive, &Limits::default()).unwrap_err();
    assert!(matches!(error, BundleError::Link { path } if path == "infrastructure/key"));
}
