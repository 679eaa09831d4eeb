//! A bounded local disk cache of blobs for stores whose reads cost more than a local file (S3).
//!
//! Blobs never change once committed (a location always holds the same bytes), so a cached copy
//! never goes stale; the cache only has to be bounded (least recently used files go first) and
//! must never serve a partial file: a blob is cached only when a download from the start
//! reached its full size, and the file is made durable before it is renamed into place.

use super::{ByteStream, StorageError};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Chunks buffered between a download and the cache writer; past this the fill is abandoned
/// rather than slowing the client down.
const FILL_QUEUE: usize = 64;

pub struct DiskCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

#[derive(Default)]
struct Index {
    /// File name → (size, last use).
    entries: HashMap<String, (u64, u64)>,
    total: u64,
    clock: u64,
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
        });
        cache.evict(0);
        Ok(cache)
    }

    fn name(location: &str) -> String {
        hex::encode(&Sha256::digest(location.as_bytes())[..16])
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
        let cache = self.clone();
        tokio::task::spawn_blocking(move || cache.write_fill(rx, tmp, name, len));
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

    async fn settle(c: &DiskCache, loc: &str, want: bool) {
        for _ in 0..200 {
            if c.lookup(loc).is_some() == want {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("cache entry for {loc} present={}", !want);
    }

    #[tokio::test]
    async fn a_complete_download_is_cached_and_served_with_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 1000).unwrap();
        let s = c.fill("blobs/a", 6, body(vec![b"abc", b"def"]));
        assert_eq!(drain(s).await, b"abcdef");
        settle(&c, "blobs/a", true).await;
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
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        for loc in ["blobs/short", "blobs/dropped", "blobs/err"] {
            assert!(c.lookup(loc).is_none(), "{loc} was cached");
        }
        assert_eq!(std::fs::read_dir(dir.path().join("c")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn the_cache_stays_within_its_bound_dropping_the_least_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path().join("c"), 40).unwrap();
        for loc in ["blobs/1", "blobs/2", "blobs/3"] {
            drain(c.fill(loc, 10, body(vec![b"0123456789"]))).await;
            settle(&c, loc, true).await;
        }
        c.lookup("blobs/1"); // used recently: survives
        for loc in ["blobs/4", "blobs/5"] {
            drain(c.fill(loc, 10, body(vec![b"0123456789"]))).await;
            settle(&c, loc, true).await;
        }
        assert!(c.size() <= 40);
        assert!(c.lookup("blobs/1").is_some());
        assert!(c.lookup("blobs/2").is_none());
        // Reopening indexes what is on disk.
        let again = DiskCache::open(dir.path().join("c"), 40).unwrap();
        assert_eq!(again.size(), c.size());
    }
}
