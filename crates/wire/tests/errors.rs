//! Errors carry the codes, statuses and bodies AWS clients parse.

use protond_wire::{ErrorKind, ProtonError};
use serde_json::{Value, json};

#[test]
fn model_errors_use_the_proton_namespace_and_statuses() {
    let cases = [
        (ProtonError::validation("bad"), "ValidationException", 400),
        (
            ProtonError::access_denied("no"),
            "AccessDeniedException",
            403,
        ),
        (
            ProtonError::not_found("gone"),
            "ResourceNotFoundException",
            404,
        ),
        (ProtonError::conflict("busy"), "ConflictException", 409),
        (
            ProtonError::service_quota("full"),
            "ServiceQuotaExceededException",
            402,
        ),
        (
            ProtonError::throttling("slow down"),
            "ThrottlingException",
            429,
        ),
        (ProtonError::internal(), "InternalServerException", 500),
    ];
    for (err, code, status) in cases {
        assert_eq!((err.code(), err.status()), (code, status));
        let body: Value = serde_json::from_slice(&err.body()).unwrap();
        assert_eq!(
            body["__type"],
            format!("com.amazonaws.proton.v20200720#{code}")
        );
        assert_eq!(body["message"], err.message());
    }
}

#[test]
fn protocol_errors_use_protons_namespace_too() {
    let err = ProtonError::new(ErrorKind::UnrecognizedClient, "unknown key");
    assert_eq!(err.status(), 403);
    assert_eq!(
        err.type_name(),
        "com.amazonaws.proton.v20200720#UnrecognizedClientException"
    );
    let err = ProtonError::serialization("bad json");
    assert_eq!(
        err.type_name(),
        "com.amazonaws.proton.v20200720#SerializationException"
    );
    assert_eq!(
        ProtonError::new(ErrorKind::RequestEntityTooLarge, "big").status(),
        413
    );
}

#[test]
fn internal_errors_hide_their_cause() {
    assert_eq!(
        ProtonError::internal().message(),
        "protond failed to process the request"
    );
}

#[test]
fn messages_are_escaped_in_the_body() {
    let err = ProtonError::conflict("quote \" and newline \n");
    let body: Value = serde_json::from_slice(&err.body()).unwrap();
    assert_eq!(
        body,
        json!({"__type": err.type_name(), "message": "quote \" and newline \n"})
    );
}
