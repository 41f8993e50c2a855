//! Environment template versions: Create (with background registration), Get, List, Update
//! (publish), Delete.
//!
//! Registration reads the bundle from its `s3` source, checks it fully (archive safety and
//! limits, schema, manifest) and keeps a copy, so that later changes to the source object never
//! change what a version deploys. A version is committed `REGISTRATION_IN_PROGRESS` together
//! with a pending-registration marker; the marker is removed in the same commit that ends the
//! registration, so a restart finds and finishes every registration that a stopped process left.

use std::sync::Arc;

use protond_bundle::Bundle;
use protond_engine::records::{
    self, BundleRecord, BundleSource, ClientTokenRecord, DeploymentRecord, EnvironmentRecord,
    Stored, TagsRecord, TemplateRecord, TemplateVersionRecord, version_key,
};
use protond_store::{Expect, Kind, ListQuery, Record, Write};
use protond_wire::*;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::templates::{recommend, require_template};
use super::{canonical, commit, page, require};
use crate::arn;
use crate::failure::OrInternal;
use crate::service::Proton;

/// The account under which pending registrations are listed at start-up.
const SYSTEM_ACCOUNT: &str = "_protond";

/// A registration to finish: enough to find the version again.
#[derive(Debug, Serialize, Deserialize)]
struct PendingRegistration {
    account: String,
    region: String,
    version_key: String,
}

fn missing<'a>(template: &'a str, major: &'a str, minor: &'a str) -> impl FnOnce() -> String + 'a {
    move || format!("The environment template version {template}:{major}.{minor} does not exist.")
}

/// Reads one version, or ResourceNotFound.
pub async fn require_version(
    proton: &Proton,
    ctx: &RequestContext,
    template: &str,
    major: &str,
    minor: &str,
) -> Result<Stored<TemplateVersionRecord>, ProtonError> {
    let key = version_key(template, major, minor);
    require(
        proton.store.as_ref(),
        ctx,
        &key,
        missing(template, major, minor),
    )
    .await
}

/// Every version of a template, oldest first.
pub async fn all_versions(
    proton: &Proton,
    ctx: &RequestContext,
    template: &str,
) -> Result<Vec<Stored<TemplateVersionRecord>>, ProtonError> {
    let query = ListQuery {
        parent: Some(template.to_owned()),
        limit: 100_000,
        ..Default::default()
    };
    let found = proton
        .store
        .list(&ctx.partition(), Kind::EnvironmentTemplateVersion, &query)
        .await
        .or_internal(ctx)?;
    found
        .iter()
        .map(|r| records::decode(r).or_internal(ctx))
        .collect()
}

