//! The errors protond answers, in Proton's wire shape.
//!
//! Error policy: every failure on a request path is a [`ProtonError`], whose [`ErrorKind`] fixes
//! the error code and HTTP status through an exhaustive `match`, so adding a kind forces a
//! decision about both. Messages are written for the caller: they name the field, resource or
//! operation at fault and never carry secrets, signatures or spec contents. An unexpected
//! failure inside protond is [`ProtonError::internal`], whose message is deliberately generic;
//! its cause is logged once, at the HTTP boundary, and never sent to the client. Operations
//! protond does not implement yet answer a `ValidationException` naming the operation: every
//! Proton operation lists that error, so SDKs surface it as a typed, non-retried error rather
//! than retrying a 5xx.

use std::fmt;

/// The namespace of the errors the Proton model defines, used in `__type`.
pub const PROTON_NAMESPACE: &str = "com.amazonaws.proton.v20200720";

/// The result of anything that can fail with an error for the client.
pub type ProtonResult<T> = Result<T, ProtonError>;

/// An error answered to a Proton client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.code())]
pub struct ProtonError {
    kind: ErrorKind,
    message: String,
}

/// What went wrong, which fixes the error code and HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A constraint of the model or of Proton's rules was not met (`ValidationException`).
    Validation,
    /// The caller may not do this (`AccessDeniedException`).
    AccessDenied,
    /// The named resource does not exist (`ResourceNotFoundException`).
    ResourceNotFound,
    /// The resource's state forbids the request (`ConflictException`).
    Conflict,
    /// A quota would be exceeded (`ServiceQuotaExceededException`).
    ServiceQuotaExceeded,
    /// The caller sends too fast (`ThrottlingException`).
    Throttling,
    /// protond failed unexpectedly (`InternalServerException`).
    InternalServer,
    /// The operation exists in the model but protond does not implement it yet.
    NotImplemented,
    /// The body is not a JSON object of the expected types (`SerializationException`).
    Serialization,
    /// `X-Amz-Target` is missing or names no Proton operation (`UnknownOperationException`).
    UnknownOperation,
    /// The request carries no credentials (`MissingAuthenticationTokenException`).
    MissingAuthenticationToken,
    /// The access key is not known (`UnrecognizedClientException`).
    UnrecognizedClient,
    /// The signature does not match the request (`InvalidSignatureException`).
    InvalidSignature,
    /// The `Authorization` header lacks a part SigV4 requires (`IncompleteSignatureException`).
    IncompleteSignature,
    /// The request's date is outside the allowed clock skew (`RequestExpired`).
    RequestExpired,
    /// The body is larger than protond accepts (`RequestEntityTooLarge`).
    RequestEntityTooLarge,
    /// The client took too long to send the request (`RequestTimeout`).
    RequestTimeout,
}

impl ErrorKind {
    /// The error code, as written after `#` in `__type` and in `x-amzn-errortype`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Validation | ErrorKind::NotImplemented => "ValidationException",
            ErrorKind::AccessDenied => "AccessDeniedException",
            ErrorKind::ResourceNotFound => "ResourceNotFoundException",
            ErrorKind::Conflict => "ConflictException",
            ErrorKind::ServiceQuotaExceeded => "ServiceQuotaExceededException",
            ErrorKind::Throttling => "ThrottlingException",
            ErrorKind::InternalServer => "InternalServerException",
            ErrorKind::Serialization => "SerializationException",
            ErrorKind::UnknownOperation => "UnknownOperationException",
            ErrorKind::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorKind::UnrecognizedClient => "UnrecognizedClientException",
            ErrorKind::InvalidSignature => "InvalidSignatureException",
            ErrorKind::IncompleteSignature => "IncompleteSignatureException",
            ErrorKind::RequestExpired => "RequestExpired",
            ErrorKind::RequestEntityTooLarge => "RequestEntityTooLarge",
            ErrorKind::RequestTimeout => "RequestTimeout",
        }
    }

    /// The HTTP status code of the response.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::Validation | ErrorKind::NotImplemented => 400,
            ErrorKind::AccessDenied => 403,
            ErrorKind::ResourceNotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::ServiceQuotaExceeded => 402,
            ErrorKind::Throttling => 429,
            ErrorKind::InternalServer => 500,
            ErrorKind::Serialization | ErrorKind::UnknownOperation => 400,
            ErrorKind::MissingAuthenticationToken => 403,
            ErrorKind::UnrecognizedClient | ErrorKind::InvalidSignature => 403,
            ErrorKind::IncompleteSignature | ErrorKind::RequestExpired => 400,
            ErrorKind::RequestEntityTooLarge => 413,
            ErrorKind::RequestTimeout => 408,
        }
    }

    /// The namespace written before `#` in `__type`. DESIGN.md fixes Proton's namespace for
    /// every error, protocol and authentication errors included: the AWS SDKs read only the
    /// name after `#`, and one namespace keeps clients' string matching simple.
    pub fn namespace(self) -> &'static str {
        PROTON_NAMESPACE
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl ProtonError {
    /// An error of `kind` with a message for the caller.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProtonError {
            kind,
            message: message.into(),
        }
    }

    /// A `ValidationException`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Validation, message)
    }

    /// An `AccessDeniedException`.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AccessDenied, message)
    }

    /// A `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ResourceNotFound, message)
    }

    /// A `ConflictException`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// A `ServiceQuotaExceededException`.
    pub fn service_quota(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ServiceQuotaExceeded, message)
    }

    /// A `ThrottlingException`.
    pub fn throttling(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Throttling, message)
    }

    /// An `InternalServerException` with a generic message: the cause stays in protond's log.
    pub fn internal() -> Self {
        Self::new(
            ErrorKind::InternalServer,
            "protond failed to process the request",
        )
    }

    /// The answer to an operation protond does not implement yet, naming it.
    pub fn not_implemented(operation: &str) -> Self {
        Self::new(
            ErrorKind::NotImplemented,
            format!("protond does not implement {operation} yet"),
        )
    }

    /// A `SerializationException`: the body could not be read as the operation's input.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Serialization, message)
    }

    /// An `UnknownOperationException`.
    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UnknownOperation, message)
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message for the caller.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error code, for `x-amzn-errortype`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The `__type` of the body: `<namespace>#<code>`.
    pub fn type_name(&self) -> String {
        format!("{}#{}", self.kind.namespace(), self.kind.code())
    }

    /// The JSON response body: `{"__type": "...", "message": "..."}`.
    pub fn body(&self) -> Vec<u8> {
        let body = serde_json::json!({ "__type": self.type_name(), "message": self.message });
        serde_json::to_vec(&body).expect("a JSON object of strings always serializes")
    }
}
