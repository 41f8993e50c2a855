//! The Proton wire protocol (awsJson1_0, target prefix `AwsProton20200720`).
//!
//! This crate owns what travels on the wire and nothing else: the request and response types
//! generated from the vendored Proton model, the list of operations, the [`ProtonService`]
//! trait with its [`dispatch`]er, request decoding and validation against the model's
//! constraints, and the error shapes Proton answers. It holds no storage and no business
//! logic, and knows nothing of HTTP servers: the api crate feeds it headers and bytes.

mod context;
mod decode;
mod error;
pub mod generated;
pub mod shape;
mod timestamp;
mod validate;

pub use context::RequestContext;
pub use decode::{MAX_DEPTH, decode_request};
pub use error::{ErrorKind, PROTON_NAMESPACE, ProtonError, ProtonResult};
pub use generated::operations::{Operation, TARGET_PREFIX};
pub use generated::service::{ProtonService, dispatch};
pub use generated::types::*;
pub use timestamp::Timestamp;
pub use validate::validate;
