//! The filters Proton documents for CloudFormation templates (`proton_cfn_*`), the Jinja2
//! built-in `truncate` that MiniJinja lacks, and Jinja2's way of printing values.
//!
//! Proton's user guide ("Parameter filters for CloudFormation IaC files") shows the list and
//! map filters rendering as block YAML whose every line starts at the column of the `{{`:
//!
//! ```yaml
//!           Environment:
//!             {{ outputs | proton_cfn_ecs_task_definition_formatted_env_vars }}
//! ```
//!
//! renders as `- Name: Output1` / `  Value: hello` lines under `Environment:`, each indented
//! like the first. A filter does not know its column, so these filters mark the start of their
//! output and each following line, and [`reindent`] replaces the marks once the template has
//! rendered. Values are written as they are (`raw=True`, the default) or checked against
//! `^[a-zA-Z0-9_-]*$` first (`raw=False`).

use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{Error, ErrorKind, Output, State, Value};
use regex::Regex;

/// Values the `raw=False` forms accept, and that `proton_cfn_sanitize` accepts besides ARNs.
const SAFE_VALUE: &str = "^[a-zA-Z0-9_-]*$";
/// An IAM policy ARN, as Proton's guide gives it for `proton_cfn_iam_policy_arns`.
const POLICY_ARN: &str = r"^arn:[a-zA-Z-]+:iam::\d{12}:policy/";
/// A well-formed ARN: partition, service, optional region and account, then a resource.
const ARN: &str = r"^arn:[a-z][a-z0-9-]*:[a-zA-Z0-9-]+:[a-z0-9-]*:(\d{12}|aws)?:\S+$";

/// Marks where a block filter's output starts; removed by [`reindent`].
const BLOCK_START: char = '\u{E000}';
/// Marks each following line of a block filter's output; [`reindent`] turns it into spaces.
const BLOCK_LINE: char = '\u{E001}';

/// Registers every filter on `env`, and prints values the way Jinja2 does.
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
    env.add_filter("truncate", truncate);
    env.set_formatter(python_formatter);
}

/// Replaces the marks the block filters leave: each following line is indented to the column
/// where the block started.
pub(crate) fn reindent(text: &str) -> String {
    if !text.contains(BLOCK_START) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut column = 0;
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = match line.strip_prefix(BLOCK_LINE) {
            Some(rest) => {
                out.extend(std::iter::repeat_n(' ', column));
                rest
            }
            None => line,
        };
        if let Some(at) = line.find(BLOCK_START) {
            column = line[..at].chars().count();
        }
        out.extend(line.chars().filter(|c| *c != BLOCK_START));
    }
    out
}

/// Lines of a block, marked for [`reindent`].
fn block(lines: &[String]) -> String {
    let mut out = String::from(BLOCK_START);
    out.push_str(&lines.join(&format!("\n{BLOCK_LINE}")));
    out
}

/// The entries of a map value as (key, value-as-text) pairs, in the map's order.
fn entries(value: &Value, filter: &str) -> Result<Vec<(String, String)>, Error> {
    if value.kind() != ValueKind::Map {
        let message = format!("{filter} expects a map, got {}", value.kind());
        return Err(Error::new(ErrorKind::InvalidOperation, message));
    }
    let mut pairs = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        pairs.push((python_str(&key), python_str(&item)));
    }
    Ok(pairs)
}

/// `raw`, given by position or by name; true unless given.
fn raw_argument(raw: Option<bool>, kwargs: &Kwargs) -> Result<Option<bool>, Error> {
    let named = kwargs.get::<Option<bool>>("raw")?;
    kwargs.assert_all_used()?;
    Ok(named.or(raw))
}

/// With `raw=False`, every value must be a plain token.
fn check_values(pairs: &[(String, String)], raw: Option<bool>) -> Result<(), Error> {
    if raw.unwrap_or(true) {
        return Ok(());
    }
    let safe = Regex::new(SAFE_VALUE).expect("constant pattern");
    match pairs.iter().find(|(_, v)| !safe.is_match(v)) {
        Some((_, value)) => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("Illegal character(s) detected in \"{value}\". Must match regex {SAFE_VALUE}"),
        )),
        None => Ok(()),
    }
}

/// `dict | proton_cfn_ecs_task_definition_formatted_env_vars(raw=True)`: a block list of
/// `Name`/`Value` pairs for an ECS container definition's `Environment`; `[]` when empty.
fn ecs_env_vars(value: Value, raw: Option<bool>, kwargs: Kwargs) -> Result<String, Error> {
    let raw = raw_argument(raw, &kwargs)?;
    let pairs = entries(&value, "proton_cfn_ecs_task_definition_formatted_env_vars")?;
    check_values(&pairs, raw)?;
    if pairs.is_empty() {
        return Ok("[]".into());
    }
    let lines: Vec<String> = pairs
        .iter()
        .flat_map(|(k, v)| [format!("- Name: {k}"), format!("  Value: {v}")])
        .collect();
    Ok(block(&lines))
}

