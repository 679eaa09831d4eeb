//! A bounded local disk cache of blobs for stores whose reads cost more than a local file (S3).
//!
//! Blobs never change once committed (a location always holds the same bytes), so a cached copy
//! never goes stale; the cache only has to be bounded (least recently used files go first) and
//! must never serve a partial file: a blob is cached only when a download from the start
//! reached its full size, and the file is made durable before it is renamed into place.
//!
//! Pushes fill it too (write-through): a request that writes an upload from its first byte
//! keeps a copy of what it wrote in a *staged* file, named by a random nonce that the store puts
//! in the upload state the request returns. When the upload is committed with a recorded state
//! that still carries that nonce, the recorded bytes are exactly the staged ones (the registry
//! records a request's state only when every byte of it was written and hashed), so the staged
//! file is made durable and becomes the cached blob: the first pull after a push is served from
//! local disk. Any other path (a later request appended, another replica wrote, the request
//! failed, the copy fell behind the upload) leaves no nonce in the recorded state, and the staged
//! file is dropped.

use super::{ByteStream, StorageError};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Chunks buffered between a download and the cache writer; past this the fill is abandoned
/// rather than slowing the client down.
const FILL_QUEUE: usize = 64;
/// Bytes an upload's staging copy may have queued for the disk.
const STAGE_BACKLOG: u64 = 32 * 1024 * 1024;
/// How long an upload waits for its copy to catch up before the copy is abandoned.
const STAGE_WAIT: Duration = Duration::from_secs(1);
/// A staged upload that is not committed within this time is dropped.
/// (A client commits right after its last request; a copy older than this most likely belongs to
/// an upload that another replica committed.)
const STAGE_TTL: Duration = Duration::from_secs(600);

pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    /// Bytes in staging files, being written or waiting for their commit.
    staging: AtomicU64,
    /// Background tasks running (fills, staging writers, adoptions); see `idle`.
    pending: tokio::sync::watch::Sender<usize>,
}

/// One running background task of a cache, counted from before its spawn to its end (also
/// when it panics), so that `idle` never misses work already started.
struct Busy(Arc<DiskCache>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.pending.send_modify(|n| *n -= 1);
    }
}

#[derive(Default)]
struct Index {
    /// File name → (size, last use).
    entries: HashMap<String, (u64, u64)>,
    total: u64,
    clock: u64,
    /// Complete staged uploads by nonce, waiting for their commit.
    staged: HashMap<String, Staged>,
    /// Names being adopted from a staged upload; `remove` takes a name out to cancel it.
    adopting: std::collections::HashSet<String>,
}

struct Staged {
    path: PathBuf,
    len: u64,
    at: Instant,
}