pub async fn create(
    proton: &Proton,
    ctx: &RequestContext,
    input: CreateEnvironmentTemplateVersionInput,
) -> Result<CreateEnvironmentTemplateVersionOutput, ProtonError> {
    let request = canonical(&CreateEnvironmentTemplateVersionInput {
        client_token: None,
        ..input.clone()
    });
    require_template(proton, ctx, &input.template_name).await?;
    let token_key = input
        .client_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| format!("CreateEnvironmentTemplateVersion/{t}"));
    if let Some(token_key) = &token_key
        && let Some(earlier) = replay(proton, ctx, token_key, &request).await?
    {
        let version = earlier;
        return Ok(CreateEnvironmentTemplateVersionOutput {
            environment_template_version: version,
        });
    }
    let TemplateVersionSourceInput::S3(source) = input.source;

    let versions = all_versions(proton, ctx, &input.template_name).await?;
    let number = |s: &str| s.parse::<u64>().unwrap_or(0);
    let (major, minor) = match &input.major_version {
        Some(major) => {
            let minors: Vec<u64> = versions
                .iter()
                .filter(|v| v.value.version.major_version == *major)
                .map(|v| number(&v.value.version.minor_version))
                .collect();
            let highest_major = versions
                .iter()
                .map(|v| number(&v.value.version.major_version))
                .max();
            if minors.is_empty() && Some(number(major)) != highest_major.map(|m| m + 1).or(Some(1))
            {
                return Err(ProtonError::validation(format!(
                    "The environment template {} has no major version {major}; omit \
                     majorVersion to create the next major version.",
                    input.template_name
                )));
            }
            let next_minor = minors.iter().max().map_or(0, |m| m + 1);
            (major.clone(), next_minor.to_string())
        }
        None => {
            let next = versions
                .iter()
                .map(|v| number(&v.value.version.major_version))
                .max();
            (next.map_or(1, |m| m + 1).to_string(), "0".to_owned())
        }
    };

    let now = Timestamp::now();
    let version = EnvironmentTemplateVersion {
        arn: arn::environment_template_version(ctx, &input.template_name, &major, &minor),
        created_at: now,
        description: input.description,
        last_modified_at: now,
        major_version: major.clone(),
        minor_version: minor.clone(),
        recommended_minor_version: None,
        schema: None,
        status: TemplateVersionStatus::RegistrationInProgress,
        status_message: None,
        template_name: input.template_name.clone(),
    };
    let record = TemplateVersionRecord {
        version,
        source: BundleSource {
            bucket: source.bucket,
            key: source.key,
        },
    };
    let key = record_key(&record);
    let pending = PendingRegistration {
        account: ctx.partition(),
        region: ctx.region.clone(),
        version_key: key.clone(),
    };

    let mut writes = vec![
        records::put(&ctx.partition(), &record, Expect::Absent),
        pending_write(&pending),
    ];
    if let Some(tags) = input.tags.filter(|t| !t.is_empty()) {
        let tags = TagsRecord {
            arn: record.version.arn.clone(),
            tags,
        };
        writes.push(records::put(&ctx.partition(), &tags, Expect::Any));
    }
    if let Some(token_key) = token_key {
        let token = ClientTokenRecord {
            key: token_key,
            request,
            created_at_ms: now.as_unix_millis(),
            resource_key: key.clone(),
        };
        writes.push(records::put(&ctx.partition(), &token, Expect::Any));
    }
    commit(proton.store.as_ref(), ctx, writes).await?;

    tokio::spawn(register(Registrar::of(proton), pending));
    Ok(CreateEnvironmentTemplateVersionOutput {
        environment_template_version: record.version,
    })
}

fn record_key(record: &TemplateVersionRecord) -> String {
    use protond_engine::records::Entity;
    record.key()
}

fn pending_write(pending: &PendingRegistration) -> Write {
    Write::Put {
        record: Record {
            account: SYSTEM_ACCOUNT.to_owned(),
            kind: Kind::PendingRegistration,
            key: format!("{}\n{}", pending.account, pending.version_key),
            parent: None,
            revision: 0,
            body: serde_json::to_vec(pending).expect("pending registrations serialize"),
        },
        expect: Expect::Any,
    }
}

/// How long a client token is remembered, as in Proton.
const CLIENT_TOKEN_LIFETIME_MS: i64 = 8 * 3600 * 1000;

/// The version an earlier request with the same client token created, if the token is still
/// valid and its version still exists. The same token with different parameters is an
/// `IdempotentParameterMismatch`.
async fn replay(
    proton: &Proton,
    ctx: &RequestContext,
    token_key: &str,
    request: &str,
) -> Result<Option<EnvironmentTemplateVersion>, ProtonError> {
    let store = proton.store.as_ref();
    let token = records::load::<ClientTokenRecord>(store, &ctx.partition(), token_key)
        .await
        .or_internal(ctx)?;
    let Some(token) = token else { return Ok(None) };
    if Timestamp::now().as_unix_millis() - token.value.created_at_ms > CLIENT_TOKEN_LIFETIME_MS {
        return Ok(None);
    }
    let key = &token.value.resource_key;
    let version = records::load::<TemplateVersionRecord>(store, &ctx.partition(), key)
        .await
        .or_internal(ctx)?;
    let Some(version) = version else {
        return Ok(None);
    };
    if token.value.request != request {
        return Err(ProtonError::validation(
            "IdempotentParameterMismatch: the clientToken was used with different parameters.",
        ));
    }
    Ok(Some(version.value.version))
}

/// What a registration running in the background needs from the service.
struct Registrar {
    store: Arc<dyn protond_store::Store>,
    objects: Arc<protond_bundle::LocalObjectStore>,
    limits: protond_bundle::Limits,
}

