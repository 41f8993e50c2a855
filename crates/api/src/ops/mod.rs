//! The operations protond implements, one module per resource.

pub mod deployments;
pub mod environments;
pub mod tags;
pub mod template_versions;
pub mod templates;

use protond_engine::records::{self, Entity, Stored};
use protond_store::{ListQuery, Store, StoreError, Write};
use protond_wire::{ErrorKind, ProtonError, RequestContext};

use crate::failure::{OrInternal, internal};
use crate::paging;

/// The message of a conflict that only means another writer came first.
const RACE_MESSAGE: &str =
    "The resource was changed by another request while this one ran. Try again.";

/// Runs an operation again when it lost a race with another writer (the engine ending a
/// deployment, say), so that callers only see conflicts that mean something. Every attempt
/// reads afresh, and a lost race wrote nothing.
pub async fn retrying<T, F, Fut>(mut operation: F) -> Result<T, ProtonError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProtonError>>,
{
    let mut attempts = 0;
    loop {
        match operation().await {
            Err(e) if e.message() == RACE_MESSAGE && attempts < 5 => attempts += 1,
            result => return result,
        }
    }
}

/// Commits `writes`; an expectation that no longer holds means someone else changed the same
/// resource meanwhile, which the caller may retry.
pub async fn commit(
    store: &dyn Store,
    ctx: &RequestContext,
    writes: Vec<Write>,
) -> Result<(), ProtonError> {
    match store.commit(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::Conflict(_)) => Err(ProtonError::conflict(RACE_MESSAGE)),
        Err(e) => Err(internal(ctx, &e)),
    }
}

/// Reads a record of the caller's account, or answers ResourceNotFound with `missing`.
pub async fn require<T: Entity>(
    store: &dyn Store,
    ctx: &RequestContext,
    key: &str,
    missing: impl FnOnce() -> String,
) -> Result<Stored<T>, ProtonError> {
    records::load::<T>(store, &ctx.partition(), key)
        .await
        .or_internal(ctx)?
        .ok_or_else(|| ProtonError::not_found(missing()))
}

/// One page of records of kind `T`, keeping those `keep` accepts, and the token of the next
/// page. Records `keep` refuses do not count toward the page, so a filtered page is still full
/// when more matches exist.
pub async fn page<T: Entity>(
    store: &dyn Store,
    ctx: &RequestContext,
    parent: Option<String>,
    descending: bool,
    next_token: Option<&str>,
    max_results: Option<i32>,
    keep: impl Fn(&T) -> bool,
) -> Result<(Vec<T>, Option<String>), ProtonError> {
    let size = paging::size(max_results) as usize;
    let mut after = paging::key(next_token)?;
    let mut found = Vec::new();
    // The first read asks for one record more than a page, which settles whether another page
    // exists when nothing is filtered out; later reads, needed only when a filter dropped
    // records, read larger batches.
    let mut limit = size + 1;
    loop {
        let query = ListQuery {
            parent: parent.clone(),
            after: after.clone(),
            descending,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        };
        let batch = store
            .list(&ctx.partition(), T::KIND, &query)
            .await
            .or_internal(ctx)?;
        let exhausted = batch.len() < limit;
        for (index, record) in batch.iter().enumerate() {
            let item = records::decode::<T>(record).or_internal(ctx)?.value;
            after = Some(record.key.clone());
            if keep(&item) {
                found.push(item);
                if found.len() == size {
                    let more = !exhausted || index + 1 < batch.len();
                    let token = more.then(|| paging::token(&record.key));
                    return Ok((found, token));
                }
            }
        }
        if exhausted {
            return Ok((found, None));
        }
        limit = 500;
    }
}

/// Words a conflict on a create as the resource already existing.
pub fn already_exists(error: ProtonError, message: impl FnOnce() -> String) -> ProtonError {
    match error.kind() {
        ErrorKind::Conflict => ProtonError::conflict(message()),
        _ => error,
    }
}

/// A request as canonical JSON, to tell a retry (the same request) from a different one.
pub fn canonical<T: serde::Serialize>(request: &T) -> String {
    serde_json::to_string(request).expect("inputs always serialize")
}

/// The answer to a create whose resource exists, as Proton's idempotency rules give it: the
/// same request again returns the resource unless it changed since; a different request is an
/// `IdempotentParameterMismatch`.
pub fn replayed_create(what: &str, same_request: bool, modified: bool) -> Result<(), ProtonError> {
    match (same_request, modified) {
        (true, false) => Ok(()),
        (true, true) => Err(ProtonError::conflict(format!(
            "{what} already exists and was changed after it was created."
        ))),
        (false, _) => Err(ProtonError::validation(format!(
            "IdempotentParameterMismatch: {what} already exists with different parameters."
        ))),
    }
}
