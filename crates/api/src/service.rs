//! [`Proton`]: the service that answers every operation protond implements. Operations it does
//! not override answer the generated "not implemented" error.

use std::sync::Arc;

use protond_bundle::{Limits, LocalObjectStore};
use protond_engine::Engine;
use protond_store::Store;
use protond_wire::*;

use crate::ops::{deployments, environments, retrying, tags, template_versions, templates};

/// The Proton service over a store, an engine and a bundle source.
pub struct Proton {
    /// Where records live.
    pub store: Arc<dyn Store>,
    /// What runs deployments.
    pub engine: Engine,
    /// Where `s3://bucket/key` bundle sources are read from.
    pub objects: Arc<LocalObjectStore>,
    /// Proton's bundle limits.
    pub limits: Limits,
}

impl Proton {
    /// The service; call [`Proton::resume_registrations`] once after start-up.
    pub fn new(store: Arc<dyn Store>, engine: Engine, objects: LocalObjectStore) -> Arc<Proton> {
        Arc::new(Proton {
            store,
            engine,
            objects: Arc::new(objects),
            limits: Limits::default(),
        })
    }

    /// Finishes the template version registrations that a stopped process left unfinished.
    pub async fn resume_registrations(self: &Arc<Self>) {
        template_versions::resume_registrations(self).await;
    }
}

impl ProtonService for Proton {
    async fn create_environment_template(
        &self,
        ctx: &RequestContext,
        input: CreateEnvironmentTemplateInput,
    ) -> Result<CreateEnvironmentTemplateOutput, ProtonError> {
        templates::create(self, ctx, input).await
    }

    async fn get_environment_template(
        &self,
        ctx: &RequestContext,
        input: GetEnvironmentTemplateInput,
    ) -> Result<GetEnvironmentTemplateOutput, ProtonError> {
        templates::get(self, ctx, input).await
    }

    async fn list_environment_templates(
        &self,
        ctx: &RequestContext,
        input: ListEnvironmentTemplatesInput,
    ) -> Result<ListEnvironmentTemplatesOutput, ProtonError> {
        templates::list(self, ctx, input).await
    }

    async fn update_environment_template(
        &self,
        ctx: &RequestContext,
        input: UpdateEnvironmentTemplateInput,
    ) -> Result<UpdateEnvironmentTemplateOutput, ProtonError> {
        retrying(|| templates::update(self, ctx, input.clone())).await
    }

    async fn delete_environment_template(
        &self,
        ctx: &RequestContext,
        input: DeleteEnvironmentTemplateInput,
    ) -> Result<DeleteEnvironmentTemplateOutput, ProtonError> {
        templates::delete(self, ctx, input).await
    }

    async fn create_environment_template_version(
        &self,
        ctx: &RequestContext,
        input: CreateEnvironmentTemplateVersionInput,
    ) -> Result<CreateEnvironmentTemplateVersionOutput, ProtonError> {
        template_versions::create(self, ctx, input).await
    }

    async fn get_environment_template_version(
        &self,
        ctx: &RequestContext,
        input: GetEnvironmentTemplateVersionInput,
    ) -> Result<GetEnvironmentTemplateVersionOutput, ProtonError> {
        template_versions::get(self, ctx, input).await
    }

    async fn list_environment_template_versions(
        &self,
        ctx: &RequestContext,
        input: ListEnvironmentTemplateVersionsInput,
    ) -> Result<ListEnvironmentTemplateVersionsOutput, ProtonError> {
        template_versions::list(self, ctx, input).await
    }

    async fn update_environment_template_version(
        &self,
        ctx: &RequestContext,
        input: UpdateEnvironmentTemplateVersionInput,
    ) -> Result<UpdateEnvironmentTemplateVersionOutput, ProtonError> {
        retrying(|| template_versions::update(self, ctx, input.clone())).await
    }

    async fn delete_environment_template_version(
        &self,
        ctx: &RequestContext,
        input: DeleteEnvironmentTemplateVersionInput,
    ) -> Result<DeleteEnvironmentTemplateVersionOutput, ProtonError> {
        template_versions::delete(self, ctx, input).await
    }

