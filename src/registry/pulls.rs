//! Last-pull times (ECR's `lastRecordedPullTime`, lifecycle's `sinceImagePulled`).
//!
//! A manifest GET must stay a read: writing a row per pull would put the database on the
//! hottest path. Pulls are noted in memory (no allocation when the manifest was already noted
//! since the last flush) and written in one batch every `FLUSH_INTERVAL`, and once more at
//! shutdown. Like ECR's, the recorded time is approximate: a kill -9 loses at most the last
//! interval's pulls, which only ever makes an image look less recently pulled.

use crate::metadata::{MetadataStore, Pull};
use crate::oci::Digest;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// Repository/manifest pairs held between flushes; beyond it new pulls are not noted until
/// the next flush (the database being down for long must not grow memory without bound).
const MAX_PENDING: usize = 100_000;
/// Pulls written per statement.
const BATCH: usize = 500;

#[derive(Default)]
pub struct PullRecorder {
    /// repository → manifest digest → last pull (Unix ms).
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    by_repository: HashMap<String, HashMap<Digest, i64>>,
    len: usize,
}

impl PullRecorder {
    pub fn note(&self, repository: &str, digest: &Digest, at: i64) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = p
            .by_repository
            .get_mut(repository)
            .and_then(|m| m.get_mut(digest))
        {
            *t = (*t).max(at);
            return;
        }
        if p.len >= MAX_PENDING {
            return;
        }
        p.len += 1;
        p.by_repository
            .entry(repository.to_owned())
            .or_default()
            .insert(digest.clone(), at);
    }

    fn take(&self) -> Vec<(String, Digest, i64)> {
        let p = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out = Vec::with_capacity(p.len);
        for (repository, digests) in p.by_repository {
            out.extend(
                digests
                    .into_iter()
                    .map(|(d, at)| (repository.clone(), d, at)),
            );
        }
        out
    }

    /// Write what was noted. On failure the pulls not written are noted again for the next
    /// flush.
    pub async fn flush(&self, meta: &dyn MetadataStore) -> crate::metadata::MetaResult<usize> {
        let pulls = self.take();
        for (i, batch) in pulls.chunks(BATCH).enumerate() {
            let rows: Vec<Pull> = batch
                .iter()
                .map(|(repository, digest, at)| Pull {
                    repository: repository.clone(),
                    digest: digest.to_string(),
                    at: *at,
                })
                .collect();
            if let Err(e) = meta.record_pulls(&rows).await {
                for (repository, digest, at) in &pulls[i * BATCH..] {
                    self.note(repository, digest, *at);
                }
                return Err(e);
            }
        }
        Ok(pulls.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::Algorithm;

    fn d(n: u32) -> Digest {
        Algorithm::Sha256.digest(&n.to_be_bytes())
    }

    #[test]
    fn notes_the_latest_pull_once_per_manifest() {
        let r = PullRecorder::default();
        r.note("a", &d(1), 5);
        r.note("a", &d(1), 3);
        r.note("a", &d(2), 4);
        r.note("b", &d(1), 7);
        let mut got = r.take();
        got.sort();
        let mut want = vec![
            ("a".to_owned(), d(1), 5),
            ("a".to_owned(), d(2), 4),
            ("b".to_owned(), d(1), 7),
        ];
        want.sort();
        assert_eq!(got, want);
        assert!(r.take().is_empty(), "taking empties the recorder");
    }

    #[test]
    fn bounded() {
        let r = PullRecorder::default();
        for i in 0..MAX_PENDING as u32 + 10 {
            r.note("a", &d(i), 1);
        }
        // Already-noted manifests still update.
        r.note("a", &d(0), 9);
        let got = r.take();
        assert_eq!(got.len(), MAX_PENDING);
        assert!(got
            .iter()
            .any(|(_, digest, at)| *digest == d(0) && *at == 9));
    }
}
