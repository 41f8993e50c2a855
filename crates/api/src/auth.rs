//! Who is calling: the account and region of a request.
//!
//! This is the local development mode that DESIGN.md describes: with no access keys
//! configured, any well-formed SigV4 `Authorization` header is accepted without checking its
//! signature, and an unsigned request is accepted too (a `curl` on a laptop). Every caller then
//! acts in one account. The server refuses to listen beyond loopback in this mode, so only
//! local users can reach it.

use http::HeaderMap;
use protond_wire::{ErrorKind, ProtonError, RequestContext};

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The account every caller acts in.
    pub account_id: String,
    /// The region of unsigned requests.
    pub default_region: String,
}

/// The caller's identity, from the `Authorization` header.
pub fn authenticate(
    config: &AuthConfig,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<RequestContext, ProtonError> {
    let mut ctx = RequestContext {
        request_id: request_id.to_owned(),
        account_id: config.account_id.clone(),
        region: config.default_region.clone(),
        access_key_id: None,
    };
    let Some(header) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(ctx);
    };
    let header = header.to_str().map_err(|_| incomplete("is not ASCII"))?;
    let scope = credential_scope(header)?;
    ctx.access_key_id = Some(scope.access_key.to_owned());
    ctx.region = scope.region.to_owned();
    Ok(ctx)
}

/// The parts of a SigV4 credential: `AKID/DATE/REGION/SERVICE/aws4_request`.
struct Scope<'a> {
    access_key: &'a str,
    region: &'a str,
}

fn credential_scope(header: &str) -> Result<Scope<'_>, ProtonError> {
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("does not start with AWS4-HMAC-SHA256"))?;
    let mut credential = None;
    let mut signed_headers = false;
    let mut signature = false;
    for part in rest.split(',').map(str::trim) {
        if let Some(value) = part.strip_prefix("Credential=") {
            credential = Some(value);
        } else if part.starts_with("SignedHeaders=") {
            signed_headers = true;
        } else if part.starts_with("Signature=") {
            signature = true;
        }
    }
    let credential = credential.ok_or_else(|| incomplete("has no Credential"))?;
    if !signed_headers || !signature {
        return Err(incomplete("lacks SignedHeaders or Signature"));
    }
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [access_key, date, region, _service, "aws4_request"]
            if !access_key.is_empty() && date.len() == 8 && is_region(region) =>
        {
            Ok(Scope { access_key, region })
        }
        _ => Err(incomplete("has a malformed Credential scope")),
    }
}

fn is_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn incomplete(why: &str) -> ProtonError {
    ProtonError::new(
        ErrorKind::IncompleteSignature,
        format!("The Authorization header {why}."),
    )
}
