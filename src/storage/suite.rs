//! The behaviour every `BlobStore` must show, run against each implementation.
#![allow(clippy::unwrap_used)]

use super::{BlobStore, StorageError};
use crate::oci::Algorithm;
use bytes::Bytes;
use futures_util::TryStreamExt;

pub async fn read_all(s: super::ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = s.try_collect().await.unwrap();
    chunks.concat()
}

/// `prefix` keeps upload ids apart when several runs share one store (one S3 bucket).
pub async fn run(store: &dyn BlobStore, prefix: &str) {
    let u = |n: u32| format!("{prefix}suite-{n}");
    // Larger than two S3 parts, with an odd tail, so multipart paths are exercised.
    let data: Vec<u8> = (0..(11 * 1024 * 1024 + 12_345u32))
        .map(|i| (i % 251) as u8)
        .collect();
    let len = data.len() as u64;
    let digest = Algorithm::Sha256.digest(&data);

    assert!(store.stat("sha256:0000").await.unwrap().is_none());
    assert!(matches!(
        store.get(&format!("{prefix}nothing-here"), None).await,
        Err(StorageError::NotFound)
    ));

    // Append in requests of various sizes; reopen at an offset; commit.
    let st = store.upload_start(&u(1)).await.unwrap();
    let mut w = store.upload_writer(&u(1), 0, &st).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[..1000]))
        .await
        .unwrap();
    let a = w.finish().await.unwrap();
    assert_eq!(a.len, 1000);
    // A write that was never acknowledged is discarded when the upload reopens at 1000.
    let mut w = store.upload_writer(&u(1), 1000, &a.state).await.unwrap();
    w.write(Bytes::from_static(b"garbage")).await.unwrap();
    drop(w);
    // A small request, then one large streamed request in uneven pieces.
    let mut w = store.upload_writer(&u(1), 1000, &a.state).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[1000..70_000]))
        .await
        .unwrap();
    let a = w.finish().await.unwrap();
    assert_eq!(a.len, 70_000);
    let mut w = store.upload_writer(&u(1), 70_000, &a.state).await.unwrap();
    for piece in data[70_000..].chunks(3 * 1024 * 1024 + 7) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    let a = w.finish().await.unwrap();
    assert_eq!(a.len, len);
    match store.upload_read(&u(1), 1000, &a.state).await {
        Ok(s) => assert_eq!(read_all(s).await, &data[..1000]),
        Err(StorageError::Unsupported) => {}
        Err(e) => panic!("upload_read: {e}"),
    }
    // An offset beyond what the store holds is refused.
    assert!(matches!(
        store.upload_writer(&u(1), len + 5, &a.state).await,
        Err(StorageError::Truncated { .. })
    ));
    let loc = store
        .upload_commit(&u(1), len, &a.state, &digest)
        .await
        .unwrap();
    // Committing again (a retry after a crash) finds the blob in place.
    assert_eq!(
        store
            .upload_commit(&u(1), len, &a.state, &digest)
            .await
            .unwrap(),
        loc
    );

    assert_eq!(store.stat(&loc).await.unwrap(), Some(len));
    assert!(read_all(store.get(&loc, None).await.unwrap()).await == data);
    assert_eq!(
        read_all(store.get(&loc, Some(10..20)).await.unwrap()).await,
        &data[10..20]
    );
    let end = len - 3..len;
    assert_eq!(
        read_all(store.get(&loc, Some(end.clone())).await.unwrap()).await,
        &data[end.start as usize..]
    );

    // The same content uploaded again (a concurrent duplicate upload) commits too.
    let st = store.upload_start(&u(2)).await.unwrap();
    let mut w = store.upload_writer(&u(2), 0, &st).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[..5000]))
        .await
        .unwrap();
    let a2 = w.finish().await.unwrap();
    let loc2 = store
        .upload_commit(
            &u(2),
            5000,
            &a2.state,
            &Algorithm::Sha256.digest(&data[..5000]),
        )
        .await
        .unwrap();
    assert_eq!(store.stat(&loc2).await.unwrap(), Some(5000));
    assert!(read_all(store.get(&loc, None).await.unwrap()).await == data);

    // An empty upload commits as an empty blob.
    let st = store.upload_start(&u(4)).await.unwrap();
    let w = store.upload_writer(&u(4), 0, &st).await.unwrap();
    let a4 = w.finish().await.unwrap();
    assert_eq!(a4.len, 0);
    let loc4 = store
        .upload_commit(&u(4), 0, &a4.state, &Algorithm::Sha256.digest(b""))
        .await
        .unwrap();
    assert_eq!(store.stat(&loc4).await.unwrap(), Some(0));
    assert!(read_all(store.get(&loc4, None).await.unwrap())
        .await
        .is_empty());

    // Aborts are idempotent; aborted uploads are gone.
    let st = store.upload_start(&u(3)).await.unwrap();
    let mut w = store.upload_writer(&u(3), 0, &st).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[..6 * 1024 * 1024]))
        .await
        .unwrap();
    let a3 = w.finish().await.unwrap();
    store.upload_abort(&u(3), &a3.state).await.unwrap();
    store.upload_abort(&u(3), &a3.state).await.unwrap();
    let reopened = store.upload_writer(&u(3), a3.len, &a3.state).await;
    assert!(
        matches!(
            reopened,
            Err(StorageError::NotFound | StorageError::Truncated { .. })
        ),
        "an aborted upload reopened"
    );

    for l in [&loc, &loc2, &loc4] {
        store.delete(l).await.unwrap();
        store.delete(l).await.unwrap();
        assert!(store.stat(l).await.unwrap().is_none());
    }
}
