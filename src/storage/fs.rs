//! Filesystem blob store: `blobs/<alg>/<2 hex>/<hex>` and `uploads/<id>`. Writes are made
//! durable with fsync, and an upload becomes a blob by an atomic rename followed by a
//! directory fsync, so a crash never leaves a partial blob under a digest name.

use super::{BlobStore, ByteStream, StorageError, UploadWriter};
use crate::oci::Digest;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::task::spawn_blocking;

const READ_BUF: usize = 512 * 1024;

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn open(root: impl Into<PathBuf>) -> std::io::Result<Self> {
        let root = root.into();
        fs::create_dir_all(root.join("blobs"))?;
        fs::create_dir_all(root.join("uploads"))?;
        Ok(FsBlobStore { root })
    }

    fn blob_path(&self, d: &Digest) -> PathBuf {
        let hex = d.hex();
        self.root
            .join("blobs")
            .join(d.algorithm().as_str())
            .join(&hex[..2])
            .join(hex)
    }

    fn upload_path(&self, id: &str) -> PathBuf {
        debug_assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        self.root.join("uploads").join(id)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    spawn_blocking(f)
        .await
        .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
        .map_err(StorageError::from)
}

fn not_found(e: std::io::Error) -> StorageError {
    if e.kind() == std::io::ErrorKind::NotFound {
        StorageError::NotFound
    } else {
        StorageError::Io(e)
    }
}

fn sync_dir(p: &Path) -> std::io::Result<()> {
    File::open(p)?.sync_all()
}

async fn stream_file(path: PathBuf, range: Range<u64>) -> Result<ByteStream, StorageError> {
    let mut f = tokio::fs::File::open(&path).await.map_err(not_found)?;
    if range.start > 0 {
        f.seek(SeekFrom::Start(range.start)).await?;
    }
    let reader = f.take(range.end - range.start);
    Ok(tokio_util::io::ReaderStream::with_capacity(reader, READ_BUF).boxed())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        match tokio::fs::metadata(self.blob_path(digest)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn get(
        &self,
        digest: &Digest,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let path = self.blob_path(digest);
        let range = match range {
            Some(r) => r,
            None => 0..tokio::fs::metadata(&path).await.map_err(not_found)?.len(),
        };
        stream_file(path, range).await
    }

    async fn delete(&self, digest: &Digest) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.blob_path(digest)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn upload_start(&self, id: &str) -> Result<(), StorageError> {
        let path = self.upload_path(id);
        blocking(move || {
            File::create(&path)?;
            Ok(())
        })
        .await
    }

    async fn upload_writer(
        &self,
        id: &str,
        offset: u64,
    ) -> Result<Box<dyn UploadWriter>, StorageError> {
        let path = self.upload_path(id);
        let file = blocking(move || {
            let mut f = OpenOptions::new().write(true).open(&path)?;
            let have = f.metadata()?.len();
            if have < offset {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("upload has {have} bytes, {offset} recorded"),
                ));
            }
            if have > offset {
                f.set_len(offset)?;
            }
            f.seek(SeekFrom::Start(offset))?;
            Ok(f)
        })
        .await
        .map_err(|e| match e {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StorageError::NotFound
            }
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                StorageError::Truncated { want: offset }
            }
            other => other,
        })?;
        Ok(Box::new(FsUploadWriter {
            file: Some(file),
            len: offset,
        }))
    }

    async fn upload_read(&self, id: &str, len: u64) -> Result<ByteStream, StorageError> {
        stream_file(self.upload_path(id), 0..len).await
    }

    async fn upload_commit(&self, id: &str, len: u64, digest: &Digest) -> Result<(), StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        blocking(move || {
            let f = OpenOptions::new().write(true).open(&from)?;
            if f.metadata()?.len() != len {
                f.set_len(len)?;
            }
            f.sync_all()?;
            drop(f);
            let dir = to.parent().expect("blob path has a parent");
            let made = !dir.exists();
            fs::create_dir_all(dir)?;
            fs::rename(&from, &to)?;
            sync_dir(dir)?;
            if made {
                // The new fan-out directory's own entry must be durable too.
                if let Some(parent) = dir.parent() {
                    sync_dir(parent)?;
                    if let Some(grand) = parent.parent() {
                        sync_dir(grand)?;
                    }
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| match e {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StorageError::NotFound
            }
            other => other,
        })
    }

    async fn upload_abort(&self, id: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

struct FsUploadWriter {
    file: Option<File>,
    len: u64,
}

#[async_trait]
impl UploadWriter for FsUploadWriter {
    async fn write(&mut self, chunk: Bytes) -> Result<(), StorageError> {
        let mut f = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("upload writer used after a failed write"))?;
        let n = chunk.len() as u64;
        let f = blocking(move || {
            f.write_all(&chunk)?;
            Ok(f)
        })
        .await?;
        self.file = Some(f);
        self.len += n;
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StorageError> {
        let f = self
            .file
            .take()
            .ok_or_else(|| std::io::Error::other("upload writer used after a failed write"))?;
        blocking(move || f.sync_data()).await?;
        Ok(self.len)
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn filesystem_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::FsBlobStore::open(dir.path()).unwrap();
        crate::storage::suite::run(&store).await;
    }
}
