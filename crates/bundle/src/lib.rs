//! Proton template bundles: everything protond does with a bundle before a provisioner runs.
//!
//! A bundle arrives as a gzipped tar (from the local object store or S3). This crate unpacks it
//! in memory with Proton's limits enforced while reading ([`archive`]), parses its
//! `infrastructure/manifest.yaml` ([`manifest`]) and `schema/schema.yaml` ([`schema`]), checks a
//! spec against the schema ([`spec`]), and produces the files a provisioner needs: rendered
//! CloudFormation, Terraform variable files, or the CodeBuild input file ([`render`],
//! [`inputs`]). It also keeps bundles in a folder-backed object store ([`object_store`]).
//!
//! It must not touch the API, the database or any process: it takes bytes and text and returns
//! values or errors whose messages are fit for a resource's `statusMessage`.

pub mod archive;
pub mod bundle;
pub mod error;
mod filters;
pub mod inputs;
pub mod limits;
pub mod manifest;
pub mod object_store;
pub mod render;
pub mod schema;
pub mod spec;

pub use archive::pack_dir;
pub use bundle::{Bundle, InfrastructureFile};
pub use error::BundleError;
pub use inputs::{
    HCL_INPUTS_FILE, JSON_INPUTS_FILE, TFVARS_FILE, VARIABLES_FILE, proton_inputs_hcl,
    proton_inputs_json, terraform_tfvars_json, terraform_variables_tf,
};
pub use limits::Limits;
pub use manifest::{CodeBuildSettings, InputType, Manifest, Provisioning};
pub use object_store::{LocalObjectStore, ObjectStoreError};
pub use render::{RenderContext, RenderError, RenderLimits, RenderedFile, render};
pub use schema::{Schema, SchemaError};
pub use spec::{Spec, SpecError, parse_spec};