impl Registrar {
    fn of(proton: &Proton) -> Registrar {
        Registrar {
            store: Arc::clone(&proton.store),
            objects: Arc::clone(&proton.objects),
            limits: proton.limits.clone(),
        }
    }
}

/// Finishes one registration: reads and checks the bundle, then commits DRAFT (with the bundle)
/// or REGISTRATION_FAILED (with the reason), and drops the pending marker.
async fn register(proton: Registrar, pending: PendingRegistration) {
    let store = proton.store.as_ref();
    let account = pending.account.clone();
    let Ok(Some(stored)) =
        records::load::<TemplateVersionRecord>(store, &account, &pending.version_key).await
    else {
        warn!(
            version = pending.version_key,
            "registration of a vanished version dropped"
        );
        let _ = store.commit(vec![drop_pending(&pending)]).await;
        return;
    };
    let mut record = stored.value;
    let outcome = read_bundle(&proton, &record.source).await;

    let mut writes = vec![drop_pending(&pending)];
    match outcome {
        Ok((archive, bundle)) => {
            record.version.status = TemplateVersionStatus::Draft;
            record.version.schema = Some(bundle.schema.source().to_owned());
            let bundle = BundleRecord {
                version_key: pending.version_key.clone(),
                archive,
            };
            writes.push(records::put(&account, &bundle, Expect::Any));
        }
        Err(reason) => {
            record.version.status = TemplateVersionStatus::RegistrationFailed;
            record.version.status_message = Some(reason);
        }
    }
    record.version.last_modified_at = Timestamp::now();
    info!(version = pending.version_key, status = %record.version.status, "registration ended");
    writes.push(records::put(
        &account,
        &record,
        Expect::Revision(stored.revision),
    ));
    if let Err(e) = store.commit(writes).await {
        warn!(error = %e, "cannot store the registration's result; it resumes at restart");
    }
}

fn drop_pending(pending: &PendingRegistration) -> Write {
    Write::Delete {
        account: SYSTEM_ACCOUNT.to_owned(),
        kind: Kind::PendingRegistration,
        key: format!("{}\n{}", pending.account, pending.version_key),
        expect: Expect::Any,
    }
}

async fn read_bundle(
    proton: &Registrar,
    source: &BundleSource,
) -> Result<(Vec<u8>, Bundle), String> {
    let objects = Arc::clone(&proton.objects);
    let (bucket, key) = (source.bucket.clone(), source.key.clone());
    let limits = proton.limits.clone();
    let location = format!("s3://{}/{}", source.bucket, source.key);
    tokio::task::spawn_blocking(move || {
        let archive = objects
            .get(&bucket, &key)
            .map_err(|e| format!("Cannot read the bundle {location}: {e}"))?
            .ok_or_else(|| format!("The bundle {location} does not exist."))?;
        let bundle = Bundle::from_archive(&archive, &limits).map_err(|e| e.to_string())?;
        bundle
            .schema
            .environment_input_type()
            .map_err(|e| e.to_string())?;
        Ok((archive, bundle))
    })
    .await
    .unwrap_or_else(|e| Err(format!("registration stopped: {e}")))
}

/// Finishes every registration left pending by a process that stopped.
pub async fn resume_registrations(proton: &Arc<Proton>) {
    let query = ListQuery {
        limit: 100_000,
        ..Default::default()
    };
    let pending = match proton
        .store
        .list(SYSTEM_ACCOUNT, Kind::PendingRegistration, &query)
        .await
    {
        Ok(pending) => pending,
        Err(e) => {
            warn!(error = %e, "cannot list pending registrations");
            return;
        }
    };
    for record in pending {
        if let Ok(pending) = serde_json::from_slice::<PendingRegistration>(&record.body) {
            tokio::spawn(register(Registrar::of(proton), pending));
        }
    }
}

pub async fn get(
    proton: &Proton,
    ctx: &RequestContext,
    input: GetEnvironmentTemplateVersionInput,
) -> Result<GetEnvironmentTemplateVersionOutput, ProtonError> {
    let (t, major, minor) = (
        &input.template_name,
        &input.major_version,
        &input.minor_version,
    );
    let stored = require_version(proton, ctx, t, major, minor).await?;
    Ok(GetEnvironmentTemplateVersionOutput {
        environment_template_version: stored.value.version,
    })
}

