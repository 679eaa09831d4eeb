//! The service layer: the one place where registry semantics live (uploads, blobs, manifests,
//! tags, referrers, repositories). Every surface calls it; none re-implements it.

pub mod pulls;
mod repositories;
mod settings;
mod uploads;

use crate::metadata::{
    BlobRecord, DeleteOutcome, ImageRecord, MetaError, MetadataStore, NewManifest,
    PutManifestError, Referrer, StoredManifest, MOUNT_CANDIDATES,
};
use crate::oci::manifest::{self, Manifest};
use crate::oci::{Algorithm, Digest, Reference, RepositoryName, Tag};
use crate::storage::{BlobStore, ByteStream, StorageError};
use std::ops::Range;
use std::sync::Arc;

pub use crate::metadata::MissingRepository;
pub use settings::{LifecycleMatch, BLOB_MOUNTING};
pub use uploads::{ChunkRange, UploadStatus};

/// Domain errors; each surface maps them to its own wire format.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("blob unknown to registry")]
    BlobUnknown,
    #[error("blob upload unknown to registry")]
    UploadUnknown,
    #[error("{0}")]
    UploadInvalid(String),
    /// A chunk that does not start where the upload ends; carries the upload's current size.
    #[error("chunk does not start at the end of the upload ({size} bytes received so far)")]
    RangeInvalid { size: u64 },
    #[error("{0}")]
    DigestInvalid(String),
    #[error("{0}")]
    ManifestInvalid(String),
    #[error("manifest references {0}, which is not in this repository")]
    ManifestBlobUnknown(Digest),
    #[error("manifest unknown to registry")]
    ManifestUnknown,
    #[error("repository name not known to registry")]
    NameUnknown,
    #[error("{0}")]
    SizeInvalid(String),
    #[error("{0}")]
    TagInvalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<MetaError> for RegistryError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Unavailable(m) => RegistryError::Unavailable(m),
            MetaError::Internal(m) => RegistryError::Internal(m),
            MetaError::RepositoryUnknown(_) => RegistryError::NameUnknown,
        }
    }
}

impl From<StorageError> for RegistryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Unavailable(m) => RegistryError::Unavailable(m),
            other => RegistryError::Internal(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, RegistryError>;

#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Uploads idle for longer than this are discarded, in seconds.
    pub upload_expiry_secs: u64,
    /// Whether a push to a repository that does not exist creates it (by a caller allowed to
    /// create it); off, such pushes fail with "repository unknown", as on ECR.
    pub create_on_push: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            max_manifest_bytes: 4 * 1024 * 1024,
            upload_expiry_secs: 24 * 3600,
            create_on_push: true,
        }
    }
}

pub struct Registry {
    meta: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    uploads: uploads::UploadLocks,
    pulls: pulls::PullRecorder,
    pub options: RegistryOptions,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A manifest accepted by `put_manifest`.
#[derive(Debug)]
pub struct PutManifestOutcome {
    pub digest: Digest,
    pub subject: Option<Digest>,
}

impl Registry {
    pub fn new(
        meta: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        options: RegistryOptions,
    ) -> Self {
        Registry {
            meta,
            blobs,
            uploads: Default::default(),
            pulls: Default::default(),
            options,
        }
    }

    /// Whether both stores answer.
    /// Whether both stores answer; the error names the one that does not.
    pub async fn ready(&self) -> std::result::Result<(), (&'static str, RegistryError)> {
        self.meta
            .ping()
            .await
            .map_err(|e| ("metadata store", e.into()))?;
        self.blobs
            .ping()
            .await
            .map_err(|e| ("blob store", e.into()))?;
        Ok(())
    }

    /// Whether the repository exists (it was pushed to, or created).
    pub async fn repository_exists(&self, repo: &RepositoryName) -> Result<bool> {
        Ok(self.meta.repository_exists(repo).await?)
    }

    /// What a push to `repo` does about the repository: `Refuse` when it exists (should it be
    /// deleted while the push runs, the push fails instead of bringing it back), `Create` when
    /// it does not and create-on-push is on (the surface must first make sure the caller may
    /// create it), `NameUnknown` when it does not and create-on-push is off.
    pub async fn push_creation(&self, repo: &RepositoryName) -> Result<MissingRepository> {
        if self.meta.repository_exists(repo).await? {
            Ok(MissingRepository::Refuse)
        } else if self.options.create_on_push {
            Ok(MissingRepository::Create)
        } else {
            Err(RegistryError::NameUnknown)
        }
    }

    // ---- blobs ----------------------------------------------------------------------------

    /// The size and location of a blob the repository holds.
    #[tracing::instrument(skip_all, fields(repo = %repo, digest = %digest))]
    pub async fn stat_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<BlobRecord> {
        self.meta
            .repository_blob(repo, digest)
            .await?
            .ok_or(RegistryError::BlobUnknown)
    }

