//! Blob uploads: start, append (streamed or chunked), status, finish with digest check, cancel,
//! and expiry. Everything an upload needs to continue lives in its metadata row (size, saved
//! hash state, the blob store's state), so any request can go to any replica; appends are
//! recorded with a compare-and-set on the size, so racing requests cannot both count.

use super::{now_ms, MissingRepository, Registry, RegistryError, Result};
use crate::metadata::{UploadProgress, UploadRow};
use crate::oci::{Algorithm, Digest, Hasher, RepositoryName};
use crate::storage::{ByteStream, StorageError, UploadWriter};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::spawn_blocking;

/// Bytes gathered before one write + hash step: large enough to amortize the hand-offs,
/// small enough to keep memory per upload bounded (about `WRITE_BATCH * (PIPELINE_DEPTH + 2)`).
const WRITE_BATCH: usize = 512 * 1024;
const PIPELINE_DEPTH: usize = 2;

/// Per-upload locks: requests on one upload within this process run one at a time (across
/// replicas, `advance_upload`'s compare-and-set keeps them honest).
#[derive(Default)]
pub(super) struct UploadLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl UploadLocks {
    fn entry(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_owned()).or_default().clone()
    }
    fn remove(&self, id: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(id);
    }
}

#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    pub size: u64,
}

/// Where a chunk claims to go (`Content-Range: start-end`, inclusive).
#[derive(Debug, Clone, Copy)]
pub struct ChunkRange {
    pub start: u64,
    pub end: u64,
}

/// Upload bytes missing from storage mean the upload cannot continue: report it unknown.
fn storage_upload_error(e: StorageError) -> RegistryError {
    match e {
        StorageError::NotFound | StorageError::Truncated { .. } => {
            tracing::warn!(error = %e, "upload data missing from storage; reporting the upload unknown");
            RegistryError::UploadUnknown
        }
        other => other.into(),
    }
}

fn internal(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Internal(e.to_string())
}

impl Registry {
    #[tracing::instrument(skip_all, fields(repo = %repo))]
    pub async fn start_upload(
        &self,
        repo: &RepositoryName,
        algorithm: Algorithm,
    ) -> Result<UploadStatus> {
        let id = uuid::Uuid::new_v4().to_string();
        let storage_state = self.blobs.upload_start(&id).await?;
        let now = now_ms();
        let row = UploadRow {
            id: id.clone(),
            repository: repo.clone(),
            algorithm,
            size: 0,
            digest: None,
            created_at: now,
            updated_at: now,
            hash_state: algorithm.hasher().to_state(),
            storage_state,
        };
        if let Err(e) = self.meta.create_upload(&row).await {
            let _ = self.blobs.upload_abort(&id, &row.storage_state).await;
            return Err(e.into());
        }
        Ok(UploadStatus { id, size: 0 })
    }

    async fn upload_row(&self, repo: &RepositoryName, id: &str) -> Result<UploadRow> {
        match self.meta.get_upload(id).await? {
            Some(row) if &row.repository == repo => Ok(row),
            Some(_) => Err(RegistryError::UploadUnknown),
            None => {
                // No such upload: drop the lock entry the request created, so requests for
                // made-up ids cannot grow the map.
                self.uploads.remove(id);
                Err(RegistryError::UploadUnknown)
            }
        }
    }

    pub async fn upload_status(&self, repo: &RepositoryName, id: &str) -> Result<UploadStatus> {
        let row = self.upload_row(repo, id).await?;
        Ok(UploadStatus {
            id: row.id,
            size: row.size,
        })
    }

    /// Append a chunk (or a whole streamed body) to an upload.
    #[tracing::instrument(skip_all, fields(repo = %repo, upload = %id))]
    pub async fn append_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<UploadStatus> {
        let lock = self.uploads.entry(id);
        let _guard = lock.lock().await;
        let mut row = self.upload_row(repo, id).await?;
        self.append_locked(&mut row, range, body).await?;
        Ok(UploadStatus {
            id: row.id,
            size: row.size,
        })
    }

