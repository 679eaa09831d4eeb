//! The blob-store suite against S3 (Garage), plus S3-specific behaviour.

use berth::oci::Algorithm;
use berth::storage::s3::{S3BlobStore, S3Settings};
use berth::storage::{BlobStore, StorageError};
use bytes::Bytes;

use crate::require_env;

fn settings(prefix: &str) -> S3Settings {
    S3Settings {
        endpoint: Some(require_env("BERTH_STORAGE__ENDPOINT")),
        region: require_env("BERTH_STORAGE__REGION"),
        bucket: require_env("BERTH_STORAGE__BUCKET"),
        prefix: prefix.to_owned(),
        access_key_id: require_env("BERTH_STORAGE__ACCESS_KEY_ID"),
        secret_access_key: require_env("BERTH_STORAGE__SECRET_ACCESS_KEY"),
        path_style: true,
        part_size: berth::storage::s3::MIN_PART,
        redirect_ttl: None,
        cache: None,
    }
}

fn unique() -> String {
    format!("t-{}/", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn s3_store_passes_the_suite() {
    let store = S3BlobStore::new(settings(&unique()));
    store.check().await.expect("the Garage bucket is reachable");
    berth::storage::suite::run(&store, "").await;
}

/// Whether `loc` is cached once the cache's background work (adoption at commit, fills by
/// reads, staging writers) has ended: what it holds then no longer changes by itself.
async fn cached(cache: &berth::storage::cache::DiskCache, loc: &str) -> bool {
    tokio::time::timeout(std::time::Duration::from_secs(10), cache.idle())
        .await
        .expect("the cache's background work did not end within 10 s");
    cache.lookup(loc).is_some()
}

/// A store under `prefix` with a disk cache of its own (in the returned directory).
fn with_cache(
    prefix: &str,
) -> (
    tempfile::TempDir,
    std::sync::Arc<berth::storage::cache::DiskCache>,
    S3BlobStore,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = berth::storage::cache::DiskCache::open(dir.path().join("c"), 64 << 20).unwrap();
    let mut s = settings(prefix);
    s.cache = Some(cache.clone());
    (dir, cache, S3BlobStore::new(s))
}

/// Start upload `id` and write `data` in one request (not committed).
async fn write_once(
    store: &S3BlobStore,
    id: &str,
    data: &'static [u8],
) -> berth::storage::Appended {
    let st = store.upload_start(id).await.unwrap();
    let mut w = store.upload_writer(id, 0, &st).await.unwrap();
    w.write(Bytes::from_static(data)).await.unwrap();
    w.finish().await.unwrap()
}

/// Write `chunks` as successive requests of upload `id`, then commit it.
async fn push(store: &S3BlobStore, id: &str, chunks: &[&[u8]]) -> String {
    let mut state = store.upload_start(id).await.unwrap();
    let mut len = 0u64;
    for c in chunks {
        let mut w = store.upload_writer(id, len, &state).await.unwrap();
        w.write(Bytes::copy_from_slice(c)).await.unwrap();
        let a = w.finish().await.unwrap();
        store.upload_superseded(&state, &a.state).await.unwrap();
        (state, len) = (a.state, a.len);
    }
    let all: Vec<u8> = chunks.concat();
    store
        .upload_commit(id, len, &state, &Algorithm::Sha256.digest(&all))
        .await
        .unwrap()
}

#[tokio::test]
async fn s3_store_with_a_disk_cache_passes_the_suite_and_serves_from_the_cache() {
    let prefix = unique();
    let (_dir, cache, store) = with_cache(&prefix);
    berth::storage::suite::run(&store, "").await;
    // Behind the cache's back: deleting through this store proves which reads were hits.
    let plain = S3BlobStore::new(settings(&prefix));

    // Written in one request (a streamed PATCH, a monolithic PUT): cached at commit, before any
    // read (write-through), and served from the copy, also by range.
    let data: Vec<u8> = (0..(7 * 1024 * 1024 + 5u32))
        .map(|i| (i % 251) as u8)
        .collect();
    let loc = push(&store, "w", &[&data]).await;
    assert!(cached(&cache, &loc).await, "not cached at commit");
    plain.delete(&loc).await.unwrap();
    let got = berth::storage::suite::read_all(store.get(&loc, None).await.unwrap()).await;
    assert!(got == data);
    let part = berth::storage::suite::read_all(store.get(&loc, Some(10..20)).await.unwrap()).await;
    assert_eq!(part, &data[10..20]);
    store.delete(&loc).await.unwrap();
    assert!(cache.lookup(&loc).is_none());
}

/// The staging copies (`<nonce>.stage.tmp`) in a cache directory made by `with_cache`.
fn stage_files(dir: &tempfile::TempDir) -> usize {
    std::fs::read_dir(dir.path().join("c"))
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".stage.tmp")
        })
        .count()
}

