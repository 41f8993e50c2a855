//! Feeds `protond_bundle::Bundle::from_archive` (gzip, tar, limits, layout, schema, manifest)
//! with `Limits::default()`, in three ways chosen by the input's first bytes:
//!
//! - a gzip stream (starts `1f 8b`): the input as it is, as an upload would arrive;
//! - `T` then bytes: those bytes gzipped, so hostile tar headers get past gzip's checksum;
//! - anything else: an archive built from entries the fuzzer chooses with `arbitrary` (names
//!   from bundle paths, `..`, `/` and raw bytes; every entry type; bundle files, junk or large
//!   contents), written header by header so that hostile names reach the reader unchecked.
//!
//! Checked beyond "does not panic": an accepted bundle's `infrastructure/` paths are clean and
//! relative (no `..`, no empty or `.` part, not absolute), so writing them cannot escape.

#![no_main]

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use protond_bundle::{Bundle, Limits};

fuzz_target!(|data: &[u8]| {
    let archive = match data {
        [0x1f, 0x8b, ..] => data.to_vec(),
        [b'T', tar @ ..] => gzip(tar),
        _ => match Vec::<Entry>::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(entries) => gzip(&build_tar(&entries)),
            Err(_) => return,
        },
    };
    let Ok(bundle) = Bundle::from_archive(&archive, &Limits::default()) else {
        return;
    };
    for path in bundle.infrastructure.keys() {
        let clean = !path.is_empty()
            && !path.starts_with('/')
            && !path.contains('\\')
            && !path.contains('\0')
            && path.split('/').all(|part| !matches!(part, "" | "." | ".."));
        assert!(clean, "accepted infrastructure path {path:?}");
    }
    let _ = bundle.template_files();
});

/// One tar entry as the fuzzer describes it.
#[derive(Arbitrary, Debug)]
struct Entry {
    name: Name,
    kind: Kind,
    mode: u32,
    contents: Contents,
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// A bundle path, optionally inside a wrapping folder.
    Known { path: KnownPath, wrapped: bool },
    /// Parts joined by `/`.
    Parts(Vec<Part>),
    /// Any bytes, longer than a header's 100 bytes included.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum KnownPath {
    Schema,
    Manifest,
    CloudFormation,
    MainTf,
    Script,
    SchemaFolder,
    InfrastructureFolder,
}

