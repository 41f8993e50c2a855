//! The generated shape table describes the whole model, and every pattern in it runs.

use protond_wire::shape::{self, ShapeKind};
use protond_wire::{Operation, TARGET_PREFIX};

#[test]
fn every_model_pattern_compiles() {
    let mut patterns = 0;
    for shape in shape::all() {
        if let ShapeKind::String {
            pattern: Some(pattern),
            ..
        } = shape.kind
        {
            regex::Regex::new(pattern.regex)
                .unwrap_or_else(|err| panic!("{}: {}: {err}", shape.name, pattern.model));
            patterns += 1;
        }
    }
    assert_eq!(
        patterns, 14,
        "the Proton model has 14 patterned string shapes"
    );
}

#[test]
fn every_member_and_list_targets_a_known_shape() {
    for shape in shape::all() {
        let targets: Vec<&str> = match shape.kind {
            ShapeKind::Structure(members) | ShapeKind::Union(members) => {
                members.iter().map(|m| m.target).collect()
            }
            ShapeKind::List { member, .. } => vec![member],
            _ => vec![],
        };
        for target in targets {
            assert!(
                shape::find(target).is_some(),
                "{} refers to missing {target}",
                shape.name
            );
        }
    }
}

#[test]
fn all_87_operations_resolve_from_their_targets() {
    assert_eq!(Operation::ALL.len(), 87);
    for operation in Operation::ALL {
        let target = format!("{TARGET_PREFIX}.{}", operation.name());
        assert_eq!(Operation::from_target(&target), Some(operation));
        assert!(
            shape::find(operation.input_shape()).is_some(),
            "{operation} input"
        );
        assert!(
            shape::find(operation.output_shape()).is_some(),
            "{operation} output"
        );
    }
    assert_eq!(Operation::from_target("CreateEnvironment"), None);
    assert_eq!(
        Operation::from_target("AwsProton20200720CreateEnvironment"),
        None
    );
}

#[test]
fn patterns_are_ascii_and_unanchored_as_in_smithy() {
    let name = shape::find("RepositoryName").unwrap();
    let ShapeKind::String {
        pattern: Some(pattern),
        ..
    } = name.kind
    else {
        panic!()
    };
    // Smithy patterns are searched for, not matched whole: this one has no anchors.
    assert!(
        regex::Regex::new(pattern.regex)
            .unwrap()
            .is_match("  org/repo  ")
    );
    let account = shape::find("AwsAccountId").unwrap();
    let ShapeKind::String {
        pattern: Some(pattern),
        ..
    } = account.kind
    else {
        panic!()
    };
    // `\d` is ASCII in ECMAScript; Arabic-Indic digits must not pass.
    assert!(
        !regex::Regex::new(pattern.regex)
            .unwrap()
            .is_match("١٢٣٤٥٦٧٨٩٠١٢")
    );
}
