//! Repositories as objects of their own: created with settings, described, configured, tagged
//! and deleted (the ECR API's repository operations). Pushes still create them implicitly.

use super::{now_ms, Registry, Result};
use crate::metadata::{
    DeleteRepositoryOutcome, RepositoryRecord, RepositorySettings, ResourceTagsOutcome,
    TagMutability,
};
use crate::oci::RepositoryName;

impl Registry {
    pub async fn repository(&self, repo: &RepositoryName) -> Result<Option<RepositoryRecord>> {
        Ok(self.meta.repository(repo).await?)
    }

    /// Create a repository; false if it already exists.
    pub async fn create_repository(
        &self,
        repo: &RepositoryName,
        settings: &RepositorySettings,
        tags: &[(String, String)],
    ) -> Result<bool> {
        Ok(self
            .meta
            .create_repository(repo, settings, tags, now_ms())
            .await?)
    }

    /// Repositories after `last`, sorted by name, with their settings.
    pub async fn describe_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RepositoryRecord>> {
        Ok(self.meta.describe_repositories(last, limit).await?)
    }

    pub async fn set_tag_mutability(
        &self,
        repo: &RepositoryName,
        mutability: TagMutability,
        exclusions: &[String],
    ) -> Result<bool> {
        Ok(self
            .meta
            .set_tag_mutability(repo, mutability, exclusions)
            .await?)
    }

    pub async fn set_scan_on_push(
        &self,
        repo: &RepositoryName,
        scan_on_push: bool,
    ) -> Result<bool> {
        Ok(self.meta.set_scan_on_push(repo, scan_on_push).await?)
    }

    /// Delete a repository (its blobs stay until garbage collection).
    pub async fn delete_repository(
        &self,
        repo: &RepositoryName,
        force: bool,
    ) -> Result<DeleteRepositoryOutcome> {
        Ok(self.meta.delete_repository(repo, force).await?)
    }

    pub async fn resource_tags(
        &self,
        repo: &RepositoryName,
    ) -> Result<Option<Vec<(String, String)>>> {
        Ok(self.meta.resource_tags(repo).await?)
    }

    pub async fn put_resource_tags(
        &self,
        repo: &RepositoryName,
        tags: &[(String, String)],
    ) -> Result<ResourceTagsOutcome> {
        Ok(self.meta.put_resource_tags(repo, tags).await?)
    }

    /// False if the repository does not exist.
    pub async fn delete_resource_tags(
        &self,
        repo: &RepositoryName,
        keys: &[String],
    ) -> Result<bool> {
        Ok(self.meta.delete_resource_tags(repo, keys).await?)
    }
}
