//! Pagination tokens: the key of the last record on a page, base64-encoded so that it fits the
//! model's `NextToken` pattern. A token only ever names a position, never grants access: the
//! next page is still read within the caller's account.

use protond_engine::records::base64_bytes;
use protond_wire::ProtonError;

/// The page size when the caller gives none.
pub const DEFAULT_PAGE: u32 = 100;

/// The token for the page after the one ending at `last_key`.
pub fn token(last_key: &str) -> String {
    base64_bytes::encode(last_key.as_bytes())
}

/// The key a token names.
pub fn key(token: Option<&str>) -> Result<Option<String>, ProtonError> {
    let Some(token) = token else { return Ok(None) };
    base64_bytes::decode(token)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Some)
        .ok_or_else(|| ProtonError::validation("The nextToken is not valid."))
}

/// The page size for `max_results`.
pub fn size(max_results: Option<i32>) -> u32 {
    max_results
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_PAGE)
}
