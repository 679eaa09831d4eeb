//! Blob storage: content-addressed bytes and in-progress uploads. The trait is small on purpose;
//! every implementation runs the same behaviour suite (`suite`).

pub mod fs;
#[cfg(test)]
pub mod suite;

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
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// The size of a stored blob, or `None` when it is absent.
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError>;
    /// Stream a blob, or the byte range `range` of it (already validated against its size).
    async fn get(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError>;
    /// Remove a blob's bytes (garbage collection only; metadata must no longer point at it).
    async fn delete(&self, digest: &Digest) -> Result<(), StorageError>;

    /// Create the storage side of a new upload.
    async fn upload_start(&self, id: &str) -> Result<(), StorageError>;
    /// Open an upload for appending at `offset`; data past `offset` (from a write that was
    /// never acknowledged) is discarded.
    async fn upload_writer(
        &self,
        id: &str,
        offset: u64,
    ) -> Result<Box<dyn UploadWriter>, StorageError>;
    /// Read back the first `len` bytes of an upload (to rebuild a hash state after a restart).
    async fn upload_read(&self, id: &str, len: u64) -> Result<ByteStream, StorageError>;
    /// Make the first `len` bytes of the upload durable and visible as blob `digest`.
    async fn upload_commit(&self, id: &str, len: u64, digest: &Digest) -> Result<(), StorageError>;
    /// Discard an upload. Absent uploads are not an error.
    async fn upload_abort(&self, id: &str) -> Result<(), StorageError>;
}

#[async_trait]
pub trait UploadWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError>;
    /// Complete this request's writes; returns the upload's total length. Durability is
    /// guaranteed by `upload_commit`; an acknowledged chunk that a power loss takes away is
    /// detected on resume (the stored upload is shorter than recorded, or its digest differs).
    async fn finish(self: Box<Self>) -> Result<u64, StorageError>;
}