    /// A URL the client may download the blob from directly, when the blob store redirects.
    pub async fn blob_redirect(&self, blob: &BlobRecord) -> Result<Option<String>> {
        Ok(self.blobs.redirect_url(&blob.location).await?)
    }

    /// Stream a validated byte range of a blob that the repository holds (`blob` comes from
    /// `stat_blob`).
    #[tracing::instrument(skip_all, fields(repo = %repo, digest = %digest))]
    pub async fn get_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        blob: &BlobRecord,
        range: Range<u64>,
    ) -> Result<ByteStream> {
        match self.blobs.get(&blob.location, Some(range)).await {
            Ok(s) => Ok(s),
            // Metadata must never point at missing bytes; if it does, say so loudly.
            Err(StorageError::NotFound) => {
                tracing::error!(%repo, %digest, "blob is linked but missing from storage");
                Err(RegistryError::BlobUnknown)
            }
            Err(e) => Err(e.into()),
        }
    }

    #[tracing::instrument(skip_all, fields(repo = %repo, digest = %digest))]
    pub async fn delete_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        match self.meta.unlink_blob(repo, digest).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(RegistryError::BlobUnknown),
            DeleteOutcome::Referenced(m) => Err(RegistryError::Conflict(format!(
                "blob is referenced by manifest {m}; delete the manifest first"
            ))),
        }
    }

    /// Cross-repository mount: link a blob that `from` holds into `repo` (a missing `repo` is
    /// created or refused as `missing` says). Returns the size, or `None` when `from` does not
    /// hold it or mounts are off (the caller falls back to a regular upload).
    #[tracing::instrument(skip_all, fields(repo = %repo, from = %from, digest = %digest))]
    pub async fn mount_blob(
        &self,
        repo: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
        missing: MissingRepository,
    ) -> Result<Option<u64>> {
        if !self.blob_mounting_enabled().await? {
            return Ok(None);
        }
        self.link_from(repo, from, digest, missing).await
    }

    /// A mount without a source repository: link the blob from the first repository holding it
    /// (by name, among the first `MOUNT_CANDIDATES`) that `readable` accepts. Returns the
    /// source and the size, or `None` when there is none or mounts are off.
    #[tracing::instrument(skip_all, fields(repo = %repo, digest = %digest))]
    pub async fn mount_blob_from_any(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        readable: impl Fn(&RepositoryName) -> bool,
        missing: MissingRepository,
    ) -> Result<Option<(RepositoryName, u64)>> {
        if !self.blob_mounting_enabled().await? {
            return Ok(None);
        }
        let holders = self
            .meta
            .repositories_with_blob(digest, MOUNT_CANDIDATES)
            .await?;
        for from in holders
            .iter()
            .filter_map(|n| n.parse::<RepositoryName>().ok())
        {
            if !readable(&from) {
                continue;
            }
            // The source may have lost the blob since it was listed: try the next one.
            if let Some(size) = self.link_from(repo, &from, digest, missing).await? {
                return Ok(Some((from, size)));
            }
        }
        Ok(None)
    }

    async fn link_from(
        &self,
        repo: &RepositoryName,
        from: &RepositoryName,
        digest: &Digest,
        missing: MissingRepository,
    ) -> Result<Option<u64>> {
        let Some(blob) = self.meta.repository_blob(from, digest).await? else {
            return Ok(None);
        };
        self.meta
            .link_blob(repo, digest, blob.size, now_ms(), missing)
            .await?;
        Ok(Some(blob.size))
    }

    // ---- manifests ------------------------------------------------------------------------

    /// Accept a manifest: parse, digest the exact bytes, check references, store, tag. A
    /// missing repository is created or refused as `missing` says.
    #[tracing::instrument(skip_all, fields(repo = %repo, reference = %reference))]
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        extra_tags: &[Tag],
        content_type: Option<&str>,
        content: &[u8],
        missing: MissingRepository,
    ) -> Result<PutManifestOutcome> {
        if content.len() > self.options.max_manifest_bytes {
            return Err(RegistryError::SizeInvalid(format!(
                "manifest is larger than {} bytes",
                self.options.max_manifest_bytes
            )));
        }
        let m: Manifest = manifest::parse(content_type, content)
            .map_err(|e| RegistryError::ManifestInvalid(e.to_string()))?;
        let mut tags = extra_tags.to_vec();
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = d.algorithm().digest(content);
                if &actual != d {
                    return Err(RegistryError::DigestInvalid(format!(
                        "manifest digest {actual} does not match {d} in the URL"
                    )));
                }
                actual
            }
            Reference::Tag(t) => {
                tags.insert(0, t.clone());
                Algorithm::Sha256.digest(content)
            }
        };
        tags.sort();
        tags.dedup();
        let r = self
            .meta
            .put_manifest(
                NewManifest {
                    repository: repo,
                    digest: &digest,
                    manifest: &m,
                    content,
                    tags: &tags,
                    now: now_ms(),
                },
                missing,
            )
            .await;
        match r {
            Ok(()) => Ok(PutManifestOutcome {
                digest,
                subject: m.subject.map(|s| s.digest),
            }),
            Err(PutManifestError::BlobUnknown(d)) | Err(PutManifestError::ManifestUnknown(d)) => {
                Err(RegistryError::ManifestBlobUnknown(d))
            }
            Err(PutManifestError::TagImmutable(t)) => Err(RegistryError::TagInvalid(format!(
                "The image tag '{t}' already exists in the '{repo}' repository and cannot be overwritten because the tag is immutable."
            ))),
            Err(PutManifestError::Meta(e)) => Err(e.into()),
        }
    }

    #[tracing::instrument(skip_all, fields(repo = %repo, reference = %reference))]
    pub async fn get_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let found = match reference {
            Reference::Digest(d) => self.meta.manifest_by_digest(repo, d).await?,
            Reference::Tag(t) => self.meta.manifest_by_tag(repo, t).await?,
        };
        found.ok_or(RegistryError::ManifestUnknown)
    }

    /// Note that a client pulled the manifest (a GET, not a HEAD); written by `flush_pulls`.
    pub fn record_pull(&self, repo: &RepositoryName, digest: &Digest) {
        self.pulls.note(repo.as_str(), digest, now_ms());
    }

    /// Write the pulls noted since the last flush.
    pub async fn flush_pulls(&self) -> Result<usize> {
        Ok(self.pulls.flush(self.meta.as_ref()).await?)
    }

    /// Delete by tag removes only the tag; delete by digest removes the manifest and its tags.
    #[tracing::instrument(skip_all, fields(repo = %repo, reference = %reference))]
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<()> {
        match reference {
            Reference::Tag(t) => {
                if self.meta.delete_tag(repo, t).await? {
                    Ok(())
                } else {
                    Err(RegistryError::ManifestUnknown)
                }
            }
            Reference::Digest(d) => match self.meta.delete_manifest(repo, d).await? {
                DeleteOutcome::Deleted => Ok(()),
                DeleteOutcome::NotFound => Err(RegistryError::ManifestUnknown),
                DeleteOutcome::Referenced(p) => Err(RegistryError::Conflict(format!(
                    "manifest is referenced by index {p}; delete the index first"
                ))),
            },
        }
    }

    /// Remove a tag, and the image with it when that was its last tag (ECR's BatchDeleteImage
    /// by tag; `/v2` deletes by tag only untag). An image an index still needs stays, untagged.
    /// Returns the digest the tag pointed at.
    #[tracing::instrument(skip_all, fields(repo = %repo, tag = %tag))]
    pub async fn untag_image(&self, repo: &RepositoryName, tag: &Tag) -> Result<Digest> {
        let m = self
            .get_manifest(repo, &Reference::Tag(tag.clone()))
            .await?;
        if !self.meta.delete_tag(repo, tag).await? {
            return Err(RegistryError::ManifestUnknown);
        }
        let digest = m.digest.to_string();
        let rest = self.meta.list_images(repo, Some(&digest), 1).await?;
        let untagged = rest
            .as_ref()
            .and_then(|r| r.first())
            .is_some_and(|i| i.digest == digest && i.tags.is_empty());
        if untagged {
            // A tag pushed in between is deleted with the image, as a concurrent delete by
            // digest would; an index referencing it keeps it.
            let _outcome = self.meta.delete_manifest(repo, &m.digest).await?;
        }
        Ok(m.digest)
    }

    // ---- listings -------------------------------------------------------------------------

    pub async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: u32,
    ) -> Result<Arc<Vec<String>>> {
        self.meta
            .list_tags(repo, last, limit)
            .await?
            .ok_or(RegistryError::NameUnknown)
    }

    /// Manifests from digest `from` on, with their tags, sizes and push times.
    pub async fn list_images(
        &self,
        repo: &RepositoryName,
        from: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ImageRecord>> {
        self.meta
            .list_images(repo, from, limit)
            .await?
            .ok_or(RegistryError::NameUnknown)
    }

    pub async fn catalog(&self, last: Option<&str>, limit: u32) -> Result<Vec<String>> {
        Ok(self.meta.list_repositories(last, limit).await?)
    }

    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>> {
        let mut r = self.meta.referrers(repo, subject).await?;
        if let Some(a) = artifact_type {
            r.retain(|x| x.artifact_type.as_deref() == Some(a));
        }
        Ok(r)
    }
}
