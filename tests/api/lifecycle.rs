//! Persistence across restarts, exclusive ownership of the data directory, resumable uploads.

use crate::helpers::*;

#[tokio::test]
async fn images_survive_a_restart() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let d = push_image(&app, "persist/a", "v1", 7).await;
    app.shutdown().await;

    let app = TestApp::spawn(&dir).await;
    let r = app.get("/v2/persist/a/manifests/v1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    assert_eq!(sha256(&r.bytes().await.unwrap()), d);
    app.shutdown().await;
}

#[tokio::test]
async fn a_second_process_cannot_share_the_data_directory() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let e = berth::Application::build(&config(&dir))
        .await
        .err()
        .expect("must refuse");
    assert!(matches!(e, berth::StartError::Locked(_)), "{e}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_upload_resumes_after_a_restart() {
    let (_t, dir) = tempdir();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let digest = sha256(&data);
    let app = TestApp::spawn(&dir).await;
    let r = app
        .client
        .post(format!("{}/v2/resume/a/blobs/uploads/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let r = app
        .client
        .patch(format!("{}{loc}", app.url))
        .header("content-range", format!("0-{}", 1_000_000 - 1))
        .body(data[..1_000_000].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    app.shutdown().await;

    // The hash state is rebuilt from the stored bytes.
    let app = TestApp::spawn(&dir).await;
    let r = app
        .client
        .get(format!("{}{loc}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-999999");
    let r = app
        .client
        .put(format!("{}{loc}?digest={digest}", app.url))
        .header("content-range", format!("1000000-{}", data.len() - 1))
        .body(data[1_000_000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let got = app
        .get(&format!("/v2/resume/a/blobs/{digest}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(sha256(&got), digest);
    app.shutdown().await;
}

#[tokio::test]
async fn a_streamed_body_is_hashed_in_one_pass() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    // 40 MiB in 64 KiB frames, never held whole by the server.
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let mut whole = sha2::Sha256::default();
    for _ in 0..640 {
        sha2::Digest::update(&mut whole, &chunk);
    }
    let digest = format!("sha256:{}", hex::encode(sha2::Digest::finalize(whole)));
    let frames = futures_util::stream::iter(
        (0..640).map(move |_| Ok::<_, std::io::Error>(bytes::Bytes::from(chunk.clone()))),
    );
    let r = app
        .client
        .post(format!(
            "{}/v2/stream/a/blobs/uploads/?digest={digest}",
            app.url
        ))
        .body(reqwest::Body::wrap_stream(frames))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app
        .client
        .head(format!("{}/v2/stream/a/blobs/{digest}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-length"],
        (640 * 65536).to_string().as_str()
    );
    app.shutdown().await;
}
