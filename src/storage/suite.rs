//! The behaviour every `BlobStore` must show, run against each implementation.
#![allow(clippy::unwrap_used)]

use super::{BlobStore, StorageError};
use crate::oci::Algorithm;
use bytes::Bytes;
use futures_util::TryStreamExt;

async fn read_all(s: super::ByteStream) -> Vec<u8> {
    let chunks: Vec<Bytes> = s.try_collect().await.unwrap();
    chunks.concat()
}

pub async fn run(store: &dyn BlobStore) {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Algorithm::Sha256.digest(&data);

    assert!(store.stat(&digest).await.unwrap().is_none());
    assert!(matches!(
        store.get(&digest, None).await,
        Err(StorageError::NotFound)
    ));

    // Append in chunks, reopen at an offset, and commit.
    store.upload_start("u1").await.unwrap();
    let mut w = store.upload_writer("u1", 0).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[..1000]))
        .await
        .unwrap();
    assert_eq!(w.finish().await.unwrap(), 1000);
    // A write that was never acknowledged is discarded when the upload reopens at 1000.
    let mut w = store.upload_writer("u1", 1000).await.unwrap();
    w.write(Bytes::from_static(b"garbage")).await.unwrap();
    drop(w);
    let mut w = store.upload_writer("u1", 1000).await.unwrap();
    w.write(Bytes::copy_from_slice(&data[1000..]))
        .await
        .unwrap();
    assert_eq!(w.finish().await.unwrap(), data.len() as u64);
    assert_eq!(
        read_all(store.upload_read("u1", 1000).await.unwrap()).await,
        &data[..1000]
    );
    assert!(matches!(
        store.upload_writer("u1", data.len() as u64 + 5).await,
        Err(StorageError::Truncated { .. })
    ));
    store
        .upload_commit("u1", data.len() as u64, &digest)
        .await
        .unwrap();

    assert_eq!(store.stat(&digest).await.unwrap(), Some(data.len() as u64));
    assert_eq!(
        read_all(store.get(&digest, None).await.unwrap()).await,
        data
    );
    assert_eq!(
        read_all(store.get(&digest, Some(10..20)).await.unwrap()).await,
        &data[10..20]
    );

    // Committing the same content again (a concurrent duplicate upload) is harmless.
    store.upload_start("u2").await.unwrap();
    let mut w = store.upload_writer("u2", 0).await.unwrap();
    w.write(Bytes::copy_from_slice(&data)).await.unwrap();
    w.finish().await.unwrap();
    store
        .upload_commit("u2", data.len() as u64, &digest)
        .await
        .unwrap();
    assert_eq!(
        read_all(store.get(&digest, None).await.unwrap()).await,
        data
    );

    // Aborts are idempotent; aborted uploads are gone.
    store.upload_start("u3").await.unwrap();
    store.upload_abort("u3").await.unwrap();
    store.upload_abort("u3").await.unwrap();
    assert!(matches!(
        store.upload_writer("u3", 0).await,
        Err(StorageError::NotFound)
    ));

    store.delete(&digest).await.unwrap();
    store.delete(&digest).await.unwrap();
    assert!(store.stat(&digest).await.unwrap().is_none());
}
