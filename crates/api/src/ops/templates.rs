//! Environment templates: Create, Get, List, Update, Delete.

use protond_engine::records::{self, TagsRecord, TemplateRecord, TemplateVersionRecord};
use protond_store::{Expect, Kind, ListQuery};
use protond_wire::*;

use super::{already_exists, canonical, commit, page, replayed_create, require};
use crate::arn;
use crate::failure::OrInternal;
use crate::service::Proton;

fn missing(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("The environment template {name} does not exist.")
}

/// Reads a template of the caller's account, or ResourceNotFound.
pub async fn require_template(
    proton: &Proton,
    ctx: &RequestContext,
    name: &str,
) -> Result<records::Stored<TemplateRecord>, ProtonError> {
    require(proton.store.as_ref(), ctx, name, missing(name)).await
}

pub async fn create(
    proton: &Proton,
    ctx: &RequestContext,
    input: CreateEnvironmentTemplateInput,
) -> Result<CreateEnvironmentTemplateOutput, ProtonError> {
    let store = proton.store.as_ref();
    let request = canonical(&input);
    let existing = records::load::<TemplateRecord>(store, &ctx.partition(), &input.name).await;
    if let Some(existing) = existing.or_internal(ctx)? {
        let what = format!("The environment template {}", input.name);
        let same = existing.value.create_request.as_deref() == Some(request.as_str());
        replayed_create(&what, same, existing.value.modified)?;
        return Ok(CreateEnvironmentTemplateOutput {
            environment_template: existing.value.template,
        });
    }

    let now = Timestamp::now();
    let template = EnvironmentTemplate {
        arn: arn::environment_template(ctx, &input.name),
        created_at: now,
        last_modified_at: now,
        name: input.name.clone(),
        description: input.description,
        display_name: input.display_name,
        encryption_key: input.encryption_key,
        provisioning: input.provisioning,
        recommended_version: None,
    };
    let record = TemplateRecord {
        template,
        create_request: Some(request),
        modified: false,
    };

    let mut writes = vec![records::put(&ctx.partition(), &record, Expect::Absent)];
    if let Some(tags) = input.tags.filter(|t| !t.is_empty()) {
        let tags = TagsRecord {
            arn: record.template.arn.clone(),
            tags,
        };
        writes.push(records::put(&ctx.partition(), &tags, Expect::Any));
    }
    commit(store, ctx, writes).await.map_err(|e| {
        already_exists(e, || {
            format!("The environment template {} already exists.", input.name)
        })
    })?;

    Ok(CreateEnvironmentTemplateOutput {
        environment_template: record.template,
    })
}

pub async fn get(
    proton: &Proton,
    ctx: &RequestContext,
    input: GetEnvironmentTemplateInput,
) -> Result<GetEnvironmentTemplateOutput, ProtonError> {
    let record = require_template(proton, ctx, &input.name).await?;
    Ok(GetEnvironmentTemplateOutput {
        environment_template: record.value.template,
    })
}

pub async fn list(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListEnvironmentTemplatesInput,
) -> Result<ListEnvironmentTemplatesOutput, ProtonError> {
    let (records, next_token) = page::<TemplateRecord>(
        proton.store.as_ref(),
        ctx,
        None,
        false,
        input.next_token.as_deref(),
        input.max_results,
        |_| true,
    )
    .await?;
    let templates = records.into_iter().map(|r| summary(r.template)).collect();
    Ok(ListEnvironmentTemplatesOutput {
        templates,
        next_token,
    })
}

fn summary(t: EnvironmentTemplate) -> EnvironmentTemplateSummary {
    EnvironmentTemplateSummary {
        arn: t.arn,
        created_at: t.created_at,
        description: t.description,
        display_name: t.display_name,
        last_modified_at: t.last_modified_at,
        name: t.name,
        provisioning: t.provisioning,
        recommended_version: t.recommended_version,
    }
}

pub async fn update(
    proton: &Proton,
    ctx: &RequestContext,
    input: UpdateEnvironmentTemplateInput,
) -> Result<UpdateEnvironmentTemplateOutput, ProtonError> {
    let stored = require_template(proton, ctx, &input.name).await?;

    let mut record = stored.value;
    if input.description.is_some() {
        record.template.description = input.description;
    }
    if input.display_name.is_some() {
        record.template.display_name = input.display_name;
    }
    record.template.last_modified_at = Timestamp::now();
    record.modified = true;

    let write = records::put(&ctx.partition(), &record, Expect::Revision(stored.revision));
    commit(proton.store.as_ref(), ctx, vec![write]).await?;
    Ok(UpdateEnvironmentTemplateOutput {
        environment_template: record.template,
    })
}

pub async fn delete(
    proton: &Proton,
    ctx: &RequestContext,
    input: DeleteEnvironmentTemplateInput,
) -> Result<DeleteEnvironmentTemplateOutput, ProtonError> {
    // Deletes are idempotent in Proton: deleting what is already gone succeeds, empty.
    let found =
        records::load::<TemplateRecord>(proton.store.as_ref(), &ctx.partition(), &input.name).await;
    let Some(stored) = found.or_internal(ctx)? else {
        return Ok(DeleteEnvironmentTemplateOutput {
            environment_template: None,
        });
    };

    let query = ListQuery {
        parent: Some(input.name.clone()),
        limit: 1,
        ..ListQuery::default()
    };
    let versions = proton
        .store
        .list(&ctx.partition(), Kind::EnvironmentTemplateVersion, &query)
        .await
        .or_internal(ctx)?;
    if !versions.is_empty() {
        return Err(ProtonError::conflict(format!(
            "The environment template {} still has versions; delete them first.",
            input.name
        )));
    }

    let arn = stored.value.template.arn.clone();
    let writes = vec![
        records::delete::<TemplateRecord>(
            &ctx.partition(),
            &input.name,
            Expect::Revision(stored.revision),
        ),
        records::delete::<TagsRecord>(&ctx.partition(), &arn, Expect::Any),
    ];
    commit(proton.store.as_ref(), ctx, writes).await?;
    Ok(DeleteEnvironmentTemplateOutput {
        environment_template: Some(stored.value.template),
    })
}

/// Recomputes which versions are recommended after a publish or delete: in each major, the
/// highest published minor; for the template, the highest major with a published minor.
pub fn recommend(template: &mut EnvironmentTemplate, versions: &mut [TemplateVersionRecord]) {
    let number = |s: &str| s.parse::<u64>().unwrap_or(0);
    let published =
        |v: &TemplateVersionRecord| v.version.status == TemplateVersionStatus::Published;
    let mut best_overall: Option<(u64, u64)> = None;
    let majors: std::collections::BTreeSet<u64> = versions
        .iter()
        .map(|v| number(&v.version.major_version))
        .collect();
    for major in majors {
        let best = versions
            .iter()
            .filter(|v| number(&v.version.major_version) == major && published(v))
            .map(|v| number(&v.version.minor_version))
            .max();
        for v in versions
            .iter_mut()
            .filter(|v| number(&v.version.major_version) == major)
        {
            v.version.recommended_minor_version = best.map(|m| m.to_string());
        }
        if let Some(minor) = best {
            best_overall = Some((major, minor));
        }
    }
    template.recommended_version = best_overall.map(|(major, minor)| format!("{major}.{minor}"));
}
