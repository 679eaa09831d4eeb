//! Concurrency: racing tag moves and duplicate uploads end consistent.

use crate::helpers::*;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_pushes_of_one_tag_leave_one_winner() {
    let (_t, dir) = tempdir();
    let app = Arc::new(TestApp::spawn(&dir).await);
    let mut tasks = Vec::new();
    for seed in 0..8u8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            push_image(&app, "race/tag", "latest", seed).await
        }));
    }
    let mut digests = Vec::new();
    for t in tasks {
        digests.push(t.await.unwrap());
    }
    let r = app.get("/v2/race/tag/manifests/latest").await;
    assert_eq!(r.status(), 200);
    let winner = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(digests.contains(&winner));
    assert_eq!(sha256(&r.bytes().await.unwrap()), winner);
    // Every losing manifest is still intact by digest.
    for d in &digests {
        let r = app.get(&format!("/v2/race/tag/manifests/{d}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(sha256(&r.bytes().await.unwrap()), *d);
    }
    let tags: serde_json::Value = app
        .get("/v2/race/tag/tags/list")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["latest"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_blob_uploaded_at_once_is_stored_once() {
    let (_t, dir) = tempdir();
    let app = Arc::new(TestApp::spawn(&dir).await);
    let data: Arc<Vec<u8>> = Arc::new((0..2_000_000u32).map(|i| (i % 249) as u8).collect());
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (app, data) = (app.clone(), data.clone());
        tasks.push(tokio::spawn(async move {
            app.push_blob(&format!("dup/r{}", i % 2), &data).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let d = sha256(&data);
    let files: Vec<_> = walk(&dir.join("storage/blobs"))
        .into_iter()
        .filter(|p| p.ends_with(&d[7..]))
        .collect();
    assert_eq!(files.len(), 1);
    let uploads = std::fs::read_dir(dir.join("storage/uploads"))
        .unwrap()
        .count();
    assert_eq!(uploads, 0, "no upload files left behind");
    for r in ["dup/r0", "dup/r1"] {
        let got = app
            .get(&format!("/v2/{r}/blobs/{d}"))
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(sha256(&got), d);
    }
}

fn walk(p: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path().display().to_string());
        }
    }
    out
}