pub async fn list(
    proton: &Proton,
    ctx: &RequestContext,
    input: ListEnvironmentTemplateVersionsInput,
) -> Result<ListEnvironmentTemplateVersionsOutput, ProtonError> {
    require_template(proton, ctx, &input.template_name).await?;
    let major = input.major_version.clone();
    let (records, next_token) = page::<TemplateVersionRecord>(
        proton.store.as_ref(),
        ctx,
        Some(input.template_name.clone()),
        false,
        input.next_token.as_deref(),
        input.max_results,
        |v| major.as_ref().is_none_or(|m| *m == v.version.major_version),
    )
    .await?;
    let template_versions = records.into_iter().map(|r| summary(r.version)).collect();
    Ok(ListEnvironmentTemplateVersionsOutput {
        template_versions,
        next_token,
    })
}

fn summary(v: EnvironmentTemplateVersion) -> EnvironmentTemplateVersionSummary {
    EnvironmentTemplateVersionSummary {
        arn: v.arn,
        created_at: v.created_at,
        description: v.description,
        last_modified_at: v.last_modified_at,
        major_version: v.major_version,
        minor_version: v.minor_version,
        recommended_minor_version: v.recommended_minor_version,
        status: v.status,
        status_message: v.status_message,
        template_name: v.template_name,
    }
}

pub async fn update(
    proton: &Proton,
    ctx: &RequestContext,
    input: UpdateEnvironmentTemplateVersionInput,
) -> Result<UpdateEnvironmentTemplateVersionOutput, ProtonError> {
    let template = require_template(proton, ctx, &input.template_name).await?;
    let mut versions = all_versions(proton, ctx, &input.template_name).await?;
    let index = versions
        .iter()
        .position(|v| {
            v.value.version.major_version == input.major_version
                && v.value.version.minor_version == input.minor_version
        })
        .ok_or_else(|| {
            ProtonError::not_found(missing(
                &input.template_name,
                &input.major_version,
                &input.minor_version,
            )())
        })?;

    let current = versions[index].value.version.status;
    if let Some(status) = input.status {
        let allowed = matches!(
            (current, status),
            (
                TemplateVersionStatus::Draft | TemplateVersionStatus::Published,
                TemplateVersionStatus::Draft | TemplateVersionStatus::Published
            )
        );
        if !allowed {
            return Err(ProtonError::validation(format!(
                "A template version in status {current} cannot be set to {status}; only DRAFT \
                 and PUBLISHED versions can move between DRAFT and PUBLISHED."
            )));
        }
        versions[index].value.version.status = status;
    }
    if input.description.is_some() {
        versions[index].value.version.description = input.description;
    }
    versions[index].value.version.last_modified_at = Timestamp::now();

    let mut template_record = template.value.clone();
    let mut values: Vec<TemplateVersionRecord> = versions.iter().map(|v| v.value.clone()).collect();
    recommend(&mut template_record.template, &mut values);
    let mut writes = Vec::new();
    for (value, before) in values.iter().zip(&versions) {
        let changed = serde_json::to_vec(value).ok() != serde_json::to_vec(&before.value).ok()
            || std::ptr::eq(before, &versions[index]);
        if changed {
            writes.push(records::put(
                &ctx.partition(),
                value,
                Expect::Revision(before.revision),
            ));
        }
    }
    if template_record.template.recommended_version != template.value.template.recommended_version {
        writes.push(records::put(
            &ctx.partition(),
            &template_record,
            Expect::Revision(template.revision),
        ));
    }
    commit(proton.store.as_ref(), ctx, writes).await?;
    Ok(UpdateEnvironmentTemplateVersionOutput {
        environment_template_version: values[index].version.clone(),
    })
}

