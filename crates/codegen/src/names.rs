//! How model names become Rust names.

/// Rust keywords that a model member name could collide with; such fields are written `r#name`.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type", "unsafe", "use",
    "where", "while", "yield",
];

/// `lastDeploymentAttemptedAt` -> `last_deployment_attempted_at`, keywords escaped with `r#`.
pub fn field_name(member: &str) -> String {
    let snake = snake_case(member);
    if KEYWORDS.contains(&snake.as_str()) {
        format!("r#{snake}")
    } else {
        snake
    }
}

/// `CreateEnvironment` -> `create_environment`; runs of capitals stay one word (`S3Bucket` ->
/// `s3_bucket`).
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && starts_word(&chars, i) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// An upper-case letter starts a word after a lower-case letter or digit, or when it is the
/// last capital of a run followed by a lower-case letter (`ARNValue` -> `arn_value`).
fn starts_word(chars: &[char], i: usize) -> bool {
    let prev = chars[i - 1];
    let next_is_lower = chars.get(i + 1).is_some_and(|c| c.is_ascii_lowercase());
    prev.is_ascii_lowercase()
        || prev.is_ascii_digit()
        || (prev.is_ascii_uppercase() && next_is_lower)
}

/// `IN_PROGRESS` -> `InProgress`, `lastDeploymentAttemptedAt` -> `LastDeploymentAttemptedAt`,
/// `s3` -> `S3`.
pub fn upper_camel(value: &str) -> String {
    value
        .split(['_', '-'])
        .filter(|part| !part.is_empty())
        .map(camel_part)
        .collect()
}

/// One word of an enum value: all-capital words are lowered after their first letter, mixed
/// ones only get their first letter raised.
fn camel_part(part: &str) -> String {
    let shout = !part.chars().any(|c| c.is_ascii_lowercase());
    let mut chars = part.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase());
    let rest: String = if shout {
        chars.as_str().to_ascii_lowercase()
    } else {
        chars.collect()
    };
    first.into_iter().chain(rest.chars()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_become_snake_case_fields() {
        assert_eq!(
            field_name("lastDeploymentAttemptedAt"),
            "last_deployment_attempted_at"
        );
        assert_eq!(field_name("s3"), "s3");
        assert_eq!(field_name("type"), "r#type");
        assert_eq!(snake_case("GetEnvironment"), "get_environment");
    }

    #[test]
    fn enum_values_become_upper_camel_variants() {
        assert_eq!(upper_camel("IN_PROGRESS"), "InProgress");
        assert_eq!(
            upper_camel("lastDeploymentAttemptedAtBefore"),
            "LastDeploymentAttemptedAtBefore"
        );
        assert_eq!(upper_camel("name"), "Name");
        assert_eq!(upper_camel("S3"), "S3");
    }
}