#[derive(Arbitrary, Debug)]
enum Part {
    Schema,
    Infrastructure,
    Dot,
    DotDot,
    Empty,
    Text(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Regular,
    Directory,
    Symlink,
    HardLink,
    Char,
    Block,
    Fifo,
    Contiguous,
    GnuSparse,
    GnuLongName,
    Pax,
    Other(u8),
}

#[derive(Arbitrary, Debug)]
enum Contents {
    Empty,
    Schema,
    CloudFormationManifest,
    TerraformManifest,
    CodeBuildManifest,
    Template,
    Bytes(Vec<u8>),
    /// `n * 1024` zero bytes, to reach the size limits.
    Zeros(u16),
    /// Real contents but a header declaring another size.
    Lying {
        size: u64,
        bytes: Vec<u8>,
    },
}

const SCHEMA: &str = "\
schema:
  format:
    openapi: \"3.0.0\"
  environment_input_type: \"Input\"
  types:
    Input:
      type: object
      properties:
        name:
          type: string
          default: x
          pattern: \"^[a-z]+$\"
        count:
          type: integer
          minimum: 1
";

const CFN_MANIFEST: &str = "\
infrastructure:
  templates:
    - file: \"cloudformation.yaml\"
      rendering_engine: jinja
      template_language: cloudformation
";

const TF_MANIFEST: &str = "\
infrastructure:
  templates:
    - file: \"*\"
      rendering_engine: hcl
      template_language: terraform
";

const CODEBUILD_MANIFEST: &str = "\
infrastructure:
  templates:
    - rendering_engine: codebuild
      settings:
        image: aws/codebuild/amazonlinux2-x86_64-standard:5.0
        provision:
          - sh ./provision.sh
        deprovision:
          - sh ./deprovision.sh
";

const TEMPLATE: &str = "Resources:\n  Q:\n    Type: AWS::SQS::Queue # {{ environment.name }}\n";

impl Name {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Known { path, wrapped } => {
                let path = match path {
                    KnownPath::Schema => "schema/schema.yaml",
                    KnownPath::Manifest => "infrastructure/manifest.yaml",
                    KnownPath::CloudFormation => "infrastructure/cloudformation.yaml",
                    KnownPath::MainTf => "infrastructure/main.tf",
                    KnownPath::Script => "infrastructure/provision.sh",
                    KnownPath::SchemaFolder => "schema/",
                    KnownPath::InfrastructureFolder => "infrastructure/",
                };
                let prefix = if *wrapped { "v1/" } else { "" };
                format!("{prefix}{path}").into_bytes()
            }
            Name::Parts(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Schema => "schema",
                    Part::Infrastructure => "infrastructure",
                    Part::Dot => ".",
                    Part::DotDot => "..",
                    Part::Empty => "",
                    Part::Text(text) => text,
                })
                .collect::<Vec<_>>()
                .join("/")
                .into_bytes(),
            Name::Raw(bytes) => bytes.clone(),
        }
    }
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Regular => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Directory => b'5',
            Kind::Fifo => b'6',
            Kind::Contiguous => b'7',
            Kind::GnuSparse => b'S',
            Kind::GnuLongName => b'L',
            Kind::Pax => b'x',
            Kind::Other(byte) => byte,
        }
    }
}

impl Contents {
    /// The bytes written and the size the header declares.
    fn bytes(&self) -> (Vec<u8>, u64) {
        let text = |s: &str| (s.as_bytes().to_vec(), s.len() as u64);
        match self {
            Contents::Empty => (Vec::new(), 0),
            Contents::Schema => text(SCHEMA),
            Contents::CloudFormationManifest => text(CFN_MANIFEST),
            Contents::TerraformManifest => text(TF_MANIFEST),
            Contents::CodeBuildManifest => text(CODEBUILD_MANIFEST),
            Contents::Template => text(TEMPLATE),
            Contents::Bytes(bytes) => (bytes.clone(), bytes.len() as u64),
            Contents::Zeros(kib) => {
                let len = usize::from(*kib % 512) * 1024;
                (vec![0; len], len as u64)
            }
            Contents::Lying { size, bytes } => (bytes.clone(), *size),
        }
    }
}

/// Writes the entries as a tar stream without any of the checks `tar::Builder` applies to
/// paths, so that names such as `../x` or `/etc/x` reach the reader.
fn build_tar(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries.iter().take(64) {
        let name = entry.name.bytes();
        if name.len() > 100 {
            // A GNU long name: a `././@LongLink` entry holding the name, then the entry.
            let mut long = name.clone();
            long.push(0);
            write_entry(
                &mut out,
                b"././@LongLink",
                b'L',
                0o644,
                &long,
                long.len() as u64,
            );
        }
        let (contents, size) = entry.contents.bytes();
        let short = &name[..name.len().min(100)];
        write_entry(
            &mut out,
            short,
            entry.kind.byte(),
            entry.mode,
            &contents,
            size,
        );
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn write_entry(out: &mut Vec<u8>, name: &[u8], kind: u8, mode: u32, data: &[u8], size: u64) {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_mode(mode & 0o7777);
    header.set_size(size);
    header.set_mtime(0);
    if matches!(kind, b'1' | b'2') {
        header.as_old_mut().linkname[..10].copy_from_slice(b"../outside");
    }
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder
        .write_all(bytes)
        .expect("writing to memory succeeds");
    encoder.finish().expect("writing to memory succeeds")
}
