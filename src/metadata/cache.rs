//! An in-memory read cache of manifests and tags, kept exact by invalidation.
//!
//! The embedded store owns its database, so the writes through `CachedStore` are all the
//! invalidation it needs.
//! Replicas over PostgreSQL also hear about every other replica's writes: a trigger notifies
//! the channel `berth_cache` with the repository's name when its tags or manifests change, at
//! commit, and `CachedStore` drops that repository's entries. While the notification connection
//! is down the cache is off, and it starts empty when the connection is back.

use super::*;
use std::sync::Arc;

/// Bounds of the read cache: past either, it starts over empty.
const CACHE_MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;
const CACHE_MAX_TAGS: usize = 200_000;
const CACHE_MAX_TAG_PAGES: usize = 1024;

/// Manifests by (repository, digest) and tags by (repository, tag). A reader only fills the
/// cache if no write invalidated anything since it began its query (the generation did not
/// move); writers bump the generation and invalidate after they commit, under the same lock,
/// so a stale value can never be left behind.
pub struct ReadCache(std::sync::Mutex<CacheState>);

struct CacheState {
    /// Off while the store cannot guarantee to hear about other writers (PostgreSQL's
    /// notification connection is down): nothing is served from or put into the cache.
    enabled: bool,
    generation: u64,
    manifests: std::collections::HashMap<(String, String), StoredManifest>,
    manifest_bytes: usize,
    tags: std::collections::HashMap<(String, String), String>,
    /// Tag listing pages by (repository, last, limit).
    tag_pages: std::collections::HashMap<(String, String, u32), Arc<Vec<String>>>,
}

impl ReadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn by_digest(&self, repo: &str, digest: &str) -> Option<StoredManifest> {
        let c = self.lock();
        if !c.enabled {
            return None;
        }
        c.manifests
            .get(&(repo.to_owned(), digest.to_owned()))
            .cloned()
    }

    pub fn by_tag(&self, repo: &str, tag: &str) -> Option<StoredManifest> {
        let c = self.lock();
        if !c.enabled {
            return None;
        }
        let d = c.tags.get(&(repo.to_owned(), tag.to_owned()))?;
        c.manifests.get(&(repo.to_owned(), d.clone())).cloned()
    }

    pub fn fill(&self, generation: u64, repo: &str, tag: Option<&str>, m: &StoredManifest) {
        let mut c = self.lock();
        if !c.enabled || c.generation != generation {
            return;
        }
        if c.manifest_bytes + m.content.len() > CACHE_MAX_MANIFEST_BYTES {
            c.manifests.clear();
            c.manifest_bytes = 0;
        }
        if c.tags.len() >= CACHE_MAX_TAGS {
            c.tags.clear();
        }
        let digest = m.digest.to_string();
        if let Some(t) = tag {
            c.tags
                .insert((repo.to_owned(), t.to_owned()), digest.clone());
        }
        if c.manifests
            .insert((repo.to_owned(), digest), m.clone())
            .is_none()
        {
            c.manifest_bytes += m.content.len();
        }
    }

    pub fn tag_page(&self, repo: &str, last: &str, limit: u32) -> Option<Arc<Vec<String>>> {
        let c = self.lock();
        if !c.enabled {
            return None;
        }
        c.tag_pages
            .get(&(repo.to_owned(), last.to_owned(), limit))
            .cloned()
    }

    pub fn fill_tag_page(
        &self,
        generation: u64,
        repo: &str,
        last: &str,
        limit: u32,
        page: &Arc<Vec<String>>,
    ) {
        let mut c = self.lock();
        if !c.enabled || c.generation != generation {
            return;
        }
        if c.tag_pages.len() >= CACHE_MAX_TAG_PAGES {
            c.tag_pages.clear();
        }
        c.tag_pages
            .insert((repo.to_owned(), last.to_owned(), limit), page.clone());
    }

    /// After a write: forget the given tags, and (when a manifest was deleted) the manifest
    /// and every tag that pointed at it.
    pub fn invalidate(&self, repo: &str, tags: &[&str], deleted: Option<&str>) {
        let mut c = self.lock();
        c.generation += 1;
        if !tags.is_empty() || deleted.is_some() {
            c.tag_pages.retain(|(r, _, _), _| r != repo);
        }
        for t in tags {
            c.tags.remove(&(repo.to_owned(), (*t).to_owned()));
        }
        if let Some(d) = deleted {
            if let Some(m) = c.manifests.remove(&(repo.to_owned(), d.to_owned())) {
                c.manifest_bytes -= m.content.len();
            }
            c.tags.retain(|(r, _), v| !(r == repo && v == d));
        }
    }
}

