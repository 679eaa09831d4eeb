//! SQLite metadata for the embedded deployment: one file in WAL mode, one writer connection
//! (writes are serialized in-process, so transactions never fight over the lock) and a pool
//! of read-only connections for the hot read paths.
//!
//! The embedded deployment owns its database exclusively (the data directory is locked), so
//! `metadata::cache::CachedStore` in front of it sees every write and keeps its cache exact.

use super::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// Map a database error (shared with the identity store, which uses the same database).
pub(crate) fn sql_err(e: sqlx::Error) -> MetaError {
    err(e)
}

fn err(e: sqlx::Error) -> MetaError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            MetaError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(d)
            if d.message().contains("locked") || d.message().contains("busy") =>
        {
            MetaError::Unavailable(e.to_string())
        }
        _ => MetaError::Internal(e.to_string()),
    }
}

fn opt_digest(s: Option<String>) -> MetaResult<Option<Digest>> {
    s.map(|s| {
        s.parse()
            .map_err(|_| MetaError::Internal(format!("bad digest {s:?} in database")))
    })
    .transpose()
}

fn stored(row: sqlx::sqlite::SqliteRow) -> MetaResult<StoredManifest> {
    let digest: String = row.get(0);
    Ok(StoredManifest {
        digest: opt_digest(Some(digest))?.ok_or_else(|| MetaError::Internal("no digest".into()))?,
        media_type: row.get(1),
        content: bytes::Bytes::from(row.get::<Vec<u8>, _>(2)),
    })
}

impl SqliteStore {
    /// The pool the identity store uses (the writer: its writes and its snapshot reads are rare).
    pub(crate) fn auth_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// Open (creating if needed) `path` and apply migrations.
    pub async fn open(path: &Path) -> MetaResult<Self> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| MetaError::Internal(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(2)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(base.read_only(true))
            .await
            .map_err(err)?;
        Ok(SqliteStore { writer, reader })
    }

