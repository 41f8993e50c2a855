//! Who is calling: SigV4 verification, and the account and region of a request.
//!
//! With access keys configured, every request must carry a SigV4 `Authorization` header made
//! with one of them for the service `proton`: protond rebuilds the canonical request from what
//! arrived (the signed headers, the query, the body's hash), signs it again with the key's
//! secret, and compares the two signatures in constant time. The key decides the account.
//!
//! With no keys configured protond runs in local development mode: any well-formed
//! `Authorization` header is accepted without checking its signature, and so is an unsigned
//! request; every caller acts in one account. The server refuses to listen beyond loopback in
//! that mode.
//!
//! In both modes, the credentials protond gives a deployment's commands are verified for real,
//! and mark the request as coming from that deployment, which limits what it may do.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use protond_engine::credentials::{DeploymentKey, hex};
use protond_wire::{ErrorKind, ProtonError, RequestContext};
use sha2::{Digest, Sha256};

/// The SigV4 service name of Proton.
const SERVICE: &str = "proton";
/// How far a request's time may be from the server's, as in AWS.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Local development mode or verified keys.
    pub mode: AuthMode,
    /// The region of unsigned requests in local development mode.
    pub default_region: String,
    /// The installation's secret that deployment credentials derive from.
    pub deployment_secret: Arc<[u8]>,
    /// Signing keys already derived, shared by every request.
    pub signing_keys: Arc<SigningKeys>,
}

/// SigV4 signing keys by secret, day and region. A key takes four HMACs to derive and is the
/// same for every request of one secret on one day in one region, so it is derived once.
#[derive(Default)]
pub struct SigningKeys {
    derived: std::sync::Mutex<HashMap<SigningKeyId, Arc<[u8]>>>,
}

/// What a signing key is derived from: the secret, the day (`YYYYMMDD`) and the region.
type SigningKeyId = (Arc<str>, String, String);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets too.
        f.write_str("SigningKeys")
    }
}

impl SigningKeys {
    /// How many keys are kept; past that the cache starts afresh.
    const CAPACITY: usize = 4096;

    fn get(&self, secret: &str, time: SystemTime, day: &str, region: &str) -> Arc<[u8]> {
        let id = (Arc::from(secret), day.to_owned(), region.to_owned());
        if let Some(key) = self.derived.lock().expect("poisoned").get(&id) {
            return Arc::clone(key);
        }
        let key = aws_sigv4::sign::v4::generate_signing_key(secret, time, region, SERVICE);
        let key: Arc<[u8]> = Arc::from(key.as_ref());
        let mut derived = self.derived.lock().expect("poisoned");
        if derived.len() >= Self::CAPACITY {
            derived.clear();
        }
        derived.insert(id, Arc::clone(&key));
        key
    }
}

/// Whether signatures are checked.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// No keys configured: any well-formed signature, or none, acts in this account.
    Development {
        /// The account every caller acts in.
        account_id: String,
    },
    /// Only requests signed with one of these keys, by access key id, are accepted.
    Keys(HashMap<String, AccessKey>),
}

