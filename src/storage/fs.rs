//! Filesystem blob store: `blobs/<alg>/<2 hex>/<hex>` and `uploads/<id>`. Writes are made
//! durable with fsync, and an upload becomes a blob by an atomic rename followed by a
//! directory fsync, so a crash never leaves a partial blob under a digest name. A blob's
//! location is its digest; uploads need no state beyond their file.

use super::{Appended, BlobStore, ByteStream, StorageError, UploadWriter};
use crate::oci::Digest;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
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

    /// The path of the blob at `location` (a digest; anything else is not found).
    fn location_path(&self, location: &str) -> Result<PathBuf, StorageError> {
        let d: Digest = location.parse().map_err(|_| StorageError::NotFound)?;
        Ok(self.blob_path(&d))
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

/// Stream a byte range of a file: one blocking thread reads large buffers and hands them over
/// a short channel (one copy, no per-read hop through the blocking pool).
pub(crate) async fn stream_file(
    path: PathBuf,
    range: Range<u64>,
) -> Result<ByteStream, StorageError> {
    let start = range.start;
    let f = spawn_blocking(move || -> std::io::Result<File> {
        let mut f = File::open(&path)?;
        if start > 0 {
            f.seek(SeekFrom::Start(start))?;
        }
        Ok(f)
    })
    .await
    .map_err(|e| StorageError::Io(std::io::Error::other(e)))?
    .map_err(not_found)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    let mut left = range.end - range.start;
    spawn_blocking(move || {
        let mut f = f;
        while left > 0 {
            let n = left.min(READ_BUF as u64);
            let mut v = Vec::with_capacity(n as usize);
            let r = match (&mut f).take(n).read_to_end(&mut v) {
                Ok(0) => Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "blob is shorter than expected",
                )),
                Ok(got) => {
                    left -= got as u64;
                    Ok(Bytes::from(v))
                }
                Err(e) => Err(e),
            };
            let failed = r.is_err();
            // A closed channel means the client went away.
            if tx.blocking_send(r).is_err() || failed {
                return;
            }
        }
    });
    Ok(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed())
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn stat(&self, location: &str) -> Result<Option<u64>, StorageError> {
        let path = match self.location_path(location) {
            Ok(p) => p,
            Err(_) => return Ok(None),
        };
        match tokio::fs::metadata(path).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn get(
        &self,
        location: &str,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream, StorageError> {
        let path = self.location_path(location)?;
        let range = match range {
            Some(r) => r,
            None => 0..tokio::fs::metadata(&path).await.map_err(not_found)?.len(),
        };
        stream_file(path, range).await
    }

    async fn delete(&self, location: &str) -> Result<(), StorageError> {
        let Ok(path) = self.location_path(location) else {
            return Ok(());
        };
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn upload_start(&self, id: &str) -> Result<String, StorageError> {
        let path = self.upload_path(id);
        blocking(move || {
            File::create(&path)?;
            Ok(String::new())
        })
        .await
    }

    async fn upload_writer(
        &self,
        id: &str,
        offset: u64,
        _state: &str,
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
            unsynced: 0,
            syncing: None,
        }))
    }

    async fn upload_read(
        &self,
        id: &str,
        len: u64,
        _state: &str,
    ) -> Result<ByteStream, StorageError> {
        stream_file(self.upload_path(id), 0..len).await
    }

    async fn upload_commit(
        &self,
        id: &str,
        len: u64,
        _state: &str,
        digest: &Digest,
    ) -> Result<String, StorageError> {
        let from = self.upload_path(id);
        let to = self.blob_path(digest);
        let location = digest.to_string();
        blocking(move || {
            let f = match OpenOptions::new().write(true).open(&from) {
                Ok(f) => f,
                // Moved into place before a crash: committing again finds the blob there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return match fs::metadata(&to) {
                        Ok(m) if m.len() == len => Ok(location),
                        _ => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
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
            Ok(location)
        })
        .await
        .map_err(|e| match e {
            StorageError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                StorageError::NotFound
            }
            other => other,
        })
    }

    async fn upload_abort(&self, id: &str, _state: &str) -> Result<(), StorageError> {
        match tokio::fs::remove_file(self.upload_path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Start writing dirty pages back this often, so the fsync at commit finds little left to do.
const BACKGROUND_SYNC_BYTES: u64 = 32 * 1024 * 1024;

struct FsUploadWriter {
    file: Option<File>,
    len: u64,
    unsynced: u64,
    /// An fsync running on another thread while writes continue.
    syncing: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl FsUploadWriter {
    async fn wait_sync(&mut self) -> Result<(), StorageError> {
        if let Some(h) = self.syncing.take() {
            h.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
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
        self.len += n;
        self.unsynced += n;
        if self.unsynced >= BACKGROUND_SYNC_BYTES {
            let done = self.syncing.as_ref().is_none_or(|h| h.is_finished());
            if done {
                self.wait_sync().await?;
                let clone = f.try_clone()?;
                self.syncing = Some(spawn_blocking(move || clone.sync_data()));
                self.unsynced = 0;
            }
        }
        self.file = Some(f);
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<Appended, StorageError> {
        self.wait_sync().await?;
        Ok(Appended {
            len: self.len,
            state: String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn filesystem_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::FsBlobStore::open(dir.path()).unwrap();
        crate::storage::suite::run(&store, "").await;
    }
}