impl ReadCache {
    pub fn new(enabled: bool) -> ReadCache {
        ReadCache(std::sync::Mutex::new(CacheState {
            enabled,
            generation: 0,
            manifests: Default::default(),
            manifest_bytes: 0,
            tags: Default::default(),
            tag_pages: Default::default(),
        }))
    }

    /// Forget everything about one repository (another replica changed it).
    pub fn invalidate_repo(&self, repo: &str) {
        let mut c = self.lock();
        c.generation += 1;
        c.tag_pages.retain(|(r, _, _), _| r != repo);
        c.tags.retain(|(r, _), _| r != repo);
        let mut freed = 0;
        c.manifests.retain(|(r, _), m| {
            let keep = r != repo;
            if !keep {
                freed += m.content.len();
            }
            keep
        });
        c.manifest_bytes -= freed;
    }

    /// Forget everything and serve nothing from the cache until `enable`.
    pub fn disable(&self) {
        let mut c = self.lock();
        c.enabled = false;
        c.generation += 1;
        c.manifests.clear();
        c.manifest_bytes = 0;
        c.tags.clear();
        c.tag_pages.clear();
    }

    pub fn enable(&self) {
        let mut c = self.lock();
        c.generation += 1;
        c.enabled = true;
    }
}

/// A `MetadataStore` with a read cache in front of manifest and tag reads; every write through
/// it invalidates what it changed, and `cache()` takes invalidations from elsewhere.
pub struct CachedStore<S> {
    inner: S,
    cache: Arc<ReadCache>,
}

impl<S: MetadataStore> CachedStore<S> {
    /// A cache that starts disabled: call `cache().enable()` once invalidations from other
    /// writers are flowing.
    pub fn new(inner: S) -> Self {
        CachedStore {
            inner,
            cache: Arc::new(ReadCache::new(false)),
        }
    }

    /// A cache for a store that no one else writes to (the embedded SQLite database).
    pub fn exclusive(inner: S) -> Self {
        CachedStore {
            inner,
            cache: Arc::new(ReadCache::new(true)),
        }
    }

