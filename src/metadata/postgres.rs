//! PostgreSQL metadata for the replicated deployment: N stateless replicas share one database,
//! each with its own pool.
//!
//! Nothing can be serialized in-process, so every transaction is correct on its own under READ
//! COMMITTED with concurrent writers from other replicas:
//! - creations are `INSERT .. ON CONFLICT`, so a race resolves in the database (a tag pushed from
//!   two replicas at once ends on exactly one manifest; a blob completed twice keeps one row);
//! - every check-then-act locks what it checks: `put_manifest` takes `FOR KEY SHARE` on the
//!   blob links and child manifests it found, and `unlink_blob`/`delete_manifest` take
//!   `FOR UPDATE` on the row they delete *before* looking for references, so either the delete
//!   waits for the push and then sees its edges, or the push waits for the delete and then
//!   finds the row gone;
//! - multi-row writes go in a fixed order (tags sorted) so that two pushes do not deadlock, and a
//!   transaction that still loses a deadlock (or a serialization failure) is run once more.
//!
//! There is no read cache (other replicas write behind this one's back); the hot reads are one
//! statement, one round trip each, prepared once per connection (sqlx's statement cache).

use super::*;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a connection: a database that is down or restarting surfaces
/// quickly as `Unavailable` (503, retryable) instead of holding requests.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection idle longer than this is pinged before use, so that one left over from before
/// a database restart is replaced instead of failing a request. Connections in steady use are
/// not (a ping is a round trip on every request); sqlx also pings each one as it is released.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// The pool the identity store uses.
    pub(crate) fn auth_pool(&self) -> &PgPool {
        &self.pool
    }

    /// Connect to `url` (`postgres://user:password@host:port/database?...`) with a pool of at
    /// most `max_connections`. One connection is opened now, so a wrong URL or password fails here.
    pub async fn connect(url: &str, max_connections: u32) -> MetaResult<Self> {
        // A replica that freezes inside a transaction must not hold its row locks for ever,
        // and no request waits on a lock for longer than a client would wait for an answer.
        let options = PgConnectOptions::from_str(url).map_err(err)?.options([
            ("idle_in_transaction_session_timeout", "60s"),
            ("lock_timeout", "30s"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_IF_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(err)?;
        Ok(PostgresStore { pool })
    }

    /// Apply pending migrations. Safe when several replicas start at once: sqlx's migrator holds
    /// a session-level advisory lock (`pg_advisory_lock`, keyed by the database name) while it
    /// reads and applies migrations, so the others wait and then find nothing to do.
    pub async fn migrate(&self) -> MetaResult<()> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        let result = MIGRATOR.run(&mut *conn).await;
        if result.is_err() {
            // A failed run returns without `pg_advisory_unlock`: closing the session releases
            // the lock, instead of parking it in the pool and blocking every other replica.
            conn.close_on_drop();
        }
        result.map_err(migrate_err)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether the error means "the database cannot serve this now", as opposed to a bug or bad
/// data: the connection is gone or cannot be had, the server is shutting down, starting up or
/// out of resources, or it aborted the transaction for a deadlock or serialization failure.
fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") // connection exception
                || c.starts_with("53") // insufficient resources (too many connections, disk full)
                || matches!(
                    &*c,
                    "57P01" | "57P02" | "57P03" // admin shutdown, crash shutdown, cannot connect now
                        | "40001" | "40P01" // serialization failure, deadlock detected
                        | "55P03" // lock_timeout: another session held the row too long
                        // foreign_key_violation: a concurrent transaction deleted a row this
                        // one referenced (a repository deleted during a push); Berth never
                        // violates a key otherwise, and a retry re-resolves (a push creates the
                        // repository anew)
                        | "23503"
                )
        }),
        _ => false,
    }
}

/// PostgreSQL rolled the whole transaction back because of another one: running it again is safe.
fn conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001" | "40P01" | "23503"))
        }
        _ => false,
    }
}

/// Map a database error (shared with the identity store, which uses the same database).
pub(crate) fn sql_err(e: sqlx::Error) -> MetaError {
    err(e)
}

fn err(e: sqlx::Error) -> MetaError {
    if unavailable(&e) {
        MetaError::Unavailable(e.to_string())
    } else {
        MetaError::Internal(e.to_string())
    }
}

