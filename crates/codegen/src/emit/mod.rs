//! One emitter per generated file. Each returns unformatted Rust; `crate::generate` formats it.

pub mod operations;
pub mod service;
pub mod shapes;
pub mod types;