/// A configured access key.
#[derive(Clone)]
pub struct AccessKey {
    /// The secret that signs requests.
    pub secret_access_key: String,
    /// The account the key acts in.
    pub account_id: String,
    /// When set, requests must carry this session token in `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, even in a debug dump of the configuration.
        f.debug_struct("AccessKey")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

/// The request as far as authentication needs it.
pub struct Signed<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The query string, as sent, without `?`.
    pub query: &'a str,
    /// Every header.
    pub headers: &'a HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// The caller's identity, or the Proton error that refuses the request.
pub fn authenticate(
    config: &AuthConfig,
    request: &Signed<'_>,
    request_id: &str,
    now: SystemTime,
) -> Result<RequestContext, ProtonError> {
    let header = request.headers.get(http::header::AUTHORIZATION);
    let Some(header) = header else {
        return match &config.mode {
            AuthMode::Development { account_id } => Ok(context(
                request_id,
                account_id,
                &config.default_region,
                None,
            )),
            AuthMode::Keys(_) => Err(ProtonError::new(
                ErrorKind::MissingAuthenticationToken,
                "Missing Authentication Token: sign the request with SigV4.",
            )),
        };
    };
    let header = header.to_str().map_err(|_| incomplete("is not ASCII"))?;
    let auth = Authorization::parse(header)?;

    if let Some(key) = DeploymentKey::parse(auth.access_key_id) {
        let secret = key.secret_access_key(&config.deployment_secret);
        verify(config, &auth, request, &secret, None, now)?;
        if auth.region != key.region {
            return Err(invalid(
                "Credential should be scoped to the deployment's region.",
            ));
        }
        let mut ctx = context(request_id, &key.account_id, &key.region, Some(&auth));
        ctx.deployment_id = Some(key.deployment_id);
        return Ok(ctx);
    }
    match &config.mode {
        AuthMode::Development { account_id } => {
            Ok(context(request_id, account_id, auth.region, Some(&auth)))
        }
        AuthMode::Keys(keys) => {
            let key = keys.get(auth.access_key_id).ok_or_else(|| {
                ProtonError::new(
                    ErrorKind::UnrecognizedClient,
                    "The security token included in the request is invalid.",
                )
            })?;
            let token = key.session_token.as_deref();
            verify(config, &auth, request, &key.secret_access_key, token, now)?;
            Ok(context(
                request_id,
                &key.account_id,
                auth.region,
                Some(&auth),
            ))
        }
    }
}

fn context(
    request_id: &str,
    account_id: &str,
    region: &str,
    auth: Option<&Authorization<'_>>,
) -> RequestContext {
    RequestContext {
        request_id: request_id.to_owned(),
        account_id: account_id.to_owned(),
        region: region.to_owned(),
        access_key_id: auth.map(|a| a.access_key_id.to_owned()),
        deployment_id: None,
    }
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
/// Signature=...`.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Result<Authorization<'a>, ProtonError> {
        let rest = header
            .strip_prefix("AWS4-HMAC-SHA256 ")
            .ok_or_else(|| incomplete("does not start with AWS4-HMAC-SHA256"))?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            if let Some(value) = part.strip_prefix("Credential=") {
                credential = Some(value);
            } else if let Some(value) = part.strip_prefix("SignedHeaders=") {
                signed_headers = Some(value);
            } else if let Some(value) = part.strip_prefix("Signature=") {
                signature = Some(value);
            }
        }
        let credential = credential.ok_or_else(|| incomplete("has no Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| incomplete("has no SignedHeaders"))?;
        let signature = signature.ok_or_else(|| incomplete("has no Signature"))?;
        let parts: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = parts.as_slice() else {
            return Err(incomplete("has a malformed Credential scope"));
        };
        let well_formed = !access_key_id.is_empty()
            && date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && !signature.is_empty()
            && signature.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed {
            return Err(incomplete("has a malformed Credential or Signature"));
        }
        if *service != SERVICE {
            return Err(invalid(
                "Credential should be scoped to correct service: 'proton'.",
            ));
        }
        if !is_region(region) {
            return Err(invalid("Credential should be scoped to a valid region."));
        }
        Ok(Authorization {
            access_key_id,
            date,
            region,
            service,
            signed_headers: signed_headers.split(';').collect(),
            signature,
        })
    }
}

/// Checks the signature of `request` against the one made with `secret`.
fn verify(
    config: &AuthConfig,
    auth: &Authorization<'_>,
    request: &Signed<'_>,
    secret: &str,
    session_token: Option<&str>,
    now: SystemTime,
) -> Result<(), ProtonError> {
    let amz_date = header(request.headers, "x-amz-date")
        .ok_or_else(|| incomplete("needs an X-Amz-Date header"))?;
    let time = parse_amz_date(amz_date).ok_or_else(|| incomplete("has a malformed X-Amz-Date"))?;
    if !amz_date.starts_with(auth.date) {
        return Err(invalid(
            "The credential scope's date does not match X-Amz-Date.",
        ));
    }
    check_skew(time, now, amz_date)?;
    for required in ["host", "x-amz-date"] {
        if !auth.signed_headers.contains(&required) {
            return Err(incomplete(&format!("does not sign the {required} header")));
        }
    }
    check_session_token(request.headers, session_token, &auth.signed_headers)?;

    let body_hash = hex(&Sha256::digest(request.body));
    if let Some(claimed) = header(request.headers, "x-amz-content-sha256")
        && claimed != body_hash
        && claimed != "UNSIGNED-PAYLOAD"
    {
        return Err(invalid("The body does not match X-Amz-Content-Sha256."));
    }
    let canonical = canonical_request(auth, request, &body_hash)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = config
        .signing_keys
        .get(secret, time, auth.date, auth.region);
    let expected = aws_sigv4::sign::v4::calculate_signature(&key, string_to_sign.as_bytes());
    if constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(invalid(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.",
        ))
    }
}