fn migrate_err(e: MigrateError) -> MetaError {
    match &e {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _)
            if unavailable(inner) =>
        {
            MetaError::Unavailable(format!("migration failed: {e}"))
        }
        _ => MetaError::Internal(format!("migration failed: {e}")),
    }
}

/// Run a transaction, and once more if it lost a deadlock or a serialization failure.
async fn retrying<T, F, Fut>(mut transaction: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    match transaction().await {
        Err(e) if conflict(&e) => {
            tracing::debug!(error = %e, "metadata transaction aborted by a concurrent one; retrying");
            transaction().await
        }
        result => result,
    }
}

fn parse_digest(s: String) -> MetaResult<Digest> {
    s.parse()
        .map_err(|_| MetaError::Internal(format!("bad digest {s:?} in database")))
}

fn stored((digest, media_type, content): (String, String, Vec<u8>)) -> MetaResult<StoredManifest> {
    Ok(StoredManifest {
        digest: parse_digest(digest)?,
        media_type,
        content: bytes::Bytes::from(content),
    })
}

type UploadColumns = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<Vec<u8>>,
    String,
);

fn upload_row(r: UploadColumns) -> MetaResult<UploadRow> {
    let (
        id,
        repository,
        algorithm,
        size,
        created_at,
        updated_at,
        digest,
        hash_state,
        storage_state,
    ) = r;
    let bad = |what: &str| MetaError::Internal(format!("bad {what} in uploads row {id:?}"));
    Ok(UploadRow {
        repository: RepositoryName::from_str(&repository).map_err(|_| bad("repository"))?,
        algorithm: Algorithm::from_str(&algorithm).map_err(|_| bad("algorithm"))?,
        size: size as u64,
        digest: digest.map(parse_digest).transpose()?,
        created_at,
        updated_at,
        hash_state: hash_state.unwrap_or_default(),
        storage_state,
        id,
    })
}

