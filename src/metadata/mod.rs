//! Registry metadata: repositories, blob links, manifests, tags and uploads. One small trait;
//! SQLite (embedded) implements it here, and every implementation runs `suite`.

pub mod cache;
pub mod leases;
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
    /// A write that may not create its repository found it missing (see `MissingRepository`).
    #[error("repository {0} does not exist")]
    RepositoryUnknown(String),
}

/// What a push's write does when its repository does not exist: create it (create-on-push,
/// once the caller may create it), or fail with `MetaError::RepositoryUnknown`. A push to an
/// existing repository refuses, so a repository deleted while the push runs is not brought
/// back by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingRepository {
    Create,
    Refuse,
}

/// Candidates `repositories_with_blob` looks at, at most (a mount without `from`).
pub const MOUNT_CANDIDATES: u32 = 100;

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
    /// The tag points at another manifest and the repository keeps it immutable.
    #[error("tag {0} is immutable")]
    TagImmutable(String),
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

/// A manifest as image listings (ECR's ListImages and DescribeImages) show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub digest: String,
    pub media_type: String,
    /// `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
    /// The sizes of the blobs it references, without its own (for an index: the sizes of its
    /// manifests, each with its blobs).
    pub size: u64,
    /// Unix milliseconds of the last push.
    pub pushed_at: i64,
    /// Unix milliseconds of the last recorded pull (recorded in batches: see `record_pulls`).
    pub last_pulled_at: Option<i64>,
    /// An index in the repository lists it (it goes when the index goes).
    pub in_index: bool,
    /// Sorted.
    pub tags: Vec<String>,
}

/// A manifest pulled at a time (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub repository: String,
    pub digest: String,
    pub at: i64,
}

/// Whether tags may be moved to another manifest (ECR's `imageTagMutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagMutability {
    #[default]
    Mutable,
    Immutable,
    /// Immutable, except tags matching an exclusion filter.
    ImmutableWithExclusion,
    /// Mutable, except tags matching an exclusion filter.
    MutableWithExclusion,
}

impl TagMutability {
    pub const ALL: [TagMutability; 4] = [
        TagMutability::Mutable,
        TagMutability::Immutable,
        TagMutability::ImmutableWithExclusion,
        TagMutability::MutableWithExclusion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TagMutability::Mutable => "MUTABLE",
            TagMutability::Immutable => "IMMUTABLE",
            TagMutability::ImmutableWithExclusion => "IMMUTABLE_WITH_EXCLUSION",
            TagMutability::MutableWithExclusion => "MUTABLE_WITH_EXCLUSION",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether this mode takes exclusion filters (and requires them).
    pub fn has_exclusions(self) -> bool {
        matches!(
            self,
            TagMutability::ImmutableWithExclusion | TagMutability::MutableWithExclusion
        )
    }
}

/// A repository's settings, as the ECR API sets them; a repository created by a push has the
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositorySettings {
    pub tag_mutability: TagMutability,
    /// Wildcard filters (`*` matches any run of characters) for the `*_WITH_EXCLUSION` modes.
    pub exclusions: Vec<String>,
    pub scan_on_push: bool,
    pub encryption_type: String,
    pub kms_key: Option<String>,
}

impl Default for RepositorySettings {
    fn default() -> Self {
        RepositorySettings {
            tag_mutability: TagMutability::Mutable,
            exclusions: Vec::new(),
            scan_on_push: false,
            encryption_type: "AES256".into(),
            kms_key: None,
        }
    }
}

impl RepositorySettings {
    /// Whether `tag`, once it exists, may not be moved to another manifest.
    pub fn tag_is_immutable(&self, tag: &str) -> bool {
        let excluded = || {
            self.exclusions
                .iter()
                .any(|f| crate::policy::glob::wildcard_match(f, tag))
        };
        match self.tag_mutability {
            TagMutability::Mutable => false,
            TagMutability::Immutable => true,
            TagMutability::ImmutableWithExclusion => !excluded(),
            TagMutability::MutableWithExclusion => excluded(),
        }
    }

