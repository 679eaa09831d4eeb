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

/// A monolithic upload streamed in 64 KiB frames (40 MiB, never held whole by the server) is
/// hashed as it streams: the digest the server computes is checked against the one given, and
/// the bytes stored are the bytes sent.
#[tokio::test]
async fn a_streamed_body_is_hashed_in_one_pass() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let chunk: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let frames = 640;
    let mut whole = sha2::Sha256::default();
    for n in 0..frames {
        sha2::Digest::update(&mut whole, &chunk);
        sha2::Digest::update(&mut whole, [n as u8]);
    }
    let digest = format!("sha256:{}", hex::encode(sha2::Digest::finalize(whole)));
    // Every frame differs (its last byte is its number), so a lost, repeated or reordered
    // frame changes the digest.
    let body = move || {
        let chunk = chunk.clone();
        reqwest::Body::wrap_stream(futures_util::stream::iter((0..frames).map(move |n| {
            let mut frame = chunk.clone();
            frame.push(n as u8);
            Ok::<_, std::io::Error>(bytes::Bytes::from(frame))
        })))
    };
    let size = frames * (65536 + 1);

    // Under another digest the same stream is refused, naming the digest it has.
    let wrong = sha256(b"not this");
    let r = app
        .client
        .post(format!(
            "{}/v2/stream/a/blobs/uploads/?digest={wrong}",
            app.url
        ))
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["errors"][0]["code"], "DIGEST_INVALID", "{err}");
    let message = err["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&digest), "{message}");
    for d in [&wrong, &digest] {
        let r = app
            .client
            .head(format!("{}/v2/stream/a/blobs/{d}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{d} stored by a refused upload");
    }

    let r = app
        .client
        .post(format!(
            "{}/v2/stream/a/blobs/uploads/?digest={digest}",
            app.url
        ))
        .body(body())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["docker-content-digest"], digest.as_str());
    let r = app.get(&format!("/v2/stream/a/blobs/{digest}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], size.to_string().as_str());
    let got = r.bytes().await.unwrap();
    assert_eq!(got.len(), size);
    assert_eq!(sha256(&got), digest, "the stored bytes are the bytes sent");
    app.shutdown().await;
}
