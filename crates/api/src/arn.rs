//! Proton ARNs: how protond names resources, and how it reads the names clients send back.

use protond_wire::{ProtonError, RequestContext};

/// The ARN of an environment template.
pub fn environment_template(ctx: &RequestContext, name: &str) -> String {
    format!("{}:environment-template/{name}", prefix(ctx))
}

/// The ARN of an environment template version.
pub fn environment_template_version(
    ctx: &RequestContext,
    name: &str,
    major: &str,
    minor: &str,
) -> String {
    format!(
        "{}:environment-template/{name}:{major}.{minor}",
        prefix(ctx)
    )
}

/// The ARN of an environment.
pub fn environment(ctx: &RequestContext, name: &str) -> String {
    format!("{}:environment/{name}", prefix(ctx))
}

/// The ARN of an environment deployment.
pub fn deployment(ctx: &RequestContext, id: &str) -> String {
    format!("{}:deployment/{id}", prefix(ctx))
}

fn prefix(ctx: &RequestContext) -> String {
    format!("arn:aws:proton:{}:{}", ctx.region, ctx.account_id)
}

/// A resource named by an ARN the caller sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// `environment-template/NAME`.
    EnvironmentTemplate(String),
    /// `environment-template/NAME:MAJOR.MINOR`.
    EnvironmentTemplateVersion(String, String, String),
    /// `environment/NAME`.
    Environment(String),
    /// `deployment/ID`.
    Deployment(String),
}

/// Reads an ARN of this caller's account and region. Any other account, region or resource
/// type reads as a resource that does not exist, so that nothing leaks across accounts.
pub fn parse(ctx: &RequestContext, arn: &str) -> Result<Resource, ProtonError> {
    let missing = || ProtonError::not_found(format!("The resource {arn} does not exist."));
    let rest = arn
        .strip_prefix(&prefix(ctx))
        .and_then(|r| r.strip_prefix(':'));
    let Some(rest) = rest else {
        return Err(missing());
    };
    let (kind, name) = rest.split_once('/').ok_or_else(missing)?;
    match kind {
        "environment-template" => match name.split_once(':') {
            None => Ok(Resource::EnvironmentTemplate(name.to_owned())),
            Some((template, version)) => {
                let (major, minor) = version.split_once('.').ok_or_else(missing)?;
                Ok(Resource::EnvironmentTemplateVersion(
                    template.to_owned(),
                    major.to_owned(),
                    minor.to_owned(),
                ))
            }
        },
        "environment" => Ok(Resource::Environment(name.to_owned())),
        "deployment" => Ok(Resource::Deployment(name.to_owned())),
        _ => Err(missing()),
    }
}