fn check_skew(time: SystemTime, now: SystemTime, amz_date: &str) -> Result<(), ProtonError> {
    let skew = match now.duration_since(time) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew <= MAX_SKEW {
        return Ok(());
    }
    Err(ProtonError::new(
        ErrorKind::InvalidSignature,
        format!(
            "Signature expired: {amz_date} is more than 15 minutes away from the server's time \
             {}.",
            format_amz_date(now)
        ),
    ))
}

fn check_session_token(
    headers: &HeaderMap,
    expected: Option<&str>,
    signed: &[&str],
) -> Result<(), ProtonError> {
    let sent = header(headers, "x-amz-security-token");
    let matches = match (expected, sent) {
        (None, None) => true,
        (Some(expected), Some(sent)) => {
            constant_time_eq(expected.as_bytes(), sent.as_bytes())
                && signed.contains(&"x-amz-security-token")
        }
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(ProtonError::new(
            ErrorKind::UnrecognizedClient,
            "The security token included in the request is invalid.",
        ))
    }
}

/// The canonical request of SigV4, from what arrived.
fn canonical_request(
    auth: &Authorization<'_>,
    request: &Signed<'_>,
    body_hash: &str,
) -> Result<String, ProtonError> {
    let mut headers = String::new();
    for name in &auth.signed_headers {
        let values: Vec<String> = request
            .headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().map(collapse_spaces))
            .collect::<Result<_, _>>()
            .map_err(|_| incomplete("signs a header that is not ASCII"))?;
        if values.is_empty() {
            return Err(incomplete(&format!(
                "signs the header {name}, which is absent"
            )));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let mut query: Vec<&str> = request.query.split('&').filter(|p| !p.is_empty()).collect();
    query.sort_unstable();
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        if request.path.is_empty() {
            "/"
        } else {
            request.path
        },
        query.join("&"),
        headers,
        auth.signed_headers.join(";"),
        body_hash
    ))
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Compares without returning early, so the time taken says nothing about where two
/// signatures differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `YYYYMMDDTHHMMSSZ` as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 61;
    if !valid {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    let seconds = u64::try_from(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

fn format_amz_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days);
    let rest = seconds % 86_400;
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && region.len() <= 32
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
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

fn invalid(message: &str) -> ProtonError {
    ProtonError::new(ErrorKind::InvalidSignature, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        for text in ["20261204T160149Z", "20000229T000000Z", "19700101T000000Z"] {
            let time = parse_amz_date(text).unwrap();
            assert_eq!(format_amz_date(time), text);
        }
        assert!(parse_amz_date("2026-12-04T16:01:49Z").is_none());
    }

    #[test]
    fn regions_are_aws_shaped() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("useast1"));
        assert!(!is_region("US-EAST-1"));
    }
}