    pub fn cache(&self) -> Arc<ReadCache> {
        self.cache.clone()
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: MetadataStore> MetadataStore for CachedStore<S> {
    async fn ping(&self) -> MetaResult<()> {
        self.inner.ping().await
    }
    async fn repository_exists(&self, repo: &RepositoryName) -> MetaResult<bool> {
        self.inner.repository_exists(repo).await
    }
    async fn list_repositories(&self, last: Option<&str>, limit: u32) -> MetaResult<Vec<String>> {
        self.inner.list_repositories(last, limit).await
    }
    async fn repository_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<BlobRecord>> {
        self.inner.repository_blob(repo, digest).await
    }
    async fn repositories_with_blob(&self, digest: &Digest, limit: u32) -> MetaResult<Vec<String>> {
        self.inner.repositories_with_blob(digest, limit).await
    }
    async fn link_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        size: u64,
        now: i64,
        missing: MissingRepository,
    ) -> MetaResult<()> {
        self.inner.link_blob(repo, digest, size, now, missing).await
    }
    async fn unlink_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome> {
        self.inner.unlink_blob(repo, digest).await
    }
    async fn create_upload(&self, upload: &UploadRow) -> MetaResult<()> {
        self.inner.create_upload(upload).await
    }
    async fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>> {
        self.inner.get_upload(id).await
    }
    async fn advance_upload(
        &self,
        id: &str,
        from_size: u64,
        progress: &UploadProgress,
        now: i64,
    ) -> MetaResult<bool> {
        self.inner
            .advance_upload(id, from_size, progress, now)
            .await
    }
    async fn delete_upload(&self, id: &str) -> MetaResult<()> {
        self.inner.delete_upload(id).await
    }
    async fn mark_upload_verified(&self, id: &str, digest: &Digest) -> MetaResult<()> {
        self.inner.mark_upload_verified(id, digest).await
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
        self.inner
            .complete_upload(id, repo, digest, size, location, now, missing)
            .await
    }
    async fn stale_uploads(&self, before: i64, limit: u32) -> MetaResult<Vec<String>> {
        self.inner.stale_uploads(before, limit).await
    }

    async fn put_manifest(
        &self,
        m: NewManifest<'_>,
        missing: MissingRepository,
    ) -> Result<(), PutManifestError> {
        let repo = m.repository.as_str().to_owned();
        let tags: Vec<String> = m.tags.iter().map(|t| t.as_str().to_owned()).collect();
        let r = self.inner.put_manifest(m, missing).await;
        // Also after a failure: the outcome of a failed commit is unknown.
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        self.cache.invalidate(&repo, &tags, None);
        r
    }
    async fn manifest_by_digest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<Option<StoredManifest>> {
        let d = digest.to_string();
        if let Some(m) = self.cache.by_digest(repo.as_str(), &d) {
            return Ok(Some(m));
        }
        let generation = self.cache.generation();
        let found = self.inner.manifest_by_digest(repo, digest).await?;
        if let Some(m) = &found {
            self.cache.fill(generation, repo.as_str(), None, m);
        }
        Ok(found)
    }
    async fn manifest_by_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> MetaResult<Option<StoredManifest>> {
        if let Some(m) = self.cache.by_tag(repo.as_str(), tag.as_str()) {
            return Ok(Some(m));
        }
        let generation = self.cache.generation();
        let found = self.inner.manifest_by_tag(repo, tag).await?;
        if let Some(m) = &found {
            self.cache
                .fill(generation, repo.as_str(), Some(tag.as_str()), m);
        }
        Ok(found)
    }
    async fn delete_tag(&self, repo: &RepositoryName, tag: &Tag) -> MetaResult<bool> {
        let r = self.inner.delete_tag(repo, tag).await;
        self.cache.invalidate(repo.as_str(), &[tag.as_str()], None);
        r
    }
    async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
    ) -> MetaResult<DeleteOutcome> {
        let r = self.inner.delete_manifest(repo, digest).await;
        self.cache
            .invalidate(repo.as_str(), &[], Some(&digest.to_string()));
        r
    }
    async fn list_tags(
        &self,
        repo: &RepositoryName,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Arc<Vec<String>>>> {
        let l = last.unwrap_or("");
        if let Some(page) = self.cache.tag_page(repo.as_str(), l, limit) {
            return Ok(Some(page));
        }
        let generation = self.cache.generation();
        let found = self.inner.list_tags(repo, last, limit).await?;
        if let Some(page) = &found {
            self.cache
                .fill_tag_page(generation, repo.as_str(), l, limit, page);
        }
        Ok(found)
    }
    async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
    ) -> MetaResult<Vec<Referrer>> {
        self.inner.referrers(repo, subject).await
    }

    async fn record_pulls(&self, pulls: &[Pull]) -> MetaResult<()> {
        self.inner.record_pulls(pulls).await
    }

    async fn list_images(
        &self,
        repo: &RepositoryName,
        from: Option<&str>,
        limit: u32,
    ) -> MetaResult<Option<Vec<ImageRecord>>> {
        self.inner.list_images(repo, from, limit).await
    }