#[tokio::test]
async fn a_blob_written_in_two_requests_is_cached_by_its_first_full_read() {
    let prefix = unique();
    let (dir, cache, store) = with_cache(&prefix);
    let plain = S3BlobStore::new(settings(&prefix));
    // The first request writes from the first byte: its copy of those bytes is staged. The
    // second supersedes it, so no staging copy covers the blob and nothing is cached at commit.
    let small = vec![42u8; 100_000];
    let st = store.upload_start("r").await.unwrap();
    let mut w = store.upload_writer("r", 0, &st).await.unwrap();
    w.write(Bytes::copy_from_slice(&small[..60_000]))
        .await
        .unwrap();
    let first = w.finish().await.unwrap();
    assert_eq!(stage_files(&dir), 1, "the first request's copy is staged");
    let mut w = store
        .upload_writer("r", first.len, &first.state)
        .await
        .unwrap();
    w.write(Bytes::copy_from_slice(&small[60_000..]))
        .await
        .unwrap();
    let second = w.finish().await.unwrap();
    store
        .upload_superseded(&first.state, &second.state)
        .await
        .unwrap();
    let loc = store
        .upload_commit(
            "r",
            second.len,
            &second.state,
            &Algorithm::Sha256.digest(&small),
        )
        .await
        .unwrap();
    assert!(!cached(&cache, &loc).await, "cached without a full copy");
    assert_eq!(stage_files(&dir), 0, "the partial copy is left behind");
    // The first full read fills the cache.
    let first = berth::storage::suite::read_all(store.get(&loc, None).await.unwrap()).await;
    assert!(first == small);
    assert!(cached(&cache, &loc).await, "not cached after a full read");
    plain.delete(&loc).await.unwrap();
    let again = berth::storage::suite::read_all(store.get(&loc, Some(10..20)).await.unwrap()).await;
    assert_eq!(again, &small[10..20]);
    store.delete(&loc).await.unwrap();
    assert!(cache.lookup(&loc).is_none());
}

#[tokio::test]
async fn only_the_recorded_request_s_copy_is_cached() {
    // Two requests race to write the same upload from its first byte (on one replica), with
    // different bytes; the registry records one of them. The cache must hold the recorded one.
    let prefix = unique();
    let (_dir, cache, store) = with_cache(&prefix);
    let st = store.upload_start("race").await.unwrap();
    let mut a = store.upload_writer("race", 0, &st).await.unwrap();
    let mut b = store.upload_writer("race", 0, &st).await.unwrap();
    a.write(Bytes::from_static(b"AAAAAAAAAA")).await.unwrap();
    b.write(Bytes::from_static(b"BBBBBBBBBB")).await.unwrap();
    // The recorded request finishes first; the other finishes last (its state is never recorded).
    let won = b.finish().await.unwrap();
    let _lost = a.finish().await.unwrap();
    let loc = store
        .upload_commit(
            "race",
            won.len,
            &won.state,
            &Algorithm::Sha256.digest(b"BBBBBBBBBB"),
        )
        .await
        .unwrap();
    assert!(cached(&cache, &loc).await);
    let plain = S3BlobStore::new(settings(&prefix));
    plain.delete(&loc).await.unwrap();
    let got = berth::storage::suite::read_all(store.get(&loc, None).await.unwrap()).await;
    assert_eq!(got, b"BBBBBBBBBB");
    store.delete(&loc).await.unwrap();

    // A replica without the copy (another cache) commits an upload staged elsewhere: nothing
    // is cached there, and the blob reads from S3.
    let (_other_dir, other_cache, other) = with_cache(&prefix);
    let a = write_once(&store, "x", b"staged on the first replica").await;
    let loc = other
        .upload_commit(
            "x",
            a.len,
            &a.state,
            &Algorithm::Sha256.digest(b"staged on the first replica"),
        )
        .await
        .unwrap();
    assert!(
        !cached(&other_cache, &loc).await,
        "cached by the committing replica"
    );
    assert!(!cached(&cache, &loc).await, "cached by the staging replica");
    let got = berth::storage::suite::read_all(other.get(&loc, None).await.unwrap()).await;
    assert_eq!(got, b"staged on the first replica");
    store.delete(&loc).await.unwrap();
}

