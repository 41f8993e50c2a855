//! Errors from below the operations, turned into Proton errors.
//!
//! The policy: a client's mistake is always a 4xx named by the operation that found it; a
//! failure of protond itself (the store, a corrupt record) becomes InternalServerException with
//! a generic message, and its cause is logged here, once, with the request id. Nothing else
//! logs the same failure again.

use protond_engine::records::RecordError;
use protond_store::StoreError;
use protond_wire::{ProtonError, RequestContext};
use tracing::error;

/// Turns a storage failure into the 500 a client sees, logging why.
pub fn internal(ctx: &RequestContext, cause: &dyn std::fmt::Display) -> ProtonError {
    error!(request_id = %ctx.request_id, error = %cause, "request failed inside protond");
    ProtonError::internal()
}

/// Extension for results from the store and the records, so that handlers read as steps.
pub trait OrInternal<T> {
    /// Maps any error to InternalServerException, logging its cause.
    fn or_internal(self, ctx: &RequestContext) -> Result<T, ProtonError>;
}

impl<T> OrInternal<T> for Result<T, RecordError> {
    fn or_internal(self, ctx: &RequestContext) -> Result<T, ProtonError> {
        self.map_err(|e| internal(ctx, &e))
    }
}

impl<T> OrInternal<T> for Result<T, StoreError> {
    fn or_internal(self, ctx: &RequestContext) -> Result<T, ProtonError> {
        self.map_err(|e| internal(ctx, &e))
    }
}