    async fn repository(&self, repo: &RepositoryName) -> MetaResult<Option<RepositoryRecord>> {
        self.inner.repository(repo).await
    }
    async fn create_repository(
        &self,
        repo: &RepositoryName,
        settings: &RepositorySettings,
        tags: &[(String, String)],
        now: i64,
    ) -> MetaResult<bool> {
        self.inner
            .create_repository(repo, settings, tags, now)
            .await
    }
    async fn describe_repositories(
        &self,
        last: Option<&str>,
        limit: u32,
    ) -> MetaResult<Vec<RepositoryRecord>> {
        self.inner.describe_repositories(last, limit).await
    }
    async fn set_tag_mutability(
        &self,
        repo: &RepositoryName,
        mutability: TagMutability,
        exclusions: &[String],
    ) -> MetaResult<bool> {
        let r = self
            .inner
            .set_tag_mutability(repo, mutability, exclusions)
            .await;
        self.cache.invalidate_repo(repo.as_str());
        r
    }
    async fn set_scan_on_push(
        &self,
        repo: &RepositoryName,
        scan_on_push: bool,
    ) -> MetaResult<bool> {
        let r = self.inner.set_scan_on_push(repo, scan_on_push).await;
        self.cache.invalidate_repo(repo.as_str());
        r
    }
    async fn delete_repository(
        &self,
        repo: &RepositoryName,
        force: bool,
    ) -> MetaResult<DeleteRepositoryOutcome> {
        let r = self.inner.delete_repository(repo, force).await;
        // Also after a failure: the outcome of a failed commit is unknown.
        self.cache.invalidate_repo(repo.as_str());
        r
    }
    async fn resource_tags(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Vec<(String, String)>>> {
        self.inner.resource_tags(repo).await
    }
    async fn put_resource_tags(
        &self,
        repo: &RepositoryName,
        tags: &[(String, String)],
    ) -> MetaResult<ResourceTagsOutcome> {
        self.inner.put_resource_tags(repo, tags).await
    }
    async fn delete_resource_tags(
        &self,
        repo: &RepositoryName,
        keys: &[String],
    ) -> MetaResult<bool> {
        self.inner.delete_resource_tags(repo, keys).await
    }

    async fn registry_setting(&self, name: &str) -> MetaResult<Option<String>> {
        self.inner.registry_setting(name).await
    }
    async fn put_registry_setting(&self, name: &str, value: &str, now: i64) -> MetaResult<()> {
        self.inner.put_registry_setting(name, value, now).await
    }
    async fn lifecycle_policy(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>> {
        self.inner.lifecycle_policy(repo).await
    }
    async fn set_lifecycle_policy(
        &self,
        repo: &RepositoryName,
        text: Option<&str>,
    ) -> MetaResult<Option<Option<LifecyclePolicyRecord>>> {
        self.inner.set_lifecycle_policy(repo, text).await
    }
    async fn put_lifecycle_preview(
        &self,
        repo: &RepositoryName,
        preview: &LifecyclePreviewRecord,
    ) -> MetaResult<bool> {
        self.inner.put_lifecycle_preview(repo, preview).await
    }
    async fn lifecycle_preview(
        &self,
        repo: &RepositoryName,
    ) -> MetaResult<Option<LifecyclePreviewRecord>> {
        self.inner.lifecycle_preview(repo).await
    }
}

/// Keep `cache` exact while other replicas write: listen on `berth_cache` and drop what each
/// notification names. The cache is off whenever the listening connection is down (changes
/// made meanwhile would go unheard) and starts empty when it is back. Runs until dropped.
pub async fn follow_postgres_notifications(url: String, cache: Arc<ReadCache>) {
    use sqlx::postgres::PgListener;
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        cache.disable();
        match PgListener::connect(&url).await {
            Ok(mut listener) => {
                // A lost connection must reach this loop at once, to turn the cache off: by
                // default sqlx reconnects inside `try_recv` first, retrying for as long as its
                // pool's acquire timeout (30 s) while the cache stays on and hears nothing.
                listener.eager_reconnect(false);
                match listener.listen("berth_cache").await {
                    Ok(()) => {
                        cache.enable();
                        backoff = std::time::Duration::from_millis(100);
                        loop {
                            match listener.try_recv().await {
                                Ok(Some(n)) if n.payload() == "*" => {
                                    cache.disable();
                                    cache.enable();
                                }
                                Ok(Some(n)) => cache.invalidate_repo(n.payload()),
                                Ok(None) => {
                                    tracing::warn!("cache notifications interrupted; cache off until they resume");
                                    break;
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "cache notifications failed; cache off until they resume");
                                    break;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot LISTEN for cache notifications"),
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot connect for cache notifications"),
        }
        cache.disable();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: u8) -> StoredManifest {
        StoredManifest {
            digest: Algorithm::Sha256.digest(&[n]),
            media_type: "x".into(),
            content: bytes::Bytes::from(vec![n; 10]),
        }
    }

    #[test]
    fn a_disabled_cache_serves_and_keeps_nothing() {
        let c = ReadCache::new(false);
        c.fill(c.generation(), "r", Some("t"), &m(1));
        assert!(c.by_tag("r", "t").is_none());
        c.enable();
        c.fill(c.generation(), "r", Some("t"), &m(1));
        assert!(c.by_tag("r", "t").is_some());
        c.disable();
        assert!(c.by_tag("r", "t").is_none());
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let c = ReadCache::new(true);
        let g = c.generation();
        c.invalidate_repo("r"); // another replica moved the tag while we read
        c.fill(g, "r", Some("t"), &m(1));
        assert!(c.by_tag("r", "t").is_none());
    }

    #[test]
    fn invalidating_a_repository_leaves_the_others() {
        let c = ReadCache::new(true);
        c.fill(c.generation(), "a", Some("t"), &m(1));
        c.fill(c.generation(), "b", Some("t"), &m(2));
        c.invalidate_repo("a");
        assert!(c.by_tag("a", "t").is_none());
        assert!(c.by_tag("b", "t").is_some());
        assert!(c.by_digest("a", &m(1).digest.to_string()).is_none());
    }
}