    /// The exclusions as stored: `[{"filterType":"WILDCARD","filter":"..."}]`.
    pub fn exclusions_json(&self) -> String {
        exclusions_json(&self.exclusions)
    }
}

pub(crate) fn exclusions_json(filters: &[String]) -> String {
    let v: Vec<serde_json::Value> = filters
        .iter()
        .map(|f| serde_json::json!({"filterType": "WILDCARD", "filter": f}))
        .collect();
    serde_json::Value::Array(v).to_string()
}

pub(crate) fn parse_exclusions(json: &str) -> MetaResult<Vec<String>> {
    let bad = || MetaError::Internal(format!("bad mutability exclusions {json:?} in database"));
    let v: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|_| bad())?;
    v.iter()
        .map(|f| {
            f.get("filter")
                .and_then(|f| f.as_str())
                .map(str::to_owned)
                .ok_or_else(bad)
        })
        .collect()
}

/// The mutability columns of a repository row, as `put_manifest` reads them.
pub(crate) fn push_settings(mutability: &str, exclusions: &str) -> MetaResult<RepositorySettings> {
    Ok(RepositorySettings {
        tag_mutability: TagMutability::parse(mutability).ok_or_else(|| {
            MetaError::Internal(format!("bad tag mutability {mutability:?} in database"))
        })?,
        exclusions: parse_exclusions(exclusions)?,
        ..Default::default()
    })
}

/// A repository with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRecord {
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
    pub settings: RepositorySettings,
}

/// The columns `repository_record` reads, in order.
pub(crate) const REPOSITORY_COLUMNS: &str = "name, created_at, tag_mutability, \
    mutability_exclusions, scan_on_push, encryption_type, kms_key";

pub(crate) type RepositoryColumns = (String, i64, String, String, bool, String, Option<String>);

pub(crate) fn lifecycle_record(
    (text, evaluated_at): (Option<String>, Option<i64>),
) -> Option<LifecyclePolicyRecord> {
    text.map(|text| LifecyclePolicyRecord { text, evaluated_at })
}