    /// Append `body` and record it; `row` is updated to the new state. Returns the hash of
    /// everything uploaded so far.
    async fn append_locked(
        &self,
        row: &mut UploadRow,
        range: Option<ChunkRange>,
        body: ByteStream,
    ) -> Result<Hasher> {
        if row.digest.is_some() {
            return Err(RegistryError::UploadInvalid(
                "the upload is complete; finish it with PUT".into(),
            ));
        }
        if let Some(r) = range {
            if r.start != row.size || r.end < r.start {
                return Err(RegistryError::RangeInvalid { size: row.size });
            }
        }
        let hasher = self.saved_hasher(row).await?;
        let writer = self
            .blobs
            .upload_writer(&row.id, row.size, &row.storage_state)
            .await
            .map_err(storage_upload_error)?;
        let (appended, hasher) = write_stream(writer, hasher, body).await?;
        if let Some(r) = range {
            if Some(appended.len - row.size) != (r.end - r.start).checked_add(1) {
                // The chunk was not what it claimed to be; nothing of it counts.
                return Err(RegistryError::RangeInvalid { size: row.size });
            }
        }
        let progress = UploadProgress {
            size: appended.len,
            hash_state: hasher.to_state(),
            storage_state: appended.state,
        };
        if !self
            .meta
            .advance_upload(&row.id, row.size, &progress, now_ms())
            .await?
        {
            // Another request (on another replica) appended or finished first.
            let now = self.meta.get_upload(&row.id).await?;
            return Err(match now {
                Some(r) if r.digest.is_none() => RegistryError::RangeInvalid { size: r.size },
                Some(_) => RegistryError::UploadInvalid("the upload is complete".into()),
                None => RegistryError::UploadUnknown,
            });
        }
        if let Err(e) = self
            .blobs
            .upload_superseded(&row.storage_state, &progress.storage_state)
            .await
        {
            tracing::warn!(upload = %row.id, error = %e, "cannot release superseded upload data");
        }
        row.size = progress.size;
        row.hash_state = progress.hash_state;
        row.storage_state = progress.storage_state;
        Ok(hasher)
    }

    /// The hash of the upload's recorded bytes, from the saved state (or, for rows without
    /// one, rebuilt by reading the stored bytes back).
    async fn saved_hasher(&self, row: &UploadRow) -> Result<Hasher> {
        match Hasher::from_state(&row.hash_state) {
            Ok(h) if h.len() == row.size && h.algorithm() == row.algorithm => Ok(h),
            _ => match self.rehash(row, row.algorithm).await? {
                Some(h) => Ok(h),
                None => Err(RegistryError::UploadUnknown),
            },
        }
    }

    /// Hash the upload's stored bytes with `algorithm`; `None` when the store cannot read an
    /// unfinished upload back.
    async fn rehash(&self, row: &UploadRow, algorithm: Algorithm) -> Result<Option<Hasher>> {
        let hasher = algorithm.hasher();
        if row.size == 0 {
            return Ok(Some(hasher));
        }
        let s = match self
            .blobs
            .upload_read(&row.id, row.size, &row.storage_state)
            .await
        {
            Ok(s) => s,
            Err(StorageError::Unsupported) => return Ok(None),
            Err(e) => return Err(storage_upload_error(e)),
        };
        hash_stream(s, hasher, row.size).await.map(Some)
    }