#[tokio::test]
async fn a_blob_committed_from_parts_has_no_leftover_objects() {
    let prefix = unique();
    let store = S3BlobStore::new(settings(&prefix));
    let data: Vec<u8> = (0..(12 * 1024 * 1024u32))
        .map(|i| (i % 253) as u8)
        .collect();
    let d = Algorithm::Sha256.digest(&data);
    let st = store.upload_start("big").await.unwrap();
    // Three requests: a small one (a tail object), then two that fold it into parts.
    let mut at = 0usize;
    let mut state = st;
    for end in [100_000usize, 7 * 1024 * 1024, data.len()] {
        let mut w = store.upload_writer("big", at as u64, &state).await.unwrap();
        w.write(Bytes::copy_from_slice(&data[at..end]))
            .await
            .unwrap();
        let a = w.finish().await.unwrap();
        store.upload_superseded(&state, &a.state).await.unwrap();
        state = a.state;
        at = end;
    }
    let loc = store
        .upload_commit("big", data.len() as u64, &state, &d)
        .await
        .unwrap();
    let got = berth::storage::suite::read_all(store.get(&loc, None).await.unwrap()).await;
    assert!(got == data);
    let keys = list(&prefix).await;
    assert_eq!(
        keys,
        vec![format!("{prefix}{loc}")],
        "only the blob remains"
    );
    store.delete(&loc).await.unwrap();
}