pub(crate) fn repository_record(c: RepositoryColumns) -> MetaResult<RepositoryRecord> {
    let (name, created_at, mutability, exclusions, scan_on_push, encryption_type, kms_key) = c;
    let pushed = push_settings(&mutability, &exclusions)?;
    Ok(RepositoryRecord {
        name,
        created_at,
        settings: RepositorySettings {
            scan_on_push,
            encryption_type,
            kms_key,
            ..pushed
        },
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteRepositoryOutcome {
    Deleted,
    NotFound,
    /// It still holds manifests and the delete was not forced.
    NotEmpty,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ResourceTagsOutcome {
    Done,
    NotFound,
    /// The repository would carry more than `MAX_RESOURCE_TAGS`.
    TooMany,
}

/// A repository's lifecycle policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicyRecord {
    pub text: String,
    /// Unix milliseconds of the last lifecycle run that evaluated it.
    pub evaluated_at: Option<i64>,
}

/// A repository's last lifecycle policy preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePreviewRecord {
    pub policy_text: String,
    pub status: String,
    /// Unix milliseconds.
    pub started_at: i64,
    /// The results, as the ECR layer serialised them.
    pub results: String,
}

/// Resource tags a repository may carry.
pub const MAX_RESOURCE_TAGS: i64 = 50;

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
    /// Repositories that hold `digest`, sorted by name, at most `limit`.
    async fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> MetaResult<Vec<String>>;
    /// Record that `digest`, a blob already known to the registry (mounted from another
    /// repository), belongs to the repository too; a missing repository is created or refused
    /// as `missing` says.
    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        now: i64,
        missing: MissingRepository,
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
    /// location wins and is returned: the caller then deletes the bytes it stored. A missing
    /// repository is created or refused as `missing` says (refused, nothing changes).
    #[allow(clippy::too_many_arguments)]
    async fn complete_upload(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        location: &str,
        now: i64,
        missing: MissingRepository,
    ) -> MetaResult<String>;
    /// Uploads not touched since `before`.
    async fn stale_uploads(&self, before: i64, limit: u32) -> MetaResult<Vec<String>>;

    /// Store a manifest and point `tags` at it, in one transaction, after checking that
    /// everything it references is in the repository. A missing repository is created or
    /// refused as `missing` says.
    async fn put_manifest(
        &self,
        m: NewManifest<'_>,
        missing: MissingRepository,
    ) -> Result<(), PutManifestError>;
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
    /// Record pull times in one transaction; a time never moves backwards, and manifests
    /// deleted meanwhile are skipped.
    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()>;
    /// Manifests whose digest is `from` or after it, sorted by digest, at most `limit`, each
    /// with its tags (untagged ones too); `None` if the repository does not exist.
    async fn list_images(
        &self,
        repo: &RepositoryName,
        from: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Vec<ImageRecord>>>;

    // ---- repositories as the ECR API manages them ----------------------------------------

    async fn repository(&self, repo: &RepositoryName) -> MetaResult<Option<RepositoryRecord>>;
    /// Create a repository with settings and resource tags; false if it already exists.
    async fn create_repository(
        &self,
        repo: &RepositoryName,
        settings: &RepositorySettings,
        tags: &[(String, String)],
        now: i64,
    ) -> MetaResult<bool>;
    /// Repositories after `last`, sorted by name, at most `limit`, with their settings.
    async fn describe_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Vec<RepositoryRecord>>;
    /// False if the repository does not exist.
    async fn set_tag_mutability(
        &self,
        repo: &RepositoryName,
        mutability: TagMutability,
        exclusions: &[String],
    ) -> MetaResult<bool>;
    /// False if the repository does not exist.
    async fn set_scan_on_push(&self, repo: &RepositoryName, scan_on_push: bool)
        -> MetaResult<bool>;
    /// Delete a repository, refusing if it holds manifests unless `force`. Forced, its
    /// manifests, tags, blob links and uploads go with it; the blobs stay for GC.
    async fn delete_repository(
        &self,
        repo: &RepositoryName,
        force: bool,
    ) -> MetaResult<DeleteRepositoryOutcome>;
    /// Resource tags sorted by key; `None` if the repository does not exist.
    async fn resource_tags(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Vec<(String, String)>>>;
    /// Add or overwrite resource tags (at most `MAX_RESOURCE_TAGS` in all).
    async fn put_resource_tags(
        &self,
        repo: &RepositoryName,
        tags: &[(String, String)],
    ) -> MetaResult<ResourceTagsOutcome>;
    /// Remove resource tags by key; false if the repository does not exist.
    async fn delete_resource_tags(
        &self,
        repo: &RepositoryName,
        keys: &[String],
    ) -> MetaResult<bool>;

    // ---- registry configuration and lifecycle policies -----------------------------------

    /// A registry-wide configuration document.
    async fn registry_setting(&self, name: &str) -> MetaResult<Option<String>>;
    async fn put_registry_setting(&self, name: &str, value: &str, now: i64) -> MetaResult<()>;
    /// The repository's lifecycle policy; the outer `None` if the repository does not exist.
    async fn lifecycle_policy(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>>;
    /// Set (`Some`) or remove (`None`) the lifecycle policy, returning the one it replaces;
    /// the outer `None` if the repository does not exist.
    async fn set_lifecycle_policy(
        &self,
        repo: &RepositoryName,
        text: Option<&str>,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>>;
    /// Replace the repository's preview; false if the repository does not exist.
    async fn put_lifecycle_preview(
        &self,
        repo: &RepositoryName,
        preview: &LifecyclePreviewRecord,
    ) -> MetaResult<bool>;
    /// The repository's last preview (`None` if none or no repository).
    async fn lifecycle_preview(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<LifecyclePreviewRecord>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutability_modes() {
        let s = |m, ex: &[&str]| RepositorySettings {
            tag_mutability: m,
            exclusions: ex.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(!s(TagMutability::Mutable, &[]).tag_is_immutable("v1"));
        assert!(s(TagMutability::Immutable, &[]).tag_is_immutable("v1"));
        let ie = s(TagMutability::ImmutableWithExclusion, &["latest", "dev-*"]);
        assert!(ie.tag_is_immutable("v1"));
        assert!(!ie.tag_is_immutable("dev-3"));
        let me = s(TagMutability::MutableWithExclusion, &["release-*"]);
        assert!(me.tag_is_immutable("release-1"));
        assert!(!me.tag_is_immutable("latest"));
        assert_eq!(
            parse_exclusions(&ie.exclusions_json()).unwrap(),
            ie.exclusions
        );
    }
}