    /// An in-memory-like store in a temporary file, for tests.
    #[cfg(test)]
    pub async fn open_temp(dir: &Path) -> Self {
        Self::open(&dir.join("meta.db")).await.expect("open sqlite")
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// The repository's id, creating the repository first when it is missing and `missing` allows;
/// `None` when it is missing and may not be created.
async fn repo_id(
    conn: &mut sqlx::SqliteConnection,
    repo: &RepositoryName,
    now: i64,
    missing: MissingRepository,
) -> Result<Option<i64>, sqlx::Error> {
    if missing == MissingRepository::Create {
        sqlx::query(
            "INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
        )
        .bind(repo.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
        .bind(repo.as_str())
        .fetch_optional(&mut *conn)
        .await
}

fn repository_unknown(repo: &RepositoryName) -> MetaError {
    MetaError::RepositoryUnknown(repo.to_string())
}

/// Link the blob into the repository (recording the blob if new); false when the repository
/// is missing and may not be created (nothing written).
async fn link(
    conn: &mut sqlx::SqliteConnection,
    repo: &RepositoryName,
    digest: &Digest,
    size: u64,
    location: Option<&str>,
    now: i64,
    missing: MissingRepository,
) -> Result<bool, sqlx::Error> {
    let Some(id) = repo_id(conn, repo, now, missing).await? else {
        return Ok(false);
    };
    let d = digest.to_string();
    sqlx::query("INSERT INTO blobs (digest, size, created_at, location) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING")
        .bind(&d)
        .bind(size as i64)
        .bind(now)
        .bind(location)
        .execute(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        .bind(id)
        .bind(&d)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn ping(&self) -> MetaResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        let r: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(err)?;
        Ok(r.is_some())
    }

    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> MetaResult<Vec<String>> {
        let json: String = sqlx::query_scalar(
            "SELECT json_group_array(name ORDER BY name) FROM
               (SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?)",
        )
        .bind(last.unwrap_or(""))
        .bind(limit as i64)
        .fetch_one(&self.reader)
        .await
        .map_err(err)?;
        serde_json::from_str(&json).map_err(|e| MetaError::Internal(format!("catalog: {e}")))
    }

    async fn repository_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<BlobRecord>> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT b.size, COALESCE(b.location, b.digest) FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = ? AND rb.digest = ?",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(err)?;
        Ok(row.map(|(size, location)| BlobRecord {
            size: size as u64,
            location,
        }))
    }

    async fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> MetaResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE rb.digest = ? ORDER BY r.name LIMIT ?",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(err)
    }

    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        now: i64,
        missing: MissingRepository,
    ) -> MetaResult<()> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        if !link(&mut tx, repo, digest, size, None, now, missing)
            .await
            .map_err(err)?
        {
            return Err(repository_unknown(repo));
        }
        tx.commit().await.map_err(err)
    }

    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let d = digest.to_string();
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT rb.repository_id FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
             WHERE r.name = ? AND rb.digest = ?",
        )
        .bind(repo.as_str())
        .bind(&d)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(id) = id else {
            return Ok(DeleteOutcome::NotFound);
        };
        let user: Option<String> = sqlx::query_scalar(
            "SELECT manifest_digest FROM manifest_blobs WHERE repository_id = ? AND blob_digest = ? LIMIT 1",
        )
        .bind(id)
        .bind(&d)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        if let Some(m) = user {
            return Ok(DeleteOutcome::Referenced(m));
        }
        sqlx::query("DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?")
            .bind(id)
            .bind(&d)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(DeleteOutcome::Deleted)
    }

    async fn create_upload(&self, u: &UploadRow) -> MetaResult<()> {
        sqlx::query("INSERT INTO uploads (id, repository, algorithm, size, created_at, updated_at, hash_state, storage_state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&u.id)
            .bind(u.repository.as_str())
            .bind(u.algorithm.as_str())
            .bind(u.size as i64)
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(&u.hash_state)
            .bind(&u.storage_state)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>> {
        let row = sqlx::query("SELECT id, repository, algorithm, size, created_at, updated_at, digest, hash_state, storage_state FROM uploads WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let bad = |what: &str| MetaError::Internal(format!("bad {what} in uploads row"));
        Ok(Some(UploadRow {
            id: row.get(0),
            repository: RepositoryName::from_str(row.get::<&str, _>(1))
                .map_err(|_| bad("repository"))?,
            algorithm: Algorithm::from_str(row.get::<&str, _>(2)).map_err(|_| bad("algorithm"))?,
            size: row.get::<i64, _>(3) as u64,
            created_at: row.get(4),
            updated_at: row.get(5),
            digest: opt_digest(row.get(6))?,
            hash_state: row.get::<Option<Vec<u8>>, _>(7).unwrap_or_default(),
            storage_state: row.get(8),
        }))
    }

    async fn advance_upload(
        &self,
        id: &str,
        from_size: u64,
        p: &UploadProgress,
        now: i64,
    ) -> MetaResult<bool> {
        let r = sqlx::query(
            "UPDATE uploads SET size = ?, hash_state = ?, storage_state = ?, updated_at = ?
             WHERE id = ? AND size = ? AND digest IS NULL",
        )
        .bind(p.size as i64)
        .bind(&p.hash_state)
        .bind(&p.storage_state)
        .bind(now)
        .bind(id)
        .bind(from_size as i64)
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &str) -> MetaResult<()> {
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn mark_upload_verified(&self, id: &str, digest: &Digest) -> MetaResult<()> {
        sqlx::query("UPDATE uploads SET digest = ? WHERE id = ?")
            .bind(digest.to_string())
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn complete_upload(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        location: &str,
        now: i64,
        missing: MissingRepository,
    ) -> MetaResult<String> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        if !link(&mut tx, repo, digest, size, Some(location), now, missing)
            .await
            .map_err(err)?
        {
            return Err(repository_unknown(repo));
        }
        let kept: String =
            sqlx::query_scalar("SELECT COALESCE(location, digest) FROM blobs WHERE digest = ?")
                .bind(digest.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(err)?;
        sqlx::query("DELETE FROM uploads WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(kept)
    }

    async fn stale_uploads(&self, before: i64, limit: u32) -> MetaResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?",
        )
        .bind(before)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(err)
    }

    async fn put_manifest(
        &self,
        m: NewManifest<'_>,
        missing: MissingRepository,
    ) -> Result<(), PutManifestError> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let Some(id) = repo_id(&mut tx, m.repository, m.now, missing)
            .await
            .map_err(err)?
        else {
            return Err(repository_unknown(m.repository).into());
        };
        let settings = if m.tags.is_empty() {
            RepositorySettings::default()
        } else {
            let (mutability, exclusions): (String, String) = sqlx::query_as(
                "SELECT tag_mutability, mutability_exclusions FROM repositories WHERE id = ?",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
            push_settings(&mutability, &exclusions)?
        };
        let digest = m.digest.to_string();
        let mut total = m.content.len() as u64;
        for b in m.manifest.required_blobs() {
            let have: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?",
            )
            .bind(id)
            .bind(b.digest.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            if have.is_none() {
                return Err(PutManifestError::BlobUnknown(b.digest.clone()));
            }
            total += b.size;
        }
        for c in &m.manifest.manifests {
            let have: Option<i64> = sqlx::query_scalar(
                "SELECT total_size FROM manifests WHERE repository_id = ? AND digest = ?",
            )
            .bind(id)
            .bind(c.digest.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            match have {
                Some(s) => total += s as u64,
                None => return Err(PutManifestError::ManifestUnknown(c.digest.clone())),
            }
        }
        sqlx::query(
            "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest,
                config_digest, annotations, total_size, content, pushed_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(repository_id, digest) DO UPDATE SET pushed_at = excluded.pushed_at",
        )
        .bind(id)
        .bind(&digest)
        .bind(&m.manifest.media_type)
        .bind(m.manifest.effective_artifact_type())
        .bind(m.manifest.subject.as_ref().map(|s| s.digest.to_string()))
        .bind(m.manifest.config.as_ref().map(|c| c.digest.to_string()))
        .bind(m.manifest.annotations.as_deref())
        .bind(total as i64)
        .bind(m.content)
        .bind(m.now)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for b in m.manifest.required_blobs() {
            sqlx::query("INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(&digest)
                .bind(b.digest.to_string())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        for c in &m.manifest.manifests {
            sqlx::query("INSERT INTO manifest_children (repository_id, parent_digest, child_digest) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(id)
                .bind(&digest)
                .bind(c.digest.to_string())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        for t in m.tags {
            // An immutable tag is only "moved" onto the manifest it already names; otherwise
            // the upsert changes nothing, returns no row, and the whole push is rolled back.
            let moved: Option<String> = sqlx::query_scalar(
                "INSERT INTO tags (repository_id, name, manifest_digest, updated_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT(repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                 updated_at = excluded.updated_at
                 WHERE ? = 0 OR tags.manifest_digest = excluded.manifest_digest
                 RETURNING name",
            )
            .bind(id)
            .bind(t.as_str())
            .bind(&digest)
            .bind(m.now)
            .bind(settings.tag_is_immutable(t.as_str()))
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
            if moved.is_none() {
                return Err(PutManifestError::TagImmutable(t.as_str().to_owned()));
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    async fn manifest_by_digest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<StoredManifest>> {
        let d = digest.to_string();
        sqlx::query(
            "SELECT m.digest, m.media_type, m.content FROM manifests m
             JOIN repositories r ON r.id = m.repository_id WHERE r.name = ? AND m.digest = ?",
        )
        .bind(repo.as_str())
        .bind(&d)
        .fetch_optional(&self.reader)
        .await
        .map_err(err)?
        .map(stored)
        .transpose()
    }

    async fn manifest_by_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> MetaResult<Option<StoredManifest>> {
        sqlx::query(
            "SELECT m.digest, m.media_type, m.content FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
             WHERE r.name = ? AND t.name = ?",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(err)?
        .map(stored)
        .transpose()
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        let r = sqlx::query(
            "DELETE FROM tags WHERE name = ? AND repository_id = (SELECT id FROM repositories WHERE name = ?)",
        )
        .bind(tag.as_str())
        .bind(repo.as_str())
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let d = digest.to_string();
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT m.repository_id FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.digest = ?",
        )
        .bind(repo.as_str())
        .bind(&d)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(id) = id else {
            return Ok(DeleteOutcome::NotFound);
        };
        let parent: Option<String> = sqlx::query_scalar(
            "SELECT parent_digest FROM manifest_children WHERE repository_id = ? AND child_digest = ? LIMIT 1",
        )
        .bind(id)
        .bind(&d)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        if let Some(p) = parent {
            return Ok(DeleteOutcome::Referenced(p));
        }
        // Tags, blob edges and child edges go with the row (ON DELETE CASCADE).
        sqlx::query("DELETE FROM manifests WHERE repository_id = ? AND digest = ?")
            .bind(id)
            .bind(&d)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(DeleteOutcome::Deleted)
    }

    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Arc<Vec<String>>>> {
        let last = last.unwrap_or("");
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(err)?;
        let Some(id) = id else { return Ok(None) };
        // One row holding a JSON array: decoding thousands of rows one by one costs far more
        // than SQLite's own work.
        let json: String = sqlx::query_scalar(
            "SELECT json_group_array(name ORDER BY name) FROM
               (SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?)",
        )
        .bind(id)
        .bind(last)
        .bind(limit as i64)
        .fetch_one(&self.reader)
        .await
        .map_err(err)?;
        let tags: Arc<Vec<String>> = Arc::new(
            serde_json::from_str(&json)
                .map_err(|e| MetaError::Internal(format!("tag list: {e}")))?,
        );
        Ok(Some(tags))
    }

    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> MetaResult<Vec<Referrer>> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, length(m.content), m.artifact_type, m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = ? AND m.subject_digest = ? ORDER BY m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|r| Referrer {
                digest: r.get(0),
                media_type: r.get(1),
                size: r.get::<i64, _>(2) as u64,
                artifact_type: r.get(3),
                annotations: r.get(4),
            })
            .collect())
    }

    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        for p in pulls {
            sqlx::query(
                "UPDATE manifests SET last_pulled_at = ?
                 WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?
                   AND (last_pulled_at IS NULL OR last_pulled_at < ?)",
            )
            .bind(p.at)
            .bind(&p.repository)
            .bind(&p.digest)
            .bind(p.at)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn list_images(
        &self,
        repo: &RepositoryName,
        from: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Vec<ImageRecord>>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(err)?;
        let Some(id) = id else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, m.artifact_type, m.total_size - length(m.content),
                m.pushed_at, m.last_pulled_at,
                EXISTS(SELECT 1 FROM manifest_children c
                       WHERE c.repository_id = m.repository_id AND c.child_digest = m.digest),
                (SELECT json_group_array(name) FROM
                   (SELECT t.name FROM tags t
                    WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest
                    ORDER BY t.name))
             FROM manifests m WHERE m.repository_id = ? AND m.digest >= ?
             ORDER BY m.digest LIMIT ?",
        )
        .bind(id)
        .bind(from.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await
        .map_err(err)?;
        rows.into_iter()
            .map(|r| {
                let tags: String = r.get(7);
                Ok(ImageRecord {
                    digest: r.get(0),
                    media_type: r.get(1),
                    artifact_type: r.get(2),
                    size: r.get::<i64, _>(3) as u64,
                    pushed_at: r.get(4),
                    last_pulled_at: r.get(5),
                    in_index: r.get(6),
                    tags: serde_json::from_str(&tags)
                        .map_err(|e| MetaError::Internal(format!("image tags: {e}")))?,
                })
            })
            .collect::<MetaResult<Vec<_>>>()
            .map(Some)
    }

    async fn repository(&self, repo: &RepositoryName) -> MetaResult<Option<RepositoryRecord>> {
        let row: Option<RepositoryColumns> = sqlx::query_as(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = ?"
        ))
        .bind(repo.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(err)?;
        row.map(repository_record).transpose()
    }

    async fn create_repository(
        &self,
        repo: &RepositoryName,
        settings: &RepositorySettings,
        tags: &[(String, String)],
        now: i64,
    ) -> MetaResult<bool> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO repositories (name, created_at, tag_mutability, mutability_exclusions,
                scan_on_push, encryption_type, kms_key)
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING RETURNING id",
        )
        .bind(repo.as_str())
        .bind(now)
        .bind(settings.tag_mutability.as_str())
        .bind(settings.exclusions_json())
        .bind(settings.scan_on_push)
        .bind(&settings.encryption_type)
        .bind(settings.kms_key.as_deref())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(id) = id else { return Ok(false) };
        if Self::put_tags(&mut tx, id, tags).await? == ResourceTagsOutcome::TooMany {
            return Err(MetaError::Internal(format!(
                "more than {MAX_RESOURCE_TAGS} resource tags"
            )));
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn describe_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Vec<RepositoryRecord>> {
        let rows: Vec<RepositoryColumns> = sqlx::query_as(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name > ? ORDER BY name LIMIT ?"
        ))
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(err)?;
        rows.into_iter().map(repository_record).collect()
    }

    async fn set_tag_mutability(
        &self,
        repo: &RepositoryName,
        mutability: TagMutability,
        exclusions: &[String],
    ) -> MetaResult<bool> {
        let r = sqlx::query(
            "UPDATE repositories SET tag_mutability = ?, mutability_exclusions = ? WHERE name = ?",
        )
        .bind(mutability.as_str())
        .bind(exclusions_json(exclusions))
        .bind(repo.as_str())
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_scan_on_push(
        &self,
        repo: &RepositoryName,
        scan_on_push: bool,
    ) -> MetaResult<bool> {
        let r = sqlx::query("UPDATE repositories SET scan_on_push = ? WHERE name = ?")
            .bind(scan_on_push)
            .bind(repo.as_str())
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_repository(
        &self,
        repo: &RepositoryName,
        force: bool,
    ) -> MetaResult<DeleteRepositoryOutcome> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let Some(id) = Self::id_of(&mut tx, repo).await? else {
            return Ok(DeleteRepositoryOutcome::NotFound);
        };
        if !force {
            let any: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM manifests WHERE repository_id = ? LIMIT 1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err)?;
            if any.is_some() {
                return Ok(DeleteRepositoryOutcome::NotEmpty);
            }
        }
        // Children before parents; the blobs themselves stay for garbage collection.
        for sql in [
            "DELETE FROM tags WHERE repository_id = ?",
            "DELETE FROM manifests WHERE repository_id = ?",
            "DELETE FROM repository_blobs WHERE repository_id = ?",
            "DELETE FROM repositories WHERE id = ?",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        sqlx::query("DELETE FROM uploads WHERE repository = ?")
            .bind(repo.as_str())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(DeleteRepositoryOutcome::Deleted)
    }

    async fn resource_tags(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Vec<(String, String)>>> {
        let mut conn = self.reader.acquire().await.map_err(err)?;
        let Some(id) = Self::id_of(&mut conn, repo).await? else {
            return Ok(None);
        };
        let tags = sqlx::query_as(
            "SELECT key, value FROM repository_resource_tags WHERE repository_id = ? ORDER BY key",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
        .map_err(err)?;
        Ok(Some(tags))
    }

    async fn put_resource_tags(
        &self,
        repo: &RepositoryName,
        tags: &[(String, String)],
    ) -> MetaResult<ResourceTagsOutcome> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let Some(id) = Self::id_of(&mut tx, repo).await? else {
            return Ok(ResourceTagsOutcome::NotFound);
        };
        let outcome = Self::put_tags(&mut tx, id, tags).await?;
        if outcome == ResourceTagsOutcome::Done {
            tx.commit().await.map_err(err)?;
        }
        Ok(outcome)
    }

    async fn delete_resource_tags(
        &self,
        repo: &RepositoryName,
        keys: &[String],
    ) -> MetaResult<bool> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let Some(id) = Self::id_of(&mut tx, repo).await? else {
            return Ok(false);
        };
        for k in keys {
            sqlx::query("DELETE FROM repository_resource_tags WHERE repository_id = ? AND key = ?")
                .bind(id)
                .bind(k)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn registry_setting(&self, name: &str) -> MetaResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM registry_settings WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(err)
    }

    async fn put_registry_setting(&self, name: &str, value: &str, now: i64) -> MetaResult<()> {
        sqlx::query(
            "INSERT INTO registry_settings (name, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn lifecycle_policy(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>> {
        let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT lifecycle_policy, lifecycle_evaluated_at FROM repositories WHERE name = ?1",
        )
        .bind(repo.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(err)?;
        Ok(row.map(lifecycle_record))
    }

    async fn set_lifecycle_policy(
        &self,
        repo: &RepositoryName,
        text: Option<&str>,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>> {
        let mut tx = self.writer.begin().await.map_err(err)?;
        let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT lifecycle_policy, lifecycle_evaluated_at FROM repositories WHERE name = ?1",
        )
        .bind(repo.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query(
            "UPDATE repositories SET lifecycle_policy = ?1, lifecycle_evaluated_at = NULL WHERE name = ?2",
        )
        .bind(text)
        .bind(repo.as_str())
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Some(lifecycle_record(row)))
    }

    async fn put_lifecycle_preview(
        &self,
        repo: &RepositoryName,
        preview: &LifecyclePreviewRecord,
    ) -> MetaResult<bool> {
        let r = sqlx::query(
            "INSERT INTO lifecycle_previews (repository_id, policy_text, status, started_at, results)
             SELECT id, ?1, ?2, ?3, ?4 FROM repositories WHERE name = ?5
             ON CONFLICT (repository_id) DO UPDATE SET policy_text = excluded.policy_text,
                status = excluded.status, started_at = excluded.started_at, results = excluded.results",
        )
        .bind(&preview.policy_text)
        .bind(&preview.status)
        .bind(preview.started_at)
        .bind(&preview.results)
        .bind(repo.as_str())
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn lifecycle_preview(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<LifecyclePreviewRecord>> {
        let row: Option<(String, String, i64, String)> = sqlx::query_as(
            "SELECT p.policy_text, p.status, p.started_at, p.results
             FROM lifecycle_previews p JOIN repositories r ON r.id = p.repository_id
             WHERE r.name = ?1",
        )
        .bind(repo.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(err)?;
        Ok(row.map(
            |(policy_text, status, started_at, results)| LifecyclePreviewRecord {
                policy_text,
                status,
                started_at,
                results,
            },
        ))
    }
}

impl SqliteStore {
    async fn id_of(
        conn: &mut sqlx::SqliteConnection,
        repo: &RepositoryName,
    ) -> MetaResult<Option<i64>> {
        sqlx::query_scalar("SELECT id FROM repositories WHERE name = ?")
            .bind(repo.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(err)
    }

    async fn put_tags(
        conn: &mut sqlx::SqliteConnection,
        id: i64,
        tags: &[(String, String)],
    ) -> MetaResult<ResourceTagsOutcome> {
        for (k, v) in tags {
            sqlx::query(
                "INSERT INTO repository_resource_tags (repository_id, key, value) VALUES (?, ?, ?)
                 ON CONFLICT(repository_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(id)
            .bind(k)
            .bind(v)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM repository_resource_tags WHERE repository_id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(err)?;
        Ok(if n > MAX_RESOURCE_TAGS {
            ResourceTagsOutcome::TooMany
        } else {
            ResourceTagsOutcome::Done
        })
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn sqlite_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open_temp(dir.path()).await;
        crate::metadata::suite::run(&store).await;
    }

    #[tokio::test]
    async fn the_cached_sqlite_store_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqliteStore::open_temp(dir.path()).await;
        let cached = crate::metadata::cache::CachedStore::exclusive(store);
        crate::metadata::suite::run(&cached).await;
    }
}