/// `dict | proton_cfn_lambda_function_formatted_env_vars(raw=True)`: a block map for a Lambda
/// function's `Environment.Variables`; `{}` when empty.
fn lambda_env_vars(value: Value, raw: Option<bool>, kwargs: Kwargs) -> Result<String, Error> {
    let raw = raw_argument(raw, &kwargs)?;
    let pairs = entries(&value, "proton_cfn_lambda_function_formatted_env_vars")?;
    check_values(&pairs, raw)?;
    if pairs.is_empty() {
        return Ok("{}".into());
    }
    let lines: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    Ok(block(&lines))
}

/// `dict | proton_cfn_iam_policy_arns`: the values that are IAM policy ARNs, as block list
/// items that continue the list the `{{` sits in; nothing when there are none.
fn iam_policy_arns(value: Value) -> Result<String, Error> {
    let pairs = entries(&value, "proton_cfn_iam_policy_arns")?;
    let arn = Regex::new(POLICY_ARN).expect("constant pattern");
    let lines: Vec<String> = pairs
        .into_iter()
        .filter(|(_, v)| arn.is_match(v))
        .map(|(_, v)| format!("- {v}"))
        .collect();
    if lines.is_empty() {
        return Ok(String::new());
    }
    Ok(block(&lines))
}

/// `str | proton_cfn_sanitize`: the value unchanged when it is a plain token or an ARN; any
/// other value fails the rendering.
fn sanitize(value: Value) -> Result<String, Error> {
    let text = python_str(&value);
    let safe = Regex::new(SAFE_VALUE).expect("constant pattern");
    let arn = Regex::new(ARN).expect("constant pattern");
    if safe.is_match(&text) || arn.is_match(&text) {
        return Ok(text);
    }
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "Illegal character(s) detected in \"{text}\". Must match regex {SAFE_VALUE} or be \
             a valid ARN"
        ),
    ))
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`: text longer than
/// `length + leeway` is cut to `length` characters including `end`, at a word boundary unless
/// `killwords`.
fn truncate(value: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    if args.len() > 4 {
        return Err(Error::from(ErrorKind::TooManyArguments));
    }
    let arg = |i: usize, name: &str| -> Result<Option<Value>, Error> {
        let named = kwargs.get::<Option<Value>>(name)?;
        Ok(named.or_else(|| args.get(i).cloned()))
    };
    let number = |v: Option<Value>, default: usize| -> Result<usize, Error> {
        match v {
            Some(v) => usize::try_from(v),
            None => Ok(default),
        }
    };
    let length = number(arg(0, "length")?, 255)?;
    let killwords = arg(1, "killwords")?.is_some_and(|v| v.is_true());
    let end = arg(2, "end")?.map_or_else(|| "...".to_owned(), |v| python_str(&v));
    let leeway = number(arg(3, "leeway")?, 5)?;
    kwargs.assert_all_used()?;

    let text = python_str(&value);
    let chars: Vec<char> = text.chars().collect();
    let end_len = end.chars().count();
    if length < end_len {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("expected length >= {end_len}, got {length}"),
        ));
    }
    if chars.len() <= length + leeway {
        return Ok(text);
    }
    let kept: String = chars[..length - end_len].iter().collect();
    if killwords {
        return Ok(kept + &end);
    }
    let cut = match kept.rfind(' ') {
        Some(at) => &kept[..at],
        None => &kept[..],
    };
    Ok(format!("{cut}{end}"))
}

/// Prints `{{ value }}` as Jinja2 (Python's `str`) does: `True`, `False`, `None`, and lists
/// and maps in Python's notation. Strings and numbers print as MiniJinja prints them.
fn python_formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Bool | ValueKind::None | ValueKind::Seq | ValueKind::Map => out
            .write_str(&python_str(value))
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string())),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Python's `str()` of a value.
pub(crate) fn python_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        _ => python_repr(value),
    }
}

/// Python's `repr()` of a value.
fn python_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::None | ValueKind::Undefined => "None".into(),
        ValueKind::String => python_string_repr(value.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            let items: Vec<String> = value
                .try_iter()
                .map(|items| items.map(|v| python_repr(&v)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = value
                .try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let v = value.get_item(&k).unwrap_or_default();
                        format!("{}: {}", python_repr(&k), python_repr(&v))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => value.to_string(),
    }
}

/// Python's quoting of a string: single quotes, unless the text holds one and no double quote.
fn python_string_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindent_aligns_following_lines_with_the_block_start() {
        let text = format!("a:\n    {}\n", block(&["- x".into(), "- y".into()]));
        assert_eq!(reindent(&text), "a:\n    - x\n    - y\n");
    }

    #[test]
    fn text_without_blocks_is_untouched() {
        assert_eq!(reindent("a: b\n  c\n"), "a: b\n  c\n");
    }
}
