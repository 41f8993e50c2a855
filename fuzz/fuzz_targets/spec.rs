//! Feeds the schema and spec validator: `Schema::parse` with the schema text, `parse_spec` with
//! the spec text, then `Schema::environment_inputs`, and the inputs it returns to the writers of
//! the provisioners' input files (`proton_inputs_json`, `proton_inputs_hcl`,
//! `terraform_tfvars_json`).
//!
//! Input: `schema text \0 spec text`; without a NUL, the spec is the example's
//! (`greeting: hello`, `workers: 2`). Either text must be UTF-8, as the API's strings are.
//!
//! Checked beyond "does not panic": inputs returned by `environment_inputs` (defaults applied)
//! pass `environment_inputs` again unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use protond_bundle::{
    Schema, Spec, parse_spec, proton_inputs_hcl, proton_inputs_json, terraform_tfvars_json,
};
use serde_json::Value;

const DEFAULT_SPEC: &str = "proton: EnvironmentSpec\nspec:\n  greeting: hello\n  workers: 2\n";

fuzz_target!(|data: &[u8]| {
    let (schema, spec) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, DEFAULT_SPEC.as_bytes()),
    };
    let (Ok(schema), Ok(spec)) = (std::str::from_utf8(schema), std::str::from_utf8(spec)) else {
        return;
    };
    let Ok(schema) = Schema::parse(schema) else {
        return;
    };
    let _ = schema.environment_input_type();
    let Ok(spec) = parse_spec(spec) else {
        return;
    };
    let Ok(inputs) = schema.environment_inputs(&spec) else {
        return;
    };
    let _ = proton_inputs_json("fuzz-env", &inputs);
    let _ = proton_inputs_hcl("fuzz-env", &inputs);
    let _ = terraform_tfvars_json("fuzz-env", &inputs);

    let Value::Object(members) = &inputs else {
        panic!("environment_inputs returned {inputs}, not an object");
    };
    let again = Spec {
        proton: "EnvironmentSpec".into(),
        spec: members.clone(),
    };
    match schema.environment_inputs(&again) {
        Ok(second) => assert_eq!(second, inputs, "inputs changed when validated again"),
        Err(error) => panic!("inputs with defaults applied fail validation: {error}\n{inputs}"),
    }
});