impl DiskCache {
    /// Open (and index) the cache directory; leftovers of interrupted fills are removed.
    pub fn open(dir: PathBuf, max_bytes: u64) -> std::io::Result<Arc<DiskCache>> {
        std::fs::create_dir_all(&dir)?;
        let mut index = Index::default();
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || !e.file_type()?.is_file() {
                let _ = std::fs::remove_file(e.path());
                continue;
            }
            let size = e.metadata()?.len();
            index.clock += 1;
            index.entries.insert(name, (size, index.clock));
            index.total += size;
        }
        let cache = Arc::new(DiskCache {
            dir,
            max_bytes,
            index: Mutex::new(index),
            staging: AtomicU64::new(0),
            pending: tokio::sync::watch::Sender::new(0),
        });
        cache.evict(0);
        Ok(cache)
    }

    fn name(location: &str) -> String {
        hex::encode(&Sha256::digest(location.as_bytes())[..16])
    }

    /// Count a background task about to be spawned; it holds the returned guard until it ends.
    fn busy(self: &Arc<Self>) -> Busy {
        self.pending.send_modify(|n| *n += 1);
        Busy(self.clone())
    }

    /// Wait until no background work is running: download fills (each ends when its download
    /// stream ends or is dropped), staging writers (each ends when its `Stage` is finished or
    /// dropped) and adoptions. What the cache holds then no longer changes by itself, which
    /// is what tests need before asserting that something is, or is not, cached.
    pub async fn idle(&self) {
        let mut pending = self.pending.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail here.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes held now.
    pub fn size(&self) -> u64 {
        self.lock().total
    }

    /// The cached copy of `location`, if any: its path and size.
    pub fn lookup(&self, location: &str) -> Option<(PathBuf, u64)> {
        let name = Self::name(location);
        let mut ix = self.lock();
        ix.clock += 1;
        let clock = ix.clock;
        let e = ix.entries.get_mut(&name)?;
        e.1 = clock;
        Some((self.dir.join(name), e.0))
    }

    /// Forget the cached copy of `location` (its blob is being deleted).
    pub fn remove(&self, location: &str) {
        let name = Self::name(location);
        let mut ix = self.lock();
        ix.adopting.remove(&name);
        if let Some((size, _)) = ix.entries.remove(&name) {
            ix.total -= size;
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }

    /// Serve `range` of the cached copy of `location`, if there is one that covers it.
    pub async fn get(
        &self,
        location: &str,
        range: Option<&Range<u64>>,
    ) -> Option<Result<ByteStream, StorageError>> {
        let (path, size) = self.lookup(location)?;
        let range = range.cloned().unwrap_or(0..size);
        if range.end > size {
            return None;
        }
        match super::fs::stream_file(path, range).await {
            Ok(s) => Some(Ok(s)),
            // Evicted between lookup and open: read from the store instead.
            Err(StorageError::NotFound) => None,
            Err(e) => Some(Err(e)),
        }
    }

    /// Pass `stream` (the whole blob, `len` bytes, from its first byte) through, keeping a
    /// copy that becomes the cached blob if the stream reaches its end intact.
    pub fn fill(self: &Arc<Self>, location: &str, len: u64, stream: ByteStream) -> ByteStream {
        if len > self.max_bytes / 4 {
            return stream; // too large to be worth displacing everything else
        }
        let name = Self::name(location);
        let tmp = self
            .dir
            .join(format!("{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let (tx, rx) = std::sync::mpsc::sync_channel::<Option<Bytes>>(FILL_QUEUE);
        let (cache, busy) = (self.clone(), self.busy());
        tokio::task::spawn_blocking(move || {
            cache.write_fill(rx, tmp, name, len);
            drop(busy);
        });
        let mut tx = Some(tx);
        let mut seen = 0u64;
        stream
            .map(move |item| {
                if let Some(t) = &tx {
                    let keep = match &item {
                        Ok(b) => {
                            seen += b.len() as u64;
                            let mut ok = t.try_send(Some(b.clone())).is_ok();
                            if ok && seen == len {
                                ok = t.try_send(None).is_ok(); // complete: commit
                            }
                            ok && seen <= len
                        }
                        Err(_) => false,
                    };
                    if !keep || seen == len {
                        tx = None; // abandon (or done): dropping the sender ends the writer
                    }
                }
                item
            })
            .boxed()
    }

    fn write_fill(
        &self,
        rx: std::sync::mpsc::Receiver<Option<Bytes>>,
        tmp: PathBuf,
        name: String,
        len: u64,
    ) {
        let result = (|| -> std::io::Result<bool> {
            let mut f = std::fs::File::create(&tmp)?;
            let mut written = 0u64;
            while let Ok(msg) = rx.recv() {
                match msg {
                    Some(b) => {
                        f.write_all(&b)?;
                        written += b.len() as u64;
                    }
                    None => {
                        if written != len {
                            return Ok(false);
                        }
                        f.sync_all()?;
                        std::fs::rename(&tmp, self.dir.join(&name))?;
                        return Ok(true);
                    }
                }
            }
            Ok(false) // the download stopped short
        })();
        match result {
            Ok(true) => {
                {
                    let mut ix = self.lock();
                    ix.clock += 1;
                    let clock = ix.clock;
                    if let Some((old, _)) = ix.entries.insert(name.clone(), (len, clock)) {
                        ix.total -= old;
                    }
                    ix.total += len;
                }
                self.evict(len);
            }
            Ok(false) => {
                let _ = std::fs::remove_file(&tmp);
            }
            Err(e) => {
                tracing::debug!(error = %e, "blob cache fill failed");
                let _ = std::fs::remove_file(&tmp);
            }
        }
    }

    /// Start keeping a copy of an upload written from its first byte.
    pub fn stage(self: &Arc<Self>) -> Stage {
        let now = Instant::now();
        self.drop_staged(|s| now.duration_since(s.at) > STAGE_TTL);
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let path = self.dir.join(format!("{nonce}.stage.tmp"));
        let (tx, rx) = std::sync::mpsc::channel::<Option<Bytes>>();
        let backlog = Arc::new(AtomicU64::new(0));
        let writer = {
            let (path, backlog, busy) = (path.clone(), backlog.clone(), self.busy());
            tokio::task::spawn_blocking(move || {
                let written = write_stage(rx, &path, &backlog);
                drop(busy);
                written
            })
        };
        Stage {
            cache: self.clone(),
            nonce,
            path,
            tx: Some(tx),
            backlog,
            held: 0,
            writer,
        }
    }

    /// Reserve `n` bytes of staging room (half of the bound in all), dropping the oldest
    /// complete staged copies if needed: those are most likely uploads that another replica
    /// committed. False when there is no room.
    fn reserve_staging(&self, n: u64) -> bool {
        let limit = self.max_bytes / 2;
        loop {
            let used = self.staging.load(Ordering::Relaxed);
            if used + n <= limit {
                if self
                    .staging
                    .compare_exchange(used, used + n, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            let oldest = {
                let ix = self.lock();
                ix.staged
                    .iter()
                    .min_by_key(|(_, s)| s.at)
                    .map(|(n, _)| n.clone())
            };
            match oldest {
                Some(nonce) => self.discard(&nonce),
                None => return false,
            }
        }
    }

    fn release_staging(&self, n: u64) {
        self.staging.fetch_sub(n, Ordering::Relaxed);
    }

    /// Drop the complete staged copies that `which` selects.
    fn drop_staged(&self, which: impl Fn(&Staged) -> bool) {
        let dropped: Vec<Staged> = {
            let mut ix = self.lock();
            let nonces: Vec<String> = ix
                .staged
                .iter()
                .filter(|(_, s)| which(s))
                .map(|(n, _)| n.clone())
                .collect();
            nonces.iter().filter_map(|n| ix.staged.remove(n)).collect()
        };
        for s in dropped {
            let _ = std::fs::remove_file(&s.path);
            self.release_staging(s.len);
        }
    }

    /// The upload staged as `nonce` was committed as `location`, `len` bytes: make the staged
    /// copy durable (in the background) and cache it. Nothing happens when this replica holds
    /// no complete copy under that nonce.
    pub fn adopt(self: &Arc<Self>, nonce: &str, location: &str, len: u64) {
        let name = Self::name(location);
        let staged = {
            let mut ix = self.lock();
            let Some(s) = ix.staged.remove(nonce) else {
                return;
            };
            if s.len == len {
                ix.adopting.insert(name.clone());
            }
            s
        };
        if staged.len != len {
            let _ = std::fs::remove_file(&staged.path);
            self.release_staging(staged.len);
            return;
        }
        let (cache, busy) = (self.clone(), self.busy());
        tokio::task::spawn_blocking(move || {
            let _busy = busy;
            let durable = std::fs::File::open(&staged.path).and_then(|f| f.sync_all());
            let adopted = {
                let mut ix = cache.lock();
                // Cancelled by `remove` (the blob was deleted meanwhile) or not durable: drop it.
                let wanted = ix.adopting.remove(&name) && durable.is_ok();
                let renamed =
                    wanted && std::fs::rename(&staged.path, cache.dir.join(&name)).is_ok();
                if renamed {
                    ix.clock += 1;
                    let clock = ix.clock;
                    if let Some((old, _)) = ix.entries.insert(name.clone(), (len, clock)) {
                        ix.total -= old;
                    }
                    ix.total += len;
                }
                renamed
            };
            cache.release_staging(len);
            if adopted {
                cache.evict(len);
            } else {
                let _ = std::fs::remove_file(&staged.path);
            }
        });
    }

    /// Drop the upload staged as `nonce`, if this replica holds it.
    pub fn discard(&self, nonce: &str) {
        let staged = self.lock().staged.remove(nonce);
        if let Some(s) = staged {
            let _ = std::fs::remove_file(&s.path);
            self.release_staging(s.len);
        }
    }

    /// Drop least recently used files until the cache fits (keeping room for `_incoming`).
    fn evict(&self, _incoming: u64) {
        let victims: Vec<String> = {
            let mut ix = self.lock();
            let mut victims = Vec::new();
            if ix.total > self.max_bytes {
                let mut by_age: Vec<(u64, String, u64)> = ix
                    .entries
                    .iter()
                    .map(|(n, (s, t))| (*t, n.clone(), *s))
                    .collect();
                by_age.sort();
                for (_, n, s) in by_age {
                    if ix.total <= self.max_bytes {
                        break;
                    }
                    ix.entries.remove(&n);
                    ix.total -= s;
                    victims.push(n);
                }
            }
            victims
        };
        for n in victims {
            let _ = std::fs::remove_file(self.dir.join(n));
        }
    }
}

/// The staging copy of one upload request's bytes (see the module doc).
pub struct Stage {
    cache: Arc<DiskCache>,
    nonce: String,
    path: PathBuf,
    /// `None` once abandoned; `None` sent on it means "complete".
    tx: Option<std::sync::mpsc::Sender<Option<Bytes>>>,
    /// Bytes sent to the writer but not yet written.
    backlog: Arc<AtomicU64>,
    /// Staging room reserved for this copy (its bytes so far).
    held: u64,
    writer: tokio::task::JoinHandle<std::io::Result<u64>>,
}

impl Stage {
    /// Copy the next chunk of the request, unless the copy is abandoned, would outgrow what
    /// the cache keeps or the room for staging, or has fallen too far behind the upload.
    pub async fn write(&mut self, chunk: &Bytes) {
        if self.tx.is_none() {
            return;
        }
        let n = chunk.len() as u64;
        if self.held + n > self.cache.max_bytes / 4 {
            return self.abandon("larger than a quarter of the cache");
        }
        // The disk is slower than the upload for a moment (another file's fsync, writeback):
        // wait a little for the copy to catch up rather than lose it.
        let mut waited = Duration::ZERO;
        while self.backlog.load(Ordering::Relaxed) + n > STAGE_BACKLOG {
            if waited >= STAGE_WAIT {
                return self.abandon("the disk fell behind the upload");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            waited += Duration::from_millis(5);
        }
        if !self.cache.reserve_staging(n) {
            return self.abandon("no staging room");
        }
        self.held += n;
        self.backlog.fetch_add(n, Ordering::Relaxed);
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Some(chunk.clone())).is_ok());
        if !sent {
            self.abandon("the copy could not be written");
        }
    }

    /// Stop copying: the writer sees the channel close without "complete" and removes the file.
    fn abandon(&mut self, why: &str) {
        tracing::debug!(nonce = %self.nonce, bytes = self.held, why, "upload copy for the blob cache abandoned");
        self.tx = None;
        self.cache.release_staging(std::mem::take(&mut self.held));
    }

    /// The request wrote `len` bytes in all: when the copy holds exactly those, keep it as a
    /// staged upload and return its nonce (for the upload's state).
    pub async fn finish(mut self, len: u64) -> Option<String> {
        let tx = self.tx.take()?;
        if self.held != len || tx.send(None).is_err() {
            return None; // `Drop` releases the room; the writer removes the file
        }
        drop(tx);
        match (&mut self.writer).await {
            Ok(Ok(written)) if written == len => {}
            _ => {
                let _ = std::fs::remove_file(&self.path);
                return None;
            }
        }
        // The room now belongs to the staged entry.
        self.held = 0;
        self.cache.lock().staged.insert(
            self.nonce.clone(),
            Staged {
                path: self.path.clone(),
                len,
                at: Instant::now(),
            },
        );
        Some(std::mem::take(&mut self.nonce))
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.cache.release_staging(self.held);
    }
}

/// Write a staging copy; the file is removed unless the channel delivers "complete".
fn write_stage(
    rx: std::sync::mpsc::Receiver<Option<Bytes>>,
    path: &std::path::Path,
    backlog: &AtomicU64,
) -> std::io::Result<u64> {
    let result = (|| {
        let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        let mut written = 0u64;
        while let Ok(msg) = rx.recv() {
            let Some(b) = msg else {
                f.flush()?;
                return Ok(written);
            };
            f.write_all(&b)?;
            written += b.len() as u64;
            backlog.fetch_sub(b.len() as u64, Ordering::Relaxed);
        }
        Err(std::io::Error::other("staging abandoned"))
    })();
    if let Err(e) = &result {
        tracing::debug!(path = %path.display(), error = %e, "upload copy for the blob cache dropped");
        let _ = std::fs::remove_file(path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn body(chunks: Vec<&'static [u8]>) -> ByteStream {
        stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))).boxed()
    }

    async fn drain(s: ByteStream) -> Vec<u8> {
        let v: Vec<Bytes> = s.map(|r| r.unwrap()).collect().await;
        v.concat()
    }

    /// Wait for the cache's background work to end (a stuck task fails the test).
    async fn idle(c: &DiskCache) {
        tokio::time::timeout(Duration::from_secs(10), c.idle())
            .await
            .expect("the cache's background work did not end within 10 s");
    }

    /// Whether `loc` is cached once the background work has ended.
    async fn cached(c: &DiskCache, loc: &str) -> bool {
        idle(c).await;
        c.lookup(loc).is_some()
    }

    #[tokio::test]
    async fn a_complete_download_is_cached_and_served_with_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 1000).unwrap();
        let s = c.fill("blobs/a", 6, body(vec![b"abc", b"def"]));
        assert_eq!(drain(s).await, b"abcdef");
        assert!(cached(&c, "blobs/a").await);
        let got = c.get("blobs/a", Some(&(1..4))).await.unwrap().unwrap();
        assert_eq!(drain(got).await, b"bcd");
        assert!(c.get("blobs/a", Some(&(0..7))).await.is_none());
    }

    #[tokio::test]
    async fn partial_or_failed_downloads_are_never_cached() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 1000).unwrap();
        // Shorter than announced.
        drain(c.fill("blobs/short", 10, body(vec![b"abc"]))).await;
        // Dropped by the client halfway.
        let mut s = c.fill("blobs/dropped", 6, body(vec![b"abc", b"def"]));
        let _ = s.next().await;
        drop(s);
        // An error from the store.
        let failing: ByteStream = stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ])
        .boxed();
        let _: Vec<_> = c.fill("blobs/err", 6, failing).collect().await;
        for loc in ["blobs/short", "blobs/dropped", "blobs/err"] {
            assert!(!cached(&c, loc).await, "{loc} was cached");
        }
        assert_eq!(std::fs::read_dir(dir.path().join("c")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_bound_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 40).unwrap();
        for loc in ["blobs/1", "blobs/2", "blobs/3"] {
            drain(c.fill(loc, 10, body(vec![b"0123456789"]))).await;
            assert!(cached(&c, loc).await);
        }
        c.lookup("blobs/1"); // used recently: survives
        for loc in ["blobs/4", "blobs/5"] {
            drain(c.fill(loc, 10, body(vec![b"0123456789"]))).await;
            assert!(cached(&c, loc).await);
        }
        assert!(c.size() <= 40);
        assert!(c.lookup("blobs/1").is_some());
        assert!(c.lookup("blobs/2").is_none());
        // Reopening indexes what is on disk.
        let again = DiskCache::open(dir.path().join("c"), 40).unwrap();
        assert_eq!(again.size(), c.size());
    }

    async fn staged(c: &Arc<DiskCache>, chunks: &[&'static [u8]]) -> Option<String> {
        let mut st = c.stage();
        let mut len = 0;
        for ch in chunks {
            st.write(&Bytes::from_static(ch)).await;
            len += ch.len() as u64;
        }
        st.finish(len).await
    }

    fn files(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn a_committed_staged_upload_becomes_the_cached_blob() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 1000).unwrap();
        let nonce = staged(&c, &[b"abc", b"defg"]).await.expect("complete copy");
        assert!(c.lookup("blobs/u1").is_none(), "visible before its commit");
        c.adopt(&nonce, "blobs/u1", 7);
        assert!(cached(&c, "blobs/u1").await);
        let got = c.get("blobs/u1", None).await.unwrap().unwrap();
        assert_eq!(drain(got).await, b"abcdefg");
        // Adopting the same nonce again (a retried commit) changes nothing.
        c.adopt(&nonce, "blobs/other", 7);
        assert!(!cached(&c, "blobs/other").await);
        assert_eq!(files(&dir.path().join("c")), 1);
    }

    #[tokio::test]
    async fn incomplete_or_mismatched_copies_are_never_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("c");
        let c = DiskCache::open(cdir.clone(), 1000).unwrap();
        // The request reports another length than the copy holds.
        let mut st = c.stage();
        st.write(&Bytes::from_static(b"abc")).await;
        assert_eq!(st.finish(4).await, None);
        // The request failed: its copy is dropped unfinished.
        let mut st = c.stage();
        st.write(&Bytes::from_static(b"abc")).await;
        drop(st);
        // Larger than a quarter of the bound: abandoned.
        let mut st = c.stage();
        st.write(&Bytes::from(vec![1u8; 251])).await;
        assert_eq!(st.finish(251).await, None);
        // Committed with another length than staged, or under an unknown nonce.
        let nonce = staged(&c, &[b"xyz"]).await.unwrap();
        c.adopt(&nonce, "blobs/len", 4);
        c.adopt("no-such-nonce", "blobs/none", 3);
        // Discarded (aborted, or superseded by another request).
        let gone = staged(&c, &[b"123"]).await.unwrap();
        c.discard(&gone);
        c.adopt(&gone, "blobs/discarded", 3);
        for loc in ["blobs/len", "blobs/none", "blobs/discarded"] {
            assert!(!cached(&c, loc).await, "{loc} was cached");
        }
        assert_eq!(files(&cdir), 0, "staging files left behind");
    }

    #[tokio::test]
    async fn a_blob_deleted_while_its_copy_is_adopted_stays_out() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 1000).unwrap();
        let nonce = staged(&c, &[b"abc"]).await.unwrap();
        c.adopt(&nonce, "blobs/d", 3);
        // Whether the background adoption has run yet or not, one `remove` must be enough.
        c.remove("blobs/d");
        assert!(!cached(&c, "blobs/d").await);
        assert_eq!(files(&dir.path().join("c")), 0);
    }

    #[tokio::test]
    async fn staging_room_is_bounded_and_leftovers_removed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let cdir = dir.path().join("c");
        let c = DiskCache::open(cdir.clone(), 100).unwrap();
        const A: &[u8] = &[1; 20];
        const B: &[u8] = &[2; 25];
        // Half the bound (50 bytes) may be staged. Two complete copies wait for commits.
        let first = staged(&c, &[A]).await.unwrap();
        let second = staged(&c, &[A]).await.unwrap();
        // A third needs room: the oldest waiting copy goes.
        let third = staged(&c, &[A]).await.unwrap();
        c.adopt(&first, "blobs/first", 20);
        c.adopt(&second, "blobs/second", 20);
        assert!(cached(&c, "blobs/second").await);
        assert!(c.lookup("blobs/first").is_none());
        // Copies being written count too, and push out waiting ones (the third).
        let mut a = c.stage();
        a.write(&Bytes::from_static(A)).await;
        let mut b = c.stage();
        b.write(&Bytes::from_static(B)).await;
        c.adopt(&third, "blobs/third", 20);
        // With 45 of 50 bytes taken by copies being written, a 10-byte copy gets no room.
        let mut d = c.stage();
        d.write(&Bytes::from_static(&A[..10])).await;
        assert_eq!(d.finish(10).await, None);
        drop(a);
        assert!(b.finish(25).await.is_some());
        assert_eq!(c.staging.load(Ordering::Relaxed), 25);
        assert!(!cached(&c, "blobs/third").await);
        // A restart forgets uncommitted copies.
        let again = DiskCache::open(cdir.clone(), 100).unwrap();
        assert_eq!(again.size(), 20);
        assert_eq!(files(&cdir), 1);
    }
}
