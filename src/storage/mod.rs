//! Blob storage: content-addressed bytes and in-progress uploads. The trait is small on purpose;
//! every implementation runs the same behaviour suite (`suite`).

pub mod cache;
pub mod fs;
pub mod s3;
#[doc(hidden)]
pub mod suite; // the behaviour suite, shared with tests/backends

use crate::oci::Digest;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::ops::Range;

pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("not found in storage")]
    NotFound,
    #[error("upload data is shorter than the {want} bytes recorded")]
    Truncated { want: u64 },
    /// The store cannot do this (reading back an unfinished S3 multipart upload).
    #[error("not supported by this blob store")]
    Unsupported,
    /// The object store cannot be reached or refused the request for now; retrying may work.
    #[error("object store unavailable: {0}")]
    Unavailable(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What an upload request appended: the upload's new length and the store's new state for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub len: u64,
    pub state: String,
}

/// Where bytes live. Blobs are addressed by a *location* that the store chose when the upload
/// was committed and that metadata records (`blobs.location`): the filesystem store uses the
/// digest itself, the S3 store the object key of the multipart upload (so completing an upload
/// never copies). Uploads carry an opaque *state* string that the registry persists with the
/// upload row and hands back on the next request, so that any replica can continue any upload.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StorageError> {
        Ok(())
    }
    /// The size of a stored blob, or `None` when it is absent.
    async fn stat(&self, location: &str) -> Result<Option<u64>, StorageError>;
    /// Stream a blob, or the byte range `range` of it (already validated against its size).
    async fn get(
        &self,
        location: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError>;
    /// A short-lived URL from which a client can fetch the blob itself, when the store is set
    /// up to redirect blob downloads.
    async fn redirect_url(&self, _location: &str) -> Result<Option<String>, StorageError> {
        Ok(None)
    }
    /// Remove a blob's bytes (metadata must no longer point at them). Absent is not an error.
    async fn delete(&self, location: &str) -> Result<(), StorageError>;

    /// Create the storage side of a new upload; returns its initial state.
    async fn upload_start(&self, id: &str) -> Result<String, StorageError>;
    /// Open an upload for appending at `offset`, as recorded with `state`; data past it (from a
    /// write that was never acknowledged) is discarded.
    async fn upload_writer(
        &self,
        id: &str,
        offset: u64,
        state: &str,
    ) -> Result<Box<dyn UploadWriter>, StorageError>;
    /// Read back the first `len` bytes of an upload (`Unsupported` where the store cannot).
    async fn upload_read(
        &self,
        id: &str,
        len: u64,
        state: &str,
    ) -> Result<ByteStream, StorageError>;
    /// Make the first `len` bytes of the upload durable as the blob `digest` (already verified)
    /// and return its location. Idempotent: after a crash, committing again returns the same
    /// location.
    async fn upload_commit(
        &self,
        id: &str,
        len: u64,
        state: &str,
        digest: &Digest,
    ) -> Result<String, StorageError>;
    /// Discard an upload. Absent uploads are not an error.
    async fn upload_abort(&self, id: &str, state: &str) -> Result<(), StorageError>;
    /// The registry recorded `new` in place of `old`: release what only `old` needed.
    async fn upload_superseded(&self, _old: &str, _new: &str) -> Result<(), StorageError> {
        Ok(())
    }
}

#[async_trait]
pub trait UploadWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;
    /// Complete this request's writes; returns the upload's total length and new state.
    /// Durability is guaranteed by `upload_commit`; an acknowledged chunk that a power loss
    /// takes away is detected on resume (the stored upload is shorter than recorded, or its
    /// digest differs).
    async fn finish(self: Box<Self>) -> Result<Appended, StorageError>;
}