    async fn create_environment(
        &self,
        ctx: &RequestContext,
        input: CreateEnvironmentInput,
    ) -> Result<CreateEnvironmentOutput, ProtonError> {
        environments::create(self, ctx, input).await
    }

    async fn get_environment(
        &self,
        ctx: &RequestContext,
        input: GetEnvironmentInput,
    ) -> Result<GetEnvironmentOutput, ProtonError> {
        environments::get(self, ctx, input).await
    }

    async fn list_environments(
        &self,
        ctx: &RequestContext,
        input: ListEnvironmentsInput,
    ) -> Result<ListEnvironmentsOutput, ProtonError> {
        environments::list(self, ctx, input).await
    }

    async fn update_environment(
        &self,
        ctx: &RequestContext,
        input: UpdateEnvironmentInput,
    ) -> Result<UpdateEnvironmentOutput, ProtonError> {
        retrying(|| environments::update(self, ctx, input.clone())).await
    }

    async fn delete_environment(
        &self,
        ctx: &RequestContext,
        input: DeleteEnvironmentInput,
    ) -> Result<DeleteEnvironmentOutput, ProtonError> {
        retrying(|| environments::delete(self, ctx, input.clone())).await
    }

    async fn cancel_environment_deployment(
        &self,
        ctx: &RequestContext,
        input: CancelEnvironmentDeploymentInput,
    ) -> Result<CancelEnvironmentDeploymentOutput, ProtonError> {
        retrying(|| environments::cancel(self, ctx, input.clone())).await
    }

    async fn get_deployment(
        &self,
        ctx: &RequestContext,
        input: GetDeploymentInput,
    ) -> Result<GetDeploymentOutput, ProtonError> {
        deployments::get(self, ctx, input).await
    }

    async fn list_deployments(
        &self,
        ctx: &RequestContext,
        input: ListDeploymentsInput,
    ) -> Result<ListDeploymentsOutput, ProtonError> {
        deployments::list(self, ctx, input).await
    }

    async fn delete_deployment(
        &self,
        ctx: &RequestContext,
        input: DeleteDeploymentInput,
    ) -> Result<DeleteDeploymentOutput, ProtonError> {
        deployments::delete(self, ctx, input).await
    }

    async fn notify_resource_deployment_status_change(
        &self,
        ctx: &RequestContext,
        input: NotifyResourceDeploymentStatusChangeInput,
    ) -> Result<NotifyResourceDeploymentStatusChangeOutput, ProtonError> {
        deployments::notify(self, ctx, input).await
    }

    async fn list_environment_outputs(
        &self,
        ctx: &RequestContext,
        input: ListEnvironmentOutputsInput,
    ) -> Result<ListEnvironmentOutputsOutput, ProtonError> {
        deployments::list_outputs(self, ctx, input).await
    }

    async fn list_environment_provisioned_resources(
        &self,
        ctx: &RequestContext,
        input: ListEnvironmentProvisionedResourcesInput,
    ) -> Result<ListEnvironmentProvisionedResourcesOutput, ProtonError> {
        deployments::list_provisioned_resources(self, ctx, input).await
    }

    async fn tag_resource(
        &self,
        ctx: &RequestContext,
        input: TagResourceInput,
    ) -> Result<TagResourceOutput, ProtonError> {
        retrying(|| tags::tag(self, ctx, input.clone())).await
    }

    async fn untag_resource(
        &self,
        ctx: &RequestContext,
        input: UntagResourceInput,
    ) -> Result<UntagResourceOutput, ProtonError> {
        retrying(|| tags::untag(self, ctx, input.clone())).await
    }

    async fn list_tags_for_resource(
        &self,
        ctx: &RequestContext,
        input: ListTagsForResourceInput,
    ) -> Result<ListTagsForResourceOutput, ProtonError> {
        tags::list(self, ctx, input).await
    }
}
