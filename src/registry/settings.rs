//! Registry-wide configuration and lifecycle policies: stored here, evaluated with the pure
//! `crate::policy::lifecycle` module against the repository's images.

use super::{now_ms, Registry, Result};
use crate::metadata::{ImageRecord, LifecyclePolicyRecord, LifecyclePreviewRecord};
use crate::oci::RepositoryName;
use crate::policy::lifecycle::{self, Policy};

/// The account setting (ECR's `BLOB_MOUNTING`, set with PutAccountSetting) that turns
/// cross-repository blob mounts off when `DISABLED` (on by default).
pub const BLOB_MOUNTING: &str = "account:BLOB_MOUNTING";

/// Images read per metadata query while evaluating a policy.
const BATCH: u32 = 1000;

/// An image a lifecycle policy acts on.
#[derive(Debug, Clone)]
pub struct LifecycleMatch {
    pub image: ImageRecord,
    pub rule_priority: u32,
    pub action: lifecycle::RuleAction,
}

impl Registry {
    /// A registry-wide configuration document (JSON text), if set.
    pub async fn registry_setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self.meta.registry_setting(name).await?)
    }

    pub async fn put_registry_setting(&self, name: &str, value: &str) -> Result<()> {
        Ok(self
            .meta
            .put_registry_setting(name, value, now_ms())
            .await?)
    }

    /// Whether cross-repository mounts are on (`BLOB_MOUNTING` is not `DISABLED`).
    pub async fn blob_mounting_enabled(&self) -> Result<bool> {
        Ok(self.meta.registry_setting(BLOB_MOUNTING).await?.as_deref() != Some("DISABLED"))
    }

    /// The repository's lifecycle policy; the outer `None` if the repository does not exist.
    pub async fn lifecycle_policy(
        &self,
        repo: &RepositoryName,
    ) -> Result<Option<Option<LifecyclePolicyRecord>>> {
        Ok(self.meta.lifecycle_policy(repo).await?)
    }

    /// Set (`Some`, already validated) or remove (`None`) the lifecycle policy; returns the one
    /// replaced, and the outer `None` if the repository does not exist.
    pub async fn set_lifecycle_policy(
        &self,
        repo: &RepositoryName,
        text: Option<&str>,
    ) -> Result<Option<Option<LifecyclePolicyRecord>>> {
        Ok(self.meta.set_lifecycle_policy(repo, text).await?)
    }

    /// What `policy` would do to the repository's images at `now` (Unix ms), in the order the
    /// images are listed (by digest); `None` if the repository does not exist.
    ///
    /// Manifests an index lists are never acted on themselves: they go with their index, as
    /// on ECR ("images referenced by a manifest list are not expired until the list is").
    pub async fn evaluate_lifecycle(
        &self,
        repo: &RepositoryName,
        policy: &Policy,
        now: i64,
    ) -> Result<Option<Vec<LifecycleMatch>>> {
        let mut images: Vec<ImageRecord> = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let Some(page) = self.meta.list_images(repo, from.as_deref(), BATCH).await? else {
                return Ok(None);
            };
            let full = page.len() == BATCH as usize;
            // `from` is inclusive: skip the image the previous page ended with.
            let skip = usize::from(from.is_some());
            let last = page.last().map(|i| i.digest.clone());
            images.extend(page.into_iter().skip(skip));
            if !full {
                break;
            }
            from = last;
        }
        let inputs: Vec<lifecycle::Image<'_>> = images
            .iter()
            .map(|i| lifecycle::Image {
                digest: &i.digest,
                tags: &i.tags,
                pushed_at: i.pushed_at,
                last_pulled_at: i.last_pulled_at,
                storage_class: lifecycle::StorageClass::Standard,
                last_archived_at: None,
                last_activated_at: None,
            })
            .collect();
        let outcomes = lifecycle::evaluate(policy, &inputs, now);
        drop(inputs);
        Ok(Some(
            outcomes
                .into_iter()
                .filter(|o| !images[o.image].in_index)
                .map(|o| LifecycleMatch {
                    image: images[o.image].clone(),
                    rule_priority: o.rule_priority,
                    action: o.action,
                })
                .collect(),
        ))
    }

    /// Replace the repository's preview; false if the repository does not exist.
    pub async fn put_lifecycle_preview(
        &self,
        repo: &RepositoryName,
        preview: &LifecyclePreviewRecord,
    ) -> Result<bool> {
        Ok(self.meta.put_lifecycle_preview(repo, preview).await?)
    }

    pub async fn lifecycle_preview(
        &self,
        repo: &RepositoryName,
    ) -> Result<Option<LifecyclePreviewRecord>> {
        Ok(self.meta.lifecycle_preview(repo).await?)
    }
}