pub async fn delete(
    proton: &Proton,
    ctx: &RequestContext,
    input: DeleteEnvironmentTemplateVersionInput,
) -> Result<DeleteEnvironmentTemplateVersionOutput, ProtonError> {
    let (t, major, minor) = (
        &input.template_name,
        &input.major_version,
        &input.minor_version,
    );
    // Deletes are idempotent in Proton: deleting what is already gone succeeds, empty.
    let gone = DeleteEnvironmentTemplateVersionOutput {
        environment_template_version: None,
    };
    let store = proton.store.as_ref();
    let found = records::load::<TemplateRecord>(store, &ctx.partition(), t).await;
    let Some(template) = found.or_internal(ctx)? else {
        return Ok(gone);
    };
    let key = version_key(t, major, minor);
    let found = records::load::<TemplateVersionRecord>(store, &ctx.partition(), &key).await;
    let Some(stored) = found.or_internal(ctx)? else {
        return Ok(gone);
    };

    if let Some(user) = environment_using(proton, ctx, t, major, minor).await? {
        return Err(ProtonError::conflict(format!(
            "The environment template version {t}:{major}.{minor} is in use by the \
             environment {user}."
        )));
    }
    let mut versions = all_versions(proton, ctx, t).await?;
    let is_recommended = stored.value.version.recommended_minor_version.as_deref()
        == Some(minor.as_str())
        && stored.value.version.status == TemplateVersionStatus::Published;
    let others_in_major = versions
        .iter()
        .filter(|v| {
            v.value.version.major_version == *major && v.value.version.minor_version != *minor
        })
        .count();
    if is_recommended && others_in_major > 0 {
        return Err(ProtonError::conflict(format!(
            "The environment template version {t}:{major}.{minor} is the recommended version of \
             major version {major}; publish another minor version first or delete the others."
        )));
    }

    versions.retain(|v| {
        v.value.version.minor_version != *minor || v.value.version.major_version != *major
    });
    let mut template_record = template.value.clone();
    let mut values: Vec<TemplateVersionRecord> = versions.iter().map(|v| v.value.clone()).collect();
    recommend(&mut template_record.template, &mut values);
    let mut writes = vec![
        records::delete::<TemplateVersionRecord>(
            &ctx.partition(),
            &key,
            Expect::Revision(stored.revision),
        ),
        records::delete::<BundleRecord>(&ctx.partition(), &key, Expect::Any),
        records::delete::<TagsRecord>(&ctx.partition(), &stored.value.version.arn, Expect::Any),
    ];
    if template_record.template.recommended_version != template.value.template.recommended_version {
        writes.push(records::put(
            &ctx.partition(),
            &template_record,
            Expect::Revision(template.revision),
        ));
    }
    commit(proton.store.as_ref(), ctx, writes).await?;
    Ok(DeleteEnvironmentTemplateVersionOutput {
        environment_template_version: Some(stored.value.version),
    })
}

/// The name of an environment that shows, or is deploying, this version. Reads every
/// environment of the account: a deliberate simplicity while accounts hold thousands, not
/// millions, of environments.
async fn environment_using(
    proton: &Proton,
    ctx: &RequestContext,
    template: &str,
    major: &str,
    minor: &str,
) -> Result<Option<String>, ProtonError> {
    let query = ListQuery {
        limit: 1_000_000,
        ..Default::default()
    };
    let all = proton
        .store
        .list(&ctx.partition(), Kind::Environment, &query)
        .await
        .or_internal(ctx)?;
    let names = |state: &EnvironmentState| {
        state.template_name == template
            && state.template_major_version == major
            && state.template_minor_version == minor
    };
    for record in &all {
        let env = records::decode::<EnvironmentRecord>(record)
            .or_internal(ctx)?
            .value
            .environment;
        let shown = EnvironmentState {
            spec: None,
            template_major_version: env.template_major_version.clone(),
            template_minor_version: env.template_minor_version.clone(),
            template_name: env.template_name.clone(),
        };
        if names(&shown) {
            return Ok(Some(env.name));
        }
        // A deployment in flight needs its target version (to run) and its initial one (to
        // restore on cancel) until it ends.
        let Some(id) = env.last_attempted_deployment_id.as_deref() else {
            continue;
        };
        if !super::environments::in_flight(env.deployment_status) {
            continue;
        }
        let store = proton.store.as_ref();
        let deployment = records::load::<DeploymentRecord>(store, &ctx.partition(), id).await;
        let Some(deployment) = deployment.or_internal(ctx)? else {
            continue;
        };
        let d = deployment.value.deployment;
        let states = [d.target_state, d.initial_state];
        let in_use = states.iter().flatten().any(|s| match s {
            DeploymentState::Environment(state) => names(state),
            _ => false,
        });
        if in_use {
            return Ok(Some(env.name));
        }
    }
    Ok(None)
}