/// Parts grow after the 1000th (`s3::part_len`, unit-tested there, is what lets a 400 GB layer
/// fit in 10,000 parts): an upload of 1,005 parts plus its tail, in two requests so that the
/// second continues the part numbers from the recorded state past 1000. Parts of 1 KiB keep it
/// small: Garage, unlike AWS, accepts parts under S3's 5 MiB minimum.
#[tokio::test]
async fn parts_grow_after_the_thousandth() {
    const P: usize = 1024;
    let prefix = unique();
    let mut s = settings(&prefix);
    s.part_size = P;
    let store = S3BlobStore::new(s);
    let len = 1000 * P + 5 * 2 * P + 100;
    let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let mut state = store.upload_start("many").await.unwrap();
    let mut at = 0;
    for end in [600 * P + 10, len] {
        let mut w = store
            .upload_writer("many", at as u64, &state)
            .await
            .unwrap();
        for chunk in data[at..end].chunks(64 * 1024) {
            w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let a = w.finish().await.unwrap();
        store.upload_superseded(&state, &a.state).await.unwrap();
        (state, at) = (a.state, end);
    }
    let loc = store
        .upload_commit("many", len as u64, &state, &Algorithm::Sha256.digest(&data))
        .await
        .unwrap();
    let got = berth::storage::suite::read_all(store.get(&loc, None).await.unwrap()).await;
    assert!(got == data, "the blob reads back as written");

    // The object's parts as the store keeps them: 1000 of P, then 2P, then the 100-byte tail
    // as the last part.
    let c = client();
    let bucket = require_env("BERTH_STORAGE__BUCKET");
    let key = format!("{prefix}{loc}");
    let part = |n: i32| {
        c.head_object()
            .bucket(&bucket)
            .key(&key)
            .part_number(n)
            .send()
    };
    let first = part(1).await.unwrap();
    assert_eq!(first.parts_count(), Some(1006));
    let mut sizes = vec![(1, first.content_length())];
    for n in [2, 999, 1000, 1001, 1002, 1005, 1006] {
        sizes.push((n, part(n).await.unwrap().content_length()));
    }
    let (p, pp) = (Some(P as i64), Some(2 * P as i64));
    assert_eq!(
        sizes,
        vec![
            (1, p),
            (2, p),
            (999, p),
            (1000, p),
            (1001, pp),
            (1002, pp),
            (1005, pp),
            (1006, Some(100)),
        ]
    );
    store.delete(&loc).await.unwrap();
}

#[tokio::test]
async fn aborting_removes_tails_and_parts() {
    let prefix = unique();
    let store = S3BlobStore::new(settings(&prefix));
    let st = store.upload_start("ab").await.unwrap();
    let mut w = store.upload_writer("ab", 0, &st).await.unwrap();
    w.write(Bytes::from(vec![7u8; 6 * 1024 * 1024 + 10]))
        .await
        .unwrap();
    let a = w.finish().await.unwrap();
    // A request that wrote a tail but was never recorded (the replica died).
    let mut w = store.upload_writer("ab", a.len, &a.state).await.unwrap();
    w.write(Bytes::from_static(b"lost")).await.unwrap();
    let _lost = w.finish().await.unwrap();
    assert!(!list(&prefix).await.is_empty());
    store.upload_abort("ab", &a.state).await.unwrap();
    assert!(list(&prefix).await.is_empty(), "{:?}", list(&prefix).await);
    assert!(matches!(
        store
            .upload_commit("ab", a.len, &a.state, &Algorithm::Sha256.digest(b""))
            .await,
        Err(StorageError::NotFound | StorageError::Truncated { .. })
    ));
}

#[tokio::test]
async fn presigned_redirects_serve_the_blob() {
    let prefix = unique();
    let mut s = settings(&prefix);
    s.redirect_ttl = Some(std::time::Duration::from_secs(60));
    let store = S3BlobStore::new(s);
    let loc = push(&store, "r", &[b"hello presigned"]).await;
    let url = store.redirect_url(&loc).await.unwrap().expect("a URL");
    let body = reqwest::get(&url).await.unwrap();
    assert_eq!(body.status(), 200);
    assert_eq!(body.bytes().await.unwrap().as_ref(), b"hello presigned");
    // A tampered signature is refused by the store.
    let bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(reqwest::get(&bad).await.unwrap().status(), 403);
    store.delete(&loc).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_store_is_unavailable_not_an_internal_error() {
    let mut s = settings("x/");
    s.endpoint = Some("http://127.0.0.1:1".into());
    let store = S3BlobStore::new(s);
    let e = store.stat("blobs/x").await.unwrap_err();
    assert!(matches!(e, StorageError::Unavailable(_)), "{e:?}");
    let e = store
        .upload_writer("u", 0, "")
        .await
        .unwrap()
        .finish()
        .await;
    // An empty request needs no round trip; a real write does, and fails cleanly.
    assert!(e.is_ok());
    let mut w = store.upload_writer("u", 0, "").await.unwrap();
    w.write(Bytes::from_static(b"x")).await.unwrap();
    assert!(matches!(
        w.finish().await,
        Err(StorageError::Unavailable(_))
    ));
}

/// A second, prefix-less client of the bucket, to look behind the store's back.
fn client() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(require_env(
            "BERTH_STORAGE__REGION",
        )))
        .endpoint_url(require_env("BERTH_STORAGE__ENDPOINT"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            require_env("BERTH_STORAGE__ACCESS_KEY_ID"),
            require_env("BERTH_STORAGE__SECRET_ACCESS_KEY"),
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Keys under `prefix`.
async fn list(prefix: &str) -> Vec<String> {
    let out = client()
        .list_objects_v2()
        .bucket(require_env("BERTH_STORAGE__BUCKET"))
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut keys: Vec<String> = out
        .contents()
        .iter()
        .filter_map(|o| o.key().map(String::from))
        .collect();
    keys.sort();
    keys
}
