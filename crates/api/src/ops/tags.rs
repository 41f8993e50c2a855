//! Tags on templates, template versions and environments.

use protond_engine::records::{
    self, EnvironmentRecord, TagsRecord, TemplateRecord, TemplateVersionRecord, version_key,
};
use protond_store::Expect;
use protond_wire::*;

use super::commit;
use crate::arn::{self, Resource};
use crate::failure::OrInternal;
use crate::service::Proton;

/// Proton's limit of tags per resource.
const MAX_TAGS: usize = 50;

/// Checks that the ARN names an existing resource of the caller's account.
async fn require_resource(
    proton: &Proton,
    ctx: &RequestContext,
    resource_arn: &str,
) -> Result<(), ProtonError> {
    let store = proton.store.as_ref();
    let account = &ctx.partition();
    let exists = match arn::parse(ctx, resource_arn)? {
        Resource::EnvironmentTemplate(name) => {
            records::load::<TemplateRecord>(store, account, &name)
                .await
                .or_internal(ctx)?
                .is_some()
        }
        Resource::EnvironmentTemplateVersion(name, major, minor) => {
            let key = version_key(&name, &major, &minor);
            let found = records::load::<TemplateVersionRecord>(store, account, &key).await;
            found.or_internal(ctx)?.is_some()
        }
        Resource::Environment(name) => records::load::<EnvironmentRecord>(store, account, &name)
            .await
            .or_internal(ctx)?
            .is_some(),
        Resource::Deployment(_) => false,
    };
    if exists {
        Ok(())
    } else {
        Err(ProtonError::not_found(format!(
            "The resource {resource_arn} does not exist."
        )))
    }
}

async fn current(
    proton: &Proton,
    ctx: &RequestContext,
    resource_arn: &str,
) -> Result<(TagsRecord, Expect), ProtonError> {
    let found = records::load::<TagsRecord>(proton.store.as_ref(), &ctx.partition(), resource_arn)
        .await
        .or_internal(ctx)?;
    Ok(match found {
        Some(stored) => (stored.value, Expect::Revision(stored.revision)),
        None => (
            TagsRecord {
                arn: resource_arn.to_owned(),
                tags: Vec::new(),
            },
            Expect::Absent,
        ),
    })
}

pub async fn tag(
    proton: &Proton,
    ctx: &RequestContext,
    input: TagResourceInput,
) -> Result<TagResourceOutput, ProtonError> {
    require_resource(proton, ctx, &input.resource_arn).await?;
    let (mut record, expect) = current(proton, ctx, &input.resource_arn).await?;

    for tag in input.tags {
        match record.tags.iter_mut().find(|t| t.key == tag.key) {
            Some(existing) => existing.value = tag.value,
            None => record.tags.push(tag),
        }
    }
    if record.tags.len() > MAX_TAGS {
        return Err(ProtonError::service_quota(format!(
            "A resource can have at most {MAX_TAGS} tags."
        )));
    }

    let write = records::put(&ctx.partition(), &record, expect);
    commit(proton.store.as_ref(), ctx, vec![write]).await?;
    Ok(TagResourceOutput {})
}

pub async fn untag(
    proton: &Proton,
    ctx: &RequestContext,
    input: UntagResourceInput,
) -> Result<UntagResourceOutput, ProtonError> {
    require_resource(proton, ctx, &input.resource_arn).await?;
    let (mut record, expect) = current(proton, ctx, &input.resource_arn).await?;

    record.tags.retain(|t| !input.tag_keys.contains(&t.key));

    let write = records::put(&ctx.partition(), &record, expect);
    commit(proton.store.as_ref(), ctx, vec![write]).await?;
    Ok(UntagResourceOutput {})
}

pub async fn list(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListTagsForResourceInput,
) -> Result<ListTagsForResourceOutput, ProtonError> {
    require_resource(proton, ctx, &input.resource_arn).await?;
    let (record, _) = current(proton, ctx, &input.resource_arn).await?;

    let start = match input.next_token.as_deref() {
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ProtonError::validation("The nextToken is not valid."))?,
        None => 0,
    };
    let size = crate::paging::size(input.max_results) as usize;
    let tags: Vec<Tag> = record.tags.iter().skip(start).take(size).cloned().collect();
    let next = start + tags.len();
    let next_token = (next < record.tags.len()).then(|| next.to_string());
    Ok(ListTagsForResourceOutput { tags, next_token })
}
