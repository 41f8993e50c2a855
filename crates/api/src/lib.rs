//! The Proton operations, and the HTTP front door that serves them.
//!
//! A request goes: [`server`] reads the HTTP request and answers it; [`auth`] finds the
//! caller's account and region; `protond_wire` decodes and validates the input and dispatches
//! to [`service::Proton`], whose operations in [`ops`] each read as steps (parse, load, decide,
//! write, schedule, respond). Deployments are only queued here; the engine runs them.

pub mod arn;
pub mod auth;
pub mod failure;
pub mod ops;
pub mod paging;
pub mod server;
pub mod service;

pub use auth::AuthConfig;
pub use server::{ServerConfig, serve};
pub use service::Proton;
