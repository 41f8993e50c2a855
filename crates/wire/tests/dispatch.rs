//! `dispatch` routes decoded requests to the service, and unbuilt operations say so.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use protond_wire::{
    ErrorKind, GetEnvironmentInput, GetEnvironmentOutput, Operation, ProtonError, ProtonService,
    RequestContext, dispatch,
};
use serde_json::{Value, json};

/// Runs a future that never waits on anything, as these services' futures never do.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited"),
    }
}

fn context() -> RequestContext {
    RequestContext {
        request_id: "req-1".into(),
        account_id: "123456789012".into(),
        region: "us-east-1".into(),
        access_key_id: None,
        deployment_id: None,
    }
}

/// Serves only `GetEnvironment`, from a fixture.
struct OneEnvironment;

impl ProtonService for OneEnvironment {
    async fn get_environment(
        &self,
        ctx: &RequestContext,
        input: GetEnvironmentInput,
    ) -> Result<GetEnvironmentOutput, ProtonError> {
        if input.name != "staging" {
            return Err(ProtonError::not_found(format!(
                "no environment {}",
                input.name
            )));
        }
        let fixture = include_str!("fixtures/get-environment-output.json");
        let mut output: GetEnvironmentOutput = serde_json::from_str(fixture).unwrap();
        output.environment.arn = format!(
            "arn:aws:proton:{}:{}:environment/staging",
            ctx.region, ctx.account_id
        );
        Ok(output)
    }
}

#[test]
fn unimplemented_operation_names_itself() {
    let input = json!({"name": "staging"});
    let err = run(dispatch(
        &OneEnvironment,
        &context(),
        Operation::DeleteEnvironment,
        input,
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(err.status(), 400);
    assert_eq!(
        err.message(),
        "protond does not implement DeleteEnvironment yet"
    );
    let body: Value = serde_json::from_slice(&err.body()).unwrap();
    assert_eq!(
        body,
        json!({
            "__type": "com.amazonaws.proton.v20200720#ValidationException",
            "message": "protond does not implement DeleteEnvironment yet",
        })
    );
}

#[test]
fn implemented_operation_answers_its_output_as_json() {
    let input = json!({"name": "staging"});
    let body = run(dispatch(
        &OneEnvironment,
        &context(),
        Operation::GetEnvironment,
        input,
    ))
    .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["environment"]["deploymentStatus"], "SUCCEEDED");
    assert_eq!(body["environment"]["createdAt"], 1_700_000_000);
}

#[test]
fn service_errors_pass_through() {
    let input = json!({"name": "prod"});
    let err = run(dispatch(
        &OneEnvironment,
        &context(),
        Operation::GetEnvironment,
        input,
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceNotFound);
    assert_eq!(err.status(), 404);
}

#[test]
fn input_that_does_not_fit_the_type_is_a_serialization_exception() {
    let input = json!({"name": 7});
    let err = run(dispatch(
        &OneEnvironment,
        &context(),
        Operation::GetEnvironment,
        input,
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
}