    /// Finish an upload: append the optional final chunk, verify the digest, make the blob
    /// durable and visible in the repository (a missing repository is created or refused as
    /// `missing` says; refused, the upload stays as it was for a retry or expiry).
    #[tracing::instrument(skip_all, fields(repo = %repo, upload = %id, digest = %digest))]
    pub async fn finish_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: &Digest,
        range: Option<ChunkRange>,
        body: Option<ByteStream>,
        missing: MissingRepository,
    ) -> Result<u64> {
        let lock = self.uploads.entry(id);
        let guard = lock.lock().await;
        let mut row = self.upload_row(repo, id).await?;
        // Whether the content must still be checked after the store commits it (a digest of
        // another algorithm than the upload's, on a store that cannot read uploads back).
        let mut verify_after_commit = false;
        if let Some(verified) = row.digest.clone() {
            // A crash interrupted the commit of this upload: finish it.
            if &verified != digest {
                return Err(RegistryError::DigestInvalid(format!(
                    "uploaded content has digest {verified}, not {digest}"
                )));
            }
            if body.is_some() {
                return Err(RegistryError::UploadInvalid(
                    "the upload is already complete".into(),
                ));
            }
        } else {
            let hasher = match body {
                Some(body) => self.append_locked(&mut row, range, body).await?,
                None => self.saved_hasher(&row).await?,
            };
            let computed = if digest.algorithm() == row.algorithm {
                Some(hasher.finish())
            } else {
                self.rehash(&row, digest.algorithm())
                    .await?
                    .map(Hasher::finish)
            };
            match computed {
                Some(c) if &c != digest => {
                    drop(guard);
                    self.discard_upload(&row).await?;
                    return Err(RegistryError::DigestInvalid(format!(
                        "uploaded content has digest {c}, not {digest}"
                    )));
                }
                Some(_) => self.meta.mark_upload_verified(id, digest).await?,
                None => verify_after_commit = true,
            }
        }
        let location = self
            .blobs
            .upload_commit(id, row.size, &row.storage_state, digest)
            .await
            .map_err(storage_upload_error)?;
        if verify_after_commit {
            let s = self.blobs.get(&location, None).await?;
            let c = hash_stream(s, digest.algorithm().hasher(), row.size)
                .await?
                .finish();
            if &c != digest {
                drop(guard);
                self.blobs.delete(&location).await?;
                self.discard_upload(&row).await?;
                return Err(RegistryError::DigestInvalid(format!(
                    "uploaded content has digest {c}, not {digest}"
                )));
            }
            self.meta.mark_upload_verified(id, digest).await?;
        }
        let kept = self
            .meta
            .complete_upload(id, repo, digest, row.size, &location, now_ms(), missing)
            .await?;
        if kept != location {
            // The blob was already stored (a concurrent or earlier upload): keep one copy.
            if let Err(e) = self.blobs.delete(&location).await {
                tracing::warn!(%location, error = %e, "cannot delete a duplicate blob copy");
            }
        }
        drop(guard);
        self.uploads.remove(id);
        Ok(row.size)
    }

    /// Cancel an upload.
    pub async fn cancel_upload(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        let lock = self.uploads.entry(id);
        let guard = lock.lock().await;
        let row = self.upload_row(repo, id).await?;
        drop(guard);
        self.discard_upload(&row).await
    }

    async fn discard_upload(&self, row: &UploadRow) -> Result<()> {
        self.meta.delete_upload(&row.id).await?;
        self.blobs.upload_abort(&row.id, &row.storage_state).await?;
        self.uploads.remove(&row.id);
        Ok(())
    }

    /// Upload a whole blob in one request (`POST ?digest=`); a missing repository is created
    /// or refused as `missing` says.
    pub async fn put_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: ByteStream,
        missing: MissingRepository,
    ) -> Result<u64> {
        let status = self.start_upload(repo, digest.algorithm()).await?;
        let r = self
            .finish_upload(repo, &status.id, digest, None, Some(body), missing)
            .await;
        if r.is_err() {
            if let Ok(Some(row)) = self.meta.get_upload(&status.id).await {
                let _ = self.discard_upload(&row).await;
            }
        }
        r
    }

    /// Discard uploads idle for longer than the configured expiry. Returns how many.
    pub async fn expire_uploads(&self) -> Result<usize> {
        let before = now_ms() - (self.options.upload_expiry_secs as i64) * 1000;
        let mut n = 0;
        loop {
            let ids = self.meta.stale_uploads(before, 100).await?;
            if ids.is_empty() {
                return Ok(n);
            }
            for id in ids {
                let lock = self.uploads.entry(&id);
                let _g = lock.lock().await;
                match self.meta.get_upload(&id).await? {
                    Some(row) => self.discard_upload(&row).await?,
                    None => self.uploads.remove(&id),
                }
                n += 1;
            }
        }
    }
}

/// Hash a stream that must hold exactly `len` bytes.
async fn hash_stream(mut s: ByteStream, mut hasher: Hasher, len: u64) -> Result<Hasher> {
    let mut seen = 0u64;
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(internal)?;
        seen += chunk.len() as u64;
        hasher = spawn_blocking(move || {
            hasher.update(&chunk);
            hasher
        })
        .await
        .map_err(internal)?;
    }
    if seen != len {
        return Err(RegistryError::UploadUnknown);
    }
    Ok(hasher)
}

