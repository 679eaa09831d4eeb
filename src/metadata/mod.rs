//! Registry metadata: repositories, blob links, manifests, tags and uploads. One small trait;
//! SQLite (embedded) implements it here, and every implementation runs `suite`.

pub mod cache;
pub mod postgres;
pub mod sqlite;
#[doc(hidden)]
pub mod suite; // the behaviour suite, shared with tests/backends

use crate::oci::manifest::Manifest;
use crate::oci::{Algorithm, Digest, RepositoryName, Tag};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The database cannot be reached or is overloaded; the request may be retried.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    #[error("metadata store error: {0}")]
    Internal(String),
}

pub type MetaResult<T> = Result<T, MetaError>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub id: String,
    pub repository: RepositoryName,
    pub algorithm: Algorithm,
    pub size: u64,
    /// The verified digest, once the upload is being committed.
    pub digest: Option<Digest>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The saved hash state of the first `size` bytes (`Hasher::to_state`).
    pub hash_state: Vec<u8>,
    /// The blob store's own state for this upload (opaque here; multipart ids and parts on S3).
    pub storage_state: String,
}

/// What an append changed: the new size, hash state and storage state of an upload.
#[derive(Debug, Clone)]
pub struct UploadProgress {
    pub size: u64,
    pub hash_state: Vec<u8>,
    pub storage_state: String,
}

/// A blob as a repository sees it: its size and where the blob store keeps its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRecord {
    pub size: u64,
    pub location: String,
}

#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub content: bytes::Bytes,
}

/// A manifest to store, already parsed and digested by the registry layer.
pub struct NewManifest<'a> {
    pub repository: &'a RepositoryName,
    pub digest: &'a Digest,
    pub manifest: &'a Manifest,
    pub content: &'a [u8],
    pub tags: &'a [Tag],
    pub now: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum PutManifestError {
    #[error("blob {0} is not in the repository")]
    BlobUnknown(Digest),
    #[error("manifest {0} referenced by the index is not in the repository")]
    ManifestUnknown(Digest),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    NotFound,
    /// Something in the repository still references it (the digest of one referrer).
    Referenced(String),
}

/// A manifest that names another as its `subject`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> MetaResult<()>;

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool>;
    /// Repository names after `last`, sorted, at most `limit`.
    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> MetaResult<Vec<String>>;

    /// The size and location of `digest` if the repository holds it.
    async fn repository_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<BlobRecord>>;
    /// Record that `digest`, a blob already known to the registry (mounted from another
    /// repository), belongs to the repository too, creating the repository on first use.
    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        now: i64,
    ) -> MetaResult<()>;
    /// Remove a blob from a repository unless a manifest there still needs it.
    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome>;

    async fn create_upload(&self, upload: &UploadRow) -> MetaResult<()>;
    async fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>>;
    /// Record an append, only if the upload is still `from_size` bytes long and unverified
    /// (two replicas may race on one upload). Returns whether it was recorded.
    async fn advance_upload(
        &self,
        id: &str,
        from_size: u64,
        progress: &UploadProgress,
        now: i64,
    ) -> MetaResult<bool>;
    async fn delete_upload(&self, id: &str) -> MetaResult<()>;
    /// Record that the upload's content is verified as `digest` and is being moved into place.
    async fn mark_upload_verified(&self, id: &str, digest: &Digest) -> MetaResult<()>;
    /// Record the committed blob (stored at `location`), link it into the repository and
    /// forget the upload, in one transaction. When the blob was already known, its existing
    /// location wins and is returned: the caller then deletes the bytes it stored.
    async fn complete_upload(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        location: &str,
        now: i64,
    ) -> MetaResult<String>;
    /// Uploads not touched since `before`.
    async fn stale_uploads(&self, before: i64, limit: u32) -> MetaResult<Vec<String>>;

    /// Store a manifest and point `tags` at it, in one transaction, after checking that
    /// everything it references is in the repository.
    async fn put_manifest(&self, m: NewManifest<'_>) -> Result<(), PutManifestError>;
    async fn manifest_by_digest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<StoredManifest>>;
    async fn manifest_by_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> MetaResult<Option<StoredManifest>>;
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool>;
    /// Delete a manifest and every tag on it, unless an index in the repository needs it.
    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome>;
    /// Tags after `last`, sorted, at most `limit`; `None` if the repository does not exist.
    /// Shared, because a page may be served from a cache.
    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<std::sync::Arc<Vec<String>>>>;
    async fn referrers(&self, repo: &RepositoryName, subject: &Digest)
        -> MetaResult<Vec<Referrer>>;
}