/// The repository's id, creating the repository if needed and `missing` allows it (`None`
/// when it is missing and may not be created). Race-free across replicas: when two create it
/// at once, the second `INSERT` waits for the first to commit and does nothing, and the
/// `SELECT` after it (a new statement, so a new snapshot) sees the winner's row.
async fn repo_id(
    conn: &mut PgConnection,
    repo: &RepositoryName,
    now: i64,
    missing: MissingRepository,
) -> Result<Option<i64>, sqlx::Error> {
    // Look first: the repository nearly always exists, and an INSERT that conflicts would still
    // burn an identity value.
    let find = "SELECT id FROM repositories WHERE name = $1";
    let found = sqlx::query_scalar(find)
        .bind(repo.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_some() || missing == MissingRepository::Refuse {
        return Ok(found);
    }
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(repo.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    match created {
        Some(id) => Ok(Some(id)),
        None => {
            sqlx::query_scalar(find)
                .bind(repo.as_str())
                .fetch_optional(&mut *conn)
                .await
        }
    }
}

fn repository_unknown(repo: &RepositoryName) -> MetaError {
    MetaError::RepositoryUnknown(repo.to_string())
}

/// Record the blob if it is new (at `location`) and link it into the repository. A concurrent
/// insert of the same blob or link makes the second writer wait for the first, then do nothing.
/// False when the repository is missing and may not be created (nothing written).
async fn link(
    conn: &mut PgConnection,
    repo: &RepositoryName,
    digest: &str,
    size: u64,
    location: Option<&str>,
    now: i64,
    missing: MissingRepository,
) -> Result<bool, sqlx::Error> {
    let Some(id) = repo_id(conn, repo, now, missing).await? else {
        return Ok(false);
    };
    sqlx::query(
        "INSERT INTO blobs (digest, size, created_at, location) VALUES ($1, $2, $3, $4)
         ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(size as i64)
    .bind(now)
    .bind(location)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(digest)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// What a manifest references, as digests in manifest order.
struct Edges {
    blobs: Vec<String>,
    children: Vec<String>,
}

/// Check that every blob and child manifest `m` references is in the repository, and keep them
/// there until commit: KEY SHARE blocks the DELETE of unlink_blob/delete_manifest (which lock
/// the row first and only then look for references, so they see ours), but not other pushes.
/// Returns the size of everything referenced, or the first thing missing.
async fn lock_references(
    conn: &mut PgConnection,
    id: i64,
    m: &NewManifest<'_>,
    edges: &Edges,
) -> Result<Result<u64, PutManifestError>, sqlx::Error> {
    let mut total = 0;
    let linked: HashSet<String> = if edges.blobs.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_scalar::<_, String>(
            "SELECT digest FROM repository_blobs WHERE repository_id = $1 AND digest = ANY($2)
             ORDER BY digest FOR KEY SHARE",
        )
        .bind(id)
        .bind(&edges.blobs)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    };
    for (b, d) in m.manifest.required_blobs().zip(&edges.blobs) {
        if !linked.contains(d) {
            return Ok(Err(PutManifestError::BlobUnknown(b.digest.clone())));
        }
        total += b.size;
    }
    let present: HashMap<String, i64> = if edges.children.is_empty() {
        HashMap::new()
    } else {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT digest, total_size FROM manifests WHERE repository_id = $1 AND digest = ANY($2)
             ORDER BY digest FOR KEY SHARE",
        )
        .bind(id)
        .bind(&edges.children)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    };
    for (c, d) in m.manifest.manifests.iter().zip(&edges.children) {
        match present.get(d) {
            Some(s) => total += *s as u64,
            None => return Ok(Err(PutManifestError::ManifestUnknown(c.digest.clone()))),
        }
    }
    Ok(Ok(total))
}

/// The manifest row (a re-push only refreshes pushed_at) and its edges.
async fn insert_manifest(
    conn: &mut PgConnection,
    id: i64,
    m: &NewManifest<'_>,
    digest: &str,
    total: u64,
    edges: &Edges,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest,
            config_digest, annotations, total_size, content, pushed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (repository_id, digest) DO UPDATE SET pushed_at = EXCLUDED.pushed_at",
    )
    .bind(id)
    .bind(digest)
    .bind(&m.manifest.media_type)
    .bind(m.manifest.effective_artifact_type())
    .bind(m.manifest.subject.as_ref().map(|s| s.digest.to_string()))
    .bind(m.manifest.config.as_ref().map(|c| c.digest.to_string()))
    .bind(m.manifest.annotations.as_deref())
    .bind(total as i64)
    .bind(m.content)
    .bind(m.now)
    .execute(&mut *conn)
    .await?;
    if !edges.blobs.is_empty() {
        sqlx::query(
            "INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest)
             SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(digest)
        .bind(&edges.blobs)
        .execute(&mut *conn)
        .await?;
    }
    if !edges.children.is_empty() {
        sqlx::query(
            "INSERT INTO manifest_children (repository_id, parent_digest, child_digest)
             SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(digest)
        .bind(&edges.children)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Point `tags` at the manifest. Sorted and distinct: two pushes moving the same tags lock
/// them in the same order (no deadlock), and one upsert may not touch a row twice. The later
/// commit wins each tag, and wins them all.
///
/// A tag in `immutable` is only "moved" onto the manifest it already names: the upsert's WHERE
/// is evaluated against the latest committed row (a racing push of the tag is waited for), so
/// of two pushes of different manifests to a new immutable tag exactly one wins. Returns the
/// first tag refused, if any (the caller rolls back).
async fn move_tags(
    conn: &mut PgConnection,
    id: i64,
    tags: &[Tag],
    digest: &str,
    now: i64,
    immutable: &[&str],
) -> Result<Option<String>, sqlx::Error> {
    let mut tags: Vec<&str> = tags.iter().map(Tag::as_str).collect();
    tags.sort_unstable();
    tags.dedup();
    if tags.is_empty() {
        return Ok(None);
    }
    if immutable.is_empty() {
        sqlx::query(
            "INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
             SELECT $1, unnest($2::text[]), $3, $4
             ON CONFLICT (repository_id, name) DO UPDATE
             SET manifest_digest = EXCLUDED.manifest_digest, updated_at = EXCLUDED.updated_at",
        )
        .bind(id)
        .bind(&tags)
        .bind(digest)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        return Ok(None);
    }
    let moved: HashSet<String> = sqlx::query_scalar::<_, String>(
        "INSERT INTO tags (repository_id, name, manifest_digest, updated_at)
         SELECT $1, unnest($2::text[]), $3, $4
         ON CONFLICT (repository_id, name) DO UPDATE
         SET manifest_digest = EXCLUDED.manifest_digest, updated_at = EXCLUDED.updated_at
         WHERE tags.manifest_digest = EXCLUDED.manifest_digest OR NOT (tags.name = ANY($5::text[]))
         RETURNING name",
    )
    .bind(id)
    .bind(&tags)
    .bind(digest)
    .bind(now)
    .bind(immutable)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    Ok(tags
        .iter()
        .find(|t| !moved.contains(**t))
        .map(|t| (*t).to_owned()))
}

/// `repo_id` for a push, with the repository's tag mutability and exclusions from the same
/// round trip (a new repository has the defaults).
async fn repo_for_push(
    conn: &mut PgConnection,
    repo: &RepositoryName,
    now: i64,
    missing: MissingRepository,
) -> Result<Option<(i64, String, String)>, sqlx::Error> {
    let found: Option<(i64, String, String)> = sqlx::query_as(
        "SELECT id, tag_mutability, mutability_exclusions FROM repositories WHERE name = $1",
    )
    .bind(repo.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    if found.is_some() {
        return Ok(found);
    }
    let Some(id) = repo_id(conn, repo, now, missing).await? else {
        return Ok(None);
    };
    let (mutability, exclusions): (String, String) = sqlx::query_as(
        "SELECT tag_mutability, mutability_exclusions FROM repositories WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some((id, mutability, exclusions)))
}

/// Why a manifest was refused (the transaction is rolled back).
type Refusal = Result<(), PutManifestError>;

/// The repository's id, row-locked: `FOR UPDATE` to delete it (which also waits for pushes
/// in flight, whose new rows hold KEY SHARE on it), else `FOR NO KEY UPDATE`, which serializes
/// resource-tag writers without holding up pushes.
async fn lock_repository(
    conn: &mut PgConnection,
    repo: &RepositoryName,
    for_delete: bool,
) -> Result<Option<i64>, sqlx::Error> {
    let sql = if for_delete {
        "SELECT id FROM repositories WHERE name = $1 FOR UPDATE"
    } else {
        "SELECT id FROM repositories WHERE name = $1 FOR NO KEY UPDATE"
    };
    sqlx::query_scalar(sql)
        .bind(repo.as_str())
        .fetch_optional(&mut *conn)
        .await
}

/// Upsert resource tags, then count them: more than the limit is refused (the caller rolls back).
async fn put_tags(
    conn: &mut PgConnection,
    id: i64,
    tags: &[(String, String)],
) -> Result<ResourceTagsOutcome, sqlx::Error> {
    if !tags.is_empty() {
        // Last value wins for a key given twice; one upsert may not touch a row twice.
        let merged: std::collections::BTreeMap<&str, &str> =
            tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let keys: Vec<&str> = merged.keys().copied().collect();
        let values: Vec<&str> = merged.values().copied().collect();
        sqlx::query(
            "INSERT INTO repository_resource_tags (repository_id, key, value)
             SELECT $1, unnest($2::text[]), unnest($3::text[])
             ON CONFLICT (repository_id, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(id)
        .bind(&keys)
        .bind(&values)
        .execute(&mut *conn)
        .await?;
    }
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM repository_resource_tags WHERE repository_id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(if n > MAX_RESOURCE_TAGS {
        ResourceTagsOutcome::TooMany
    } else {
        ResourceTagsOutcome::Done
    })
}

impl PostgresStore {
    async fn create_repository_tx(
        &self,
        repo: &RepositoryName,
        settings: &RepositorySettings,
        tags: &[(String, String)],
        now: i64,
    ) -> Result<Result<bool, MetaError>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO repositories (name, created_at, tag_mutability, mutability_exclusions,
                scan_on_push, encryption_type, kms_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(repo.as_str())
        .bind(now)
        .bind(settings.tag_mutability.as_str())
        .bind(settings.exclusions_json())
        .bind(settings.scan_on_push)
        .bind(&settings.encryption_type)
        .bind(settings.kms_key.as_deref())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else { return Ok(Ok(false)) };
        if put_tags(&mut tx, id, tags).await? == ResourceTagsOutcome::TooMany {
            return Ok(Err(MetaError::Internal(format!(
                "more than {MAX_RESOURCE_TAGS} resource tags"
            ))));
        }
        tx.commit().await?;
        Ok(Ok(true))
    }

    async fn delete_repository_tx(
        &self,
        repo: &RepositoryName,
        force: bool,
    ) -> Result<DeleteRepositoryOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE waits for pushes in flight (their new rows hold KEY SHARE on the
        // repository), whose manifests the check below then sees; later pushes wait for us.
        let Some(id) = lock_repository(&mut tx, repo, true).await? else {
            return Ok(DeleteRepositoryOutcome::NotFound);
        };
        if !force {
            let any: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM manifests WHERE repository_id = $1 LIMIT 1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if any.is_some() {
                return Ok(DeleteRepositoryOutcome::NotEmpty);
            }
        }
        // Children before parents; the blobs themselves stay for garbage collection.
        for sql in [
            "DELETE FROM tags WHERE repository_id = $1",
            "DELETE FROM manifests WHERE repository_id = $1",
            "DELETE FROM repository_blobs WHERE repository_id = $1",
            "DELETE FROM repositories WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM uploads WHERE repository = $1")
            .bind(repo.as_str())
            .execute(&mut *tx)
            .await?;
        // Replicas also drop what they cached of an empty repository (its tag listing).
        sqlx::query("SELECT pg_notify('berth_cache', $1)")
            .bind(repo.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DeleteRepositoryOutcome::Deleted)
    }

    async fn put_resource_tags_tx(
        &self,
        repo: &RepositoryName,
        tags: &[(String, String)],
    ) -> Result<ResourceTagsOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // The lock serializes taggers, so the count is exact.
        let Some(id) = lock_repository(&mut tx, repo, false).await? else {
            return Ok(ResourceTagsOutcome::NotFound);
        };
        let outcome = put_tags(&mut tx, id, tags).await?;
        if outcome == ResourceTagsOutcome::Done {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    async fn link_tx(
        &self,
        repo: &RepositoryName,
        digest: &str,
        size: u64,
        now: i64,
        missing: MissingRepository,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !link(&mut tx, repo, digest, size, None, now, missing).await? {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn unlink_tx(
        &self,
        repo: &RepositoryName,
        digest: &str,
    ) -> Result<DeleteOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Lock the link before looking for manifests that use it: a push that holds it (KEY
        // SHARE) is waited for, and its manifest_blobs rows are then visible to the next
        // statement; a push that comes later waits for this delete and finds the link gone.
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT rb.repository_id FROM repository_blobs rb
             JOIN repositories r ON r.id = rb.repository_id
             WHERE r.name = $1 AND rb.digest = $2
             FOR UPDATE OF rb",
        )
        .bind(repo.as_str())
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(DeleteOutcome::NotFound);
        };
        let user: Option<String> = sqlx::query_scalar(
            "SELECT manifest_digest FROM manifest_blobs
             WHERE repository_id = $1 AND blob_digest = $2 LIMIT 1",
        )
        .bind(id)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(m) = user {
            return Ok(DeleteOutcome::Referenced(m));
        }
        sqlx::query("DELETE FROM repository_blobs WHERE repository_id = $1 AND digest = $2")
            .bind(id)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DeleteOutcome::Deleted)
    }

    #[allow(clippy::too_many_arguments)]
    async fn complete_tx(
        &self,
        id: &str,
        repo: &RepositoryName,
        digest: &str,
        size: u64,
        location: &str,
        now: i64,
        missing: MissingRepository,
    ) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if !link(&mut tx, repo, digest, size, Some(location), now, missing).await? {
            return Ok(None);
        }
        // The blobs row is committed (ours or the first writer's, whose commit our INSERT waited
        // for) and key-share locked by our new link, so it cannot vanish before we commit.
        let kept: String =
            sqlx::query_scalar("SELECT COALESCE(location, digest) FROM blobs WHERE digest = $1")
                .bind(digest)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(kept))
    }

    async fn put_manifest_tx(
        &self,
        m: &NewManifest<'_>,
        missing: MissingRepository,
    ) -> Result<Refusal, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let Some((id, mutability, exclusions)) =
            repo_for_push(&mut tx, m.repository, m.now, missing).await?
        else {
            return Ok(Err(repository_unknown(m.repository).into()));
        };
        let edges = Edges {
            blobs: m
                .manifest
                .required_blobs()
                .map(|b| b.digest.to_string())
                .collect(),
            children: m
                .manifest
                .manifests
                .iter()
                .map(|c| c.digest.to_string())
                .collect(),
        };
        let total = match lock_references(&mut tx, id, m, &edges).await? {
            Ok(size) => size + m.content.len() as u64,
            Err(refused) => return Ok(Err(refused)),
        };
        let digest = m.digest.to_string();
        insert_manifest(&mut tx, id, m, &digest, total, &edges).await?;
        let immutable: Vec<&str> = if mutability == TagMutability::Mutable.as_str() {
            Vec::new()
        } else {
            let settings = match push_settings(&mutability, &exclusions) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e.into())),
            };
            m.tags
                .iter()
                .map(Tag::as_str)
                .filter(|t| settings.tag_is_immutable(t))
                .collect()
        };
        if let Some(refused) = move_tags(&mut tx, id, m.tags, &digest, m.now, &immutable).await? {
            return Ok(Err(PutManifestError::TagImmutable(refused)));
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn delete_manifest_tx(
        &self,
        repo: &RepositoryName,
        digest: &str,
    ) -> Result<DeleteOutcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Lock the manifest before looking for parents: an index push holding it (KEY SHARE) is
        // waited for and its edge then seen; a later one waits for us and finds it gone.
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT m.repository_id FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.digest = $2
             FOR UPDATE OF m",
        )
        .bind(repo.as_str())
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(DeleteOutcome::NotFound);
        };
        let parent: Option<String> = sqlx::query_scalar(
            "SELECT parent_digest FROM manifest_children
             WHERE repository_id = $1 AND child_digest = $2 LIMIT 1",
        )
        .bind(id)
        .bind(digest)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(p) = parent {
            return Ok(DeleteOutcome::Referenced(p));
        }
        // Tags, blob edges and child edges go with the row (ON DELETE CASCADE).
        sqlx::query("DELETE FROM manifests WHERE repository_id = $1 AND digest = $2")
            .bind(id)
            .bind(digest)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DeleteOutcome::Deleted)
    }
}

#[async_trait]
impl MetadataStore for PostgresStore {
    async fn ping(&self) -> MetaResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        let r: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.is_some())
    }

    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> MetaResult<Vec<String>> {
        sqlx::query_scalar("SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2")
            .bind(last.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)
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
             WHERE r.name = $1 AND rb.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
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
             WHERE rb.digest = $1 ORDER BY r.name LIMIT $2",
        )
        .bind(digest.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
        let d = digest.to_string();
        if retrying(|| self.link_tx(repo, &d, size, now, missing))
            .await
            .map_err(err)?
        {
            Ok(())
        } else {
            Err(repository_unknown(repo))
        }
    }

    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome> {
        let d = digest.to_string();
        retrying(|| self.unlink_tx(repo, &d)).await.map_err(err)
    }

    async fn create_upload(&self, u: &UploadRow) -> MetaResult<()> {
        sqlx::query(
            "INSERT INTO uploads (id, repository, algorithm, size, created_at, updated_at,
                hash_state, storage_state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&u.id)
        .bind(u.repository.as_str())
        .bind(u.algorithm.as_str())
        .bind(u.size as i64)
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(&u.hash_state)
        .bind(&u.storage_state)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>> {
        let row: Option<UploadColumns> = sqlx::query_as(
            "SELECT id, repository, algorithm, size, created_at, updated_at, digest, hash_state,
                storage_state
             FROM uploads WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(upload_row).transpose()
    }

    async fn advance_upload(
        &self,
        id: &str,
        from_size: u64,
        p: &UploadProgress,
        now: i64,
    ) -> MetaResult<bool> {
        // One statement: a racing append from another replica waits for the row lock, then
        // re-checks the WHERE clause against the committed row and matches nothing.
        let r = sqlx::query(
            "UPDATE uploads SET size = $1, hash_state = $2, storage_state = $3, updated_at = $4
             WHERE id = $5 AND size = $6 AND digest IS NULL",
        )
        .bind(p.size as i64)
        .bind(&p.hash_state)
        .bind(&p.storage_state)
        .bind(now)
        .bind(id)
        .bind(from_size as i64)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_upload(&self, id: &str) -> MetaResult<()> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn mark_upload_verified(&self, id: &str, digest: &Digest) -> MetaResult<()> {
        sqlx::query("UPDATE uploads SET digest = $1 WHERE id = $2")
            .bind(digest.to_string())
            .bind(id)
            .execute(&self.pool)
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
        let d = digest.to_string();
        retrying(|| self.complete_tx(id, repo, &d, size, location, now, missing))
            .await
            .map_err(err)?
            .ok_or_else(|| repository_unknown(repo))
    }

    async fn stale_uploads(&self, before: i64, limit: u32) -> MetaResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM uploads WHERE updated_at < $1 ORDER BY updated_at LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    async fn put_manifest(
        &self,
        m: NewManifest<'_>,
        missing: MissingRepository,
    ) -> Result<(), PutManifestError> {
        retrying(|| self.put_manifest_tx(&m, missing))
            .await
            .map_err(err)?
    }

    async fn manifest_by_digest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<StoredManifest>> {
        sqlx::query_as(
            "SELECT m.digest, m.media_type, m.content FROM manifests m
             JOIN repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(&self.pool)
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
        sqlx::query_as(
            "SELECT m.digest, m.media_type, m.content FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.manifest_digest
             WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?
        .map(stored)
        .transpose()
    }

    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        let r = sqlx::query(
            "DELETE FROM tags
             WHERE repository_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome> {
        let d = digest.to_string();
        retrying(|| self.delete_manifest_tx(repo, &d))
            .await
            .map_err(err)
    }

    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Arc<Vec<String>>>> {
        // One round trip: no row when the repository is unknown, else one row holding the page
        // as an array (a range scan of the tags primary key, in "C" byte order).
        let page: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT ARRAY(SELECT t.name FROM tags t WHERE t.repository_id = r.id AND t.name > $2
                          ORDER BY t.name LIMIT $3)
             FROM repositories r WHERE r.name = $1",
        )
        .bind(repo.as_str())
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(page.map(Arc::new))
    }

    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> MetaResult<Vec<Referrer>> {
        let rows: Vec<(String, String, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT m.digest, m.media_type, octet_length(m.content)::BIGINT, m.artifact_type,
                m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repository_id
             WHERE r.name = $1 AND m.subject_digest = $2 ORDER BY m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(
                |(digest, media_type, size, artifact_type, annotations)| Referrer {
                    digest,
                    media_type,
                    size: size as u64,
                    artifact_type,
                    annotations,
                },
            )
            .collect())
    }

    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        // One statement for the batch: arrays of names, digests and times, unnested.
        let names: Vec<&str> = pulls.iter().map(|p| p.repository.as_str()).collect();
        let digests: Vec<&str> = pulls.iter().map(|p| p.digest.as_str()).collect();
        let times: Vec<i64> = pulls.iter().map(|p| p.at).collect();
        sqlx::query(
            "UPDATE manifests m SET last_pulled_at = p.at
             FROM UNNEST($1::text[], $2::text[], $3::bigint[]) AS p(name, digest, at)
             JOIN repositories r ON r.name = p.name
             WHERE m.repository_id = r.id AND m.digest = p.digest
               AND (m.last_pulled_at IS NULL OR m.last_pulled_at < p.at)",
        )
        .bind(&names)
        .bind(&digests)
        .bind(&times)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn list_images(
        &self,
        repo: &RepositoryName,
        from: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Vec<ImageRecord>>> {
        let id: Option<i64> = sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        let Some(id) = id else { return Ok(None) };
        #[allow(clippy::type_complexity)]
        let rows: Vec<(
            String,
            String,
            Option<String>,
            i64,
            i64,
            Option<i64>,
            bool,
            Vec<String>,
        )> = sqlx::query_as(
            "SELECT m.digest, m.media_type, m.artifact_type,
                m.total_size - octet_length(m.content), m.pushed_at, m.last_pulled_at,
                EXISTS(SELECT 1 FROM manifest_children c
                       WHERE c.repository_id = m.repository_id AND c.child_digest = m.digest),
                ARRAY(SELECT t.name FROM tags t
                      WHERE t.repository_id = m.repository_id AND t.manifest_digest = m.digest
                      ORDER BY t.name)
             FROM manifests m WHERE m.repository_id = $1 AND m.digest >= $2
             ORDER BY m.digest LIMIT $3",
        )
        .bind(id)
        .bind(from.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(Some(
            rows.into_iter()
                .map(
                    |(
                        digest,
                        media_type,
                        artifact_type,
                        size,
                        pushed_at,
                        last_pulled_at,
                        in_index,
                        tags,
                    )| ImageRecord {
                        digest,
                        media_type,
                        artifact_type,
                        size: size as u64,
                        pushed_at,
                        last_pulled_at,
                        in_index,
                        tags,
                    },
                )
                .collect(),
        ))
    }

    async fn repository(&self, repo: &RepositoryName) -> MetaResult<Option<RepositoryRecord>> {
        let row: Option<RepositoryColumns> = sqlx::query_as(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = $1"
        ))
        .bind(repo.as_str())
        .fetch_optional(&self.pool)
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
        retrying(|| self.create_repository_tx(repo, settings, tags, now))
            .await
            .map_err(err)?
    }

    async fn describe_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Vec<RepositoryRecord>> {
        let rows: Vec<RepositoryColumns> = sqlx::query_as(&format!(
            "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name > $1 ORDER BY name LIMIT $2"
        ))
        .bind(last.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
            "UPDATE repositories SET tag_mutability = $1, mutability_exclusions = $2
             WHERE name = $3",
        )
        .bind(mutability.as_str())
        .bind(exclusions_json(exclusions))
        .bind(repo.as_str())
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_scan_on_push(
        &self,
        repo: &RepositoryName,
        scan_on_push: bool,
    ) -> MetaResult<bool> {
        let r = sqlx::query("UPDATE repositories SET scan_on_push = $1 WHERE name = $2")
            .bind(scan_on_push)
            .bind(repo.as_str())
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_repository(
        &self,
        repo: &RepositoryName,
        force: bool,
    ) -> MetaResult<DeleteRepositoryOutcome> {
        retrying(|| self.delete_repository_tx(repo, force))
            .await
            .map_err(err)
    }

    async fn resource_tags(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Vec<(String, String)>>> {
        // One round trip: no row when the repository is unknown.
        let row: Option<(Vec<String>, Vec<String>)> = sqlx::query_as(
            "SELECT ARRAY(SELECT t.key FROM repository_resource_tags t
                          WHERE t.repository_id = r.id ORDER BY t.key),
                    ARRAY(SELECT t.value FROM repository_resource_tags t
                          WHERE t.repository_id = r.id ORDER BY t.key)
             FROM repositories r WHERE r.name = $1",
        )
        .bind(repo.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(|(k, v)| k.into_iter().zip(v).collect()))
    }

    async fn put_resource_tags(
        &self,
        repo: &RepositoryName,
        tags: &[(String, String)],
    ) -> MetaResult<ResourceTagsOutcome> {
        retrying(|| self.put_resource_tags_tx(repo, tags))
            .await
            .map_err(err)
    }

    async fn delete_resource_tags(
        &self,
        repo: &RepositoryName,
        keys: &[String],
    ) -> MetaResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "WITH r AS (SELECT id FROM repositories WHERE name = $1),
                  d AS (DELETE FROM repository_resource_tags
                        WHERE repository_id = (SELECT id FROM r) AND key = ANY($2))
             SELECT id FROM r",
        )
        .bind(repo.as_str())
        .bind(keys)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(found.is_some())
    }

    async fn registry_setting(&self, name: &str) -> MetaResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM registry_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn put_registry_setting(&self, name: &str, value: &str, now: i64) -> MetaResult<()> {
        sqlx::query(
            "INSERT INTO registry_settings (name, value, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn lifecycle_policy(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>> {
        let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT lifecycle_policy, lifecycle_evaluated_at FROM repositories WHERE name = $1",
        )
        .bind(repo.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(lifecycle_record))
    }

    async fn set_lifecycle_policy(
        &self,
        repo: &RepositoryName,
        text: Option<&str>,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let row: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT lifecycle_policy, lifecycle_evaluated_at FROM repositories WHERE name = $1 FOR UPDATE",
        )
        .bind(repo.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        sqlx::query(
            "UPDATE repositories SET lifecycle_policy = $1, lifecycle_evaluated_at = NULL WHERE name = $2",
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
             SELECT id, $1, $2, $3, $4 FROM repositories WHERE name = $5
             ON CONFLICT (repository_id) DO UPDATE SET policy_text = excluded.policy_text,
                status = excluded.status, started_at = excluded.started_at, results = excluded.results",
        )
        .bind(&preview.policy_text)
        .bind(&preview.status)
        .bind(preview.started_at)
        .bind(&preview.results)
        .bind(repo.as_str())
        .execute(&self.pool)
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
             WHERE r.name = $1",
        )
        .bind(repo.as_str())
        .fetch_optional(&self.pool)
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