/// Stream `body` into the writer in one pass: the request body is read, hashed and written
/// concurrently (a hashing thread and a writing task, each fed through a short bounded
/// channel), so memory per upload stays at a few batches whatever the blob's size.
async fn write_stream(
    mut writer: Box<dyn UploadWriter>,
    mut hasher: Hasher,
    body: ByteStream,
) -> Result<(crate::storage::Appended, Hasher)> {
    let (hash_tx, mut hash_rx) = mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let (write_tx, mut write_rx) = mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let hashing = spawn_blocking(move || {
        while let Some(b) = hash_rx.blocking_recv() {
            hasher.update(&b);
        }
        hasher
    });
    let writing = tokio::spawn(async move {
        while let Some(b) = write_rx.recv().await {
            writer.write(b).await?;
        }
        writer.finish().await
    });
    let pumped = pump(body, &hash_tx, &write_tx).await;
    drop((hash_tx, write_tx));
    let hasher = hashing.await.map_err(internal)?;
    let written = writing.await.map_err(internal)?;
    pumped?;
    Ok((written?, hasher))
}

/// Read the body into batches of `WRITE_BATCH` bytes and hand each to both pipeline stages.
async fn pump(
    mut body: ByteStream,
    hash_tx: &mpsc::Sender<Bytes>,
    write_tx: &mpsc::Sender<Bytes>,
) -> Result<()> {
    let mut buf = BytesMut::new();
    loop {
        let next = body.next().await;
        let done = match next {
            Some(Ok(chunk)) => {
                buf.extend_from_slice(&chunk);
                false
            }
            Some(Err(e)) => {
                return Err(RegistryError::UploadInvalid(format!(
                    "failed to read the request body: {e}"
                )))
            }
            None => true,
        };
        if buf.len() >= WRITE_BATCH || (done && !buf.is_empty()) {
            let batch = buf.split().freeze();
            let stalled = || internal("upload pipeline stopped");
            write_tx.send(batch.clone()).await.map_err(|_| stalled())?;
            hash_tx.send(batch).await.map_err(|_| stalled())?;
            buf.reserve(WRITE_BATCH);
        }
        if done {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::sqlite::SqliteStore;
    use crate::registry::RegistryOptions;
    use crate::storage::fs::FsBlobStore;
    use futures_util::stream;

    async fn registry(dir: &std::path::Path, expiry: u64) -> Registry {
        let meta = SqliteStore::open_temp(dir).await;
        let blobs = FsBlobStore::open(dir.join("s")).unwrap();
        Registry::new(
            Arc::new(meta),
            Arc::new(blobs),
            RegistryOptions {
                upload_expiry_secs: expiry,
                ..Default::default()
            },
        )
    }

    fn body(b: &'static [u8]) -> ByteStream {
        Box::pin(stream::iter(vec![Ok(Bytes::from_static(b))]))
    }

    #[tokio::test]
    async fn idle_uploads_expire_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 0).await;
        let repo: RepositoryName = "x/y".parse().unwrap();
        let s = reg.start_upload(&repo, Algorithm::Sha256).await.unwrap();
        reg.append_upload(&repo, &s.id, None, body(b"abc"))
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(reg.expire_uploads().await.unwrap(), 1);
        assert!(matches!(
            reg.upload_status(&repo, &s.id).await,
            Err(RegistryError::UploadUnknown)
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("s/uploads"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn fresh_uploads_do_not_expire() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 3600).await;
        let repo: RepositoryName = "x/y".parse().unwrap();
        let s = reg.start_upload(&repo, Algorithm::Sha256).await.unwrap();
        assert_eq!(reg.expire_uploads().await.unwrap(), 0);
        assert_eq!(reg.upload_status(&repo, &s.id).await.unwrap().size, 0);
    }

    #[tokio::test]
    async fn a_wrong_digest_discards_the_upload_and_publishes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 3600).await;
        let repo: RepositoryName = "x/y".parse().unwrap();
        let wrong = Algorithm::Sha256.digest(b"something else");
        let r = reg
            .put_blob(&repo, &wrong, body(b"abc"), MissingRepository::Create)
            .await;
        assert!(matches!(r, Err(RegistryError::DigestInvalid(_))));
        assert!(matches!(
            reg.stat_blob(&repo, &wrong).await,
            Err(RegistryError::BlobUnknown)
        ));
        assert_eq!(
            std::fs::read_dir(dir.path().join("s/uploads"))
                .unwrap()
                .count(),
            0
        );
        assert!(!reg.meta.repository_exists(&repo).await.unwrap());
    }

    #[tokio::test]
    async fn an_upload_that_may_not_create_its_repository_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 3600).await;
        let repo: RepositoryName = "x/gone".parse().unwrap();
        let d = Algorithm::Sha256.digest(b"abc");
        let r = reg
            .put_blob(&repo, &d, body(b"abc"), MissingRepository::Refuse)
            .await;
        assert!(matches!(r, Err(RegistryError::NameUnknown)), "{r:?}");
        assert!(!reg.meta.repository_exists(&repo).await.unwrap());
        assert!(reg
            .meta
            .repositories_with_blob(&d, 10)
            .await
            .unwrap()
            .is_empty());
        // The failed upload was discarded.
        assert_eq!(
            std::fs::read_dir(dir.path().join("s/uploads"))
                .unwrap()
                .count(),
            0
        );
        // Allowed to create, the same upload creates the repository.
        reg.put_blob(&repo, &d, body(b"abc"), MissingRepository::Create)
            .await
            .unwrap();
        assert_eq!(reg.stat_blob(&repo, &d).await.unwrap().size, 3);
    }

    #[tokio::test]
    async fn a_retry_completes_an_upload_whose_commit_was_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 3600).await;
        let repo: RepositoryName = "x/y".parse().unwrap();
        let d = Algorithm::Sha256.digest(b"abc");
        let s = reg.start_upload(&repo, Algorithm::Sha256).await.unwrap();
        reg.append_upload(&repo, &s.id, None, body(b"abc"))
            .await
            .unwrap();
        // What finish_upload does before a crash: verify, record, move into place.
        reg.meta.mark_upload_verified(&s.id, &d).await.unwrap();
        reg.blobs.upload_commit(&s.id, 3, "", &d).await.unwrap();
        assert!(matches!(
            reg.stat_blob(&repo, &d).await,
            Err(RegistryError::BlobUnknown)
        ));
        // Appending more is refused; a retry with another digest is refused; the right one completes.
        assert!(matches!(
            reg.append_upload(&repo, &s.id, None, body(b"x")).await,
            Err(RegistryError::UploadInvalid(_))
        ));
        let other = Algorithm::Sha256.digest(b"abd");
        assert!(matches!(
            reg.finish_upload(&repo, &s.id, &other, None, None, MissingRepository::Create)
                .await,
            Err(RegistryError::DigestInvalid(_))
        ));
        assert_eq!(
            reg.finish_upload(&repo, &s.id, &d, None, None, MissingRepository::Create)
                .await
                .unwrap(),
            3
        );
        assert_eq!(reg.stat_blob(&repo, &d).await.unwrap().size, 3);
        assert!(matches!(
            reg.upload_status(&repo, &s.id).await,
            Err(RegistryError::UploadUnknown)
        ));
    }

    #[tokio::test]
    async fn requests_for_unknown_uploads_leave_no_state_behind() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 3600).await;
        let repo: RepositoryName = "x/y".parse().unwrap();
        for _ in 0..3 {
            let id = uuid::Uuid::new_v4().to_string();
            let d = Algorithm::Sha256.digest(b"x");
            assert!(reg
                .append_upload(&repo, &id, None, body(b"x"))
                .await
                .is_err());
            assert!(reg
                .finish_upload(&repo, &id, &d, None, None, MissingRepository::Create)
                .await
                .is_err());
            assert!(reg.cancel_upload(&repo, &id).await.is_err());
        }
        assert_eq!(reg.uploads.0.lock().unwrap().len(), 0);
    }

    #[tokio::test]
    async fn an_upload_belongs_to_its_repository() {
        let dir = tempfile::tempdir().unwrap();
        let reg = registry(dir.path(), 3600).await;
        let a: RepositoryName = "a".parse().unwrap();
        let b: RepositoryName = "b".parse().unwrap();
        let s = reg.start_upload(&a, Algorithm::Sha256).await.unwrap();
        assert!(matches!(
            reg.append_upload(&b, &s.id, None, body(b"x")).await,
            Err(RegistryError::UploadUnknown)
        ));
        assert!(matches!(
            reg.cancel_upload(&b, &s.id).await,
            Err(RegistryError::UploadUnknown)
        ));
        reg.cancel_upload(&a, &s.id).await.unwrap();
    }
}
