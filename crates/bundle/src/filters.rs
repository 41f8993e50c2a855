//! The `proton_cfn_*` Jinja filters Proton documents for CloudFormation templates.
//!
//! The list-and-map filters emit YAML flow collections written as JSON (`[{"Name": "a",
//! "Value": "b"}]`). JSON is valid YAML, and a flow collection stays correct wherever the
//! `{{ ... }}` sits in the template, whatever its indentation.

use minijinja::{Error, ErrorKind, Value};
use regex::Regex;
use serde_json::{Map, json};

/// Values the non-raw forms accept, as Proton documents.
const SAFE_VALUE: &str = "^[a-zA-Z0-9_-]*$";
/// An IAM managed policy ARN.
const POLICY_ARN: &str = r"^arn:[a-zA-Z-]+:iam::(aws|\d{12}):policy/";

/// Registers every Proton filter on `env`.
pub(crate) fn register(env: &mut minijinja::Environment<'_>) {
    env.add_filter(
        "proton_cfn_ecs_task_definition_formatted_env_vars",
        ecs_env_vars,
    );
    env.add_filter(
        "proton_cfn_lambda_function_formatted_env_vars",
        lambda_env_vars,
    );
    env.add_filter("proton_cfn_iam_policy_arns", iam_policy_arns);
    env.add_filter("proton_cfn_sanitize", sanitize);
}

/// The entries of a map value as (key, value-as-text) pairs, in the map's order.
fn entries(value: &Value, filter: &str) -> Result<Vec<(String, String)>, Error> {
    if value.as_object().is_none() || value.as_str().is_some() {
        let message = format!("{filter} expects a map of outputs");
        return Err(Error::new(ErrorKind::InvalidOperation, message));
    }
    let mut pairs = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        let text = item
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| item.to_string());
        pairs.push((key.to_string(), text));
    }
    Ok(pairs)
}

/// With `raw=False`, every value must be a plain token.
fn check_values(pairs: &[(String, String)], raw: Option<bool>) -> Result<(), Error> {
    if raw.unwrap_or(true) {
        return Ok(());
    }
    let safe = Regex::new(SAFE_VALUE).expect("constant pattern");
    match pairs.iter().find(|(_, v)| !safe.is_match(v)) {
        Some((key, value)) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("value {value:?} of {key} does not match {SAFE_VALUE}"),
        )),
        None => Ok(()),
    }
}

/// `dict | proton_cfn_ecs_task_definition_formatted_env_vars(raw=True)`: a list of
/// `{Name, Value}` for an ECS container definition's `Environment`.
fn ecs_env_vars(value: Value, raw: Option<bool>) -> Result<String, Error> {
    let pairs = entries(&value, "proton_cfn_ecs_task_definition_formatted_env_vars")?;
    check_values(&pairs, raw)?;
    let list: Vec<_> = pairs
        .iter()
        .map(|(k, v)| json!({"Name": k, "Value": v}))
        .collect();
    Ok(serde_json::Value::Array(list).to_string())
}

/// `dict | proton_cfn_lambda_function_formatted_env_vars(raw=True)`: a map for a Lambda
/// function's `Environment.Variables`.
fn lambda_env_vars(value: Value, raw: Option<bool>) -> Result<String, Error> {
    let pairs = entries(&value, "proton_cfn_lambda_function_formatted_env_vars")?;
    check_values(&pairs, raw)?;
    let map: Map<_, _> = pairs.into_iter().map(|(k, v)| (k, v.into())).collect();
    Ok(serde_json::Value::Object(map).to_string())
}

/// `dict | proton_cfn_iam_policy_arns`: the values that are IAM policy ARNs, as a list; other
/// values are left out.
fn iam_policy_arns(value: Value) -> Result<String, Error> {
    let pairs = entries(&value, "proton_cfn_iam_policy_arns")?;
    let arn = Regex::new(POLICY_ARN).expect("constant pattern");
    let list: Vec<_> = pairs
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| arn.is_match(v))
        .collect();
    Ok(serde_json::to_string(&list).expect("strings serialize"))
}

/// `str | proton_cfn_sanitize`: keeps only ASCII letters and digits, the characters a
/// CloudFormation logical ID may hold.
fn sanitize(value: String) -> String {
    value.chars().filter(char::is_ascii_alphanumeric).collect()
}
