//! The token flow in process: challenge, token, scoped access.
use crate::helpers::TestApp;

#[tokio::test]
async fn challenge_token_and_scope() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn(dir.path()).await;

    let r = app
        .anonymous
        .get(format!("{}/v2/", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let host = app.url.trim_start_matches("http://");
    assert_eq!(
        challenge,
        format!("Bearer realm=\"http://{host}/token\",service=\"berth\"")
    );

    let (id, secret) = &app.admin_key;
    let t: serde_json::Value = app
        .anonymous
        .get(format!(
            "{}/token?service=berth&scope=repository:a:pull,push",
            app.url
        ))
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = t["token"].as_str().unwrap();
    assert_eq!(t["scope"], "repository:a:pull,push");
    assert_eq!(t["expires_in"], 300);

    let data = b"hello";
    let d = crate::helpers::sha256(data);
    let r = app
        .anonymous
        .post(format!("{}/v2/a/blobs/uploads/?digest={d}", app.url))
        .bearer_auth(token)
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The same token on another repository: a new token with more scope is needed.
    let r = app
        .anonymous
        .post(format!("{}/v2/b/blobs/uploads/?digest={d}", app.url))
        .bearer_auth(token)
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let c = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        c.contains("scope=\"repository:b:pull,push\"")
            && c.contains("error=\"insufficient_scope\""),
        "{c}"
    );
    // Anonymous: no access, and a challenge naming the scope.
    let r = app
        .anonymous
        .get(format!("{}/v2/a/blobs/{d}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("scope=\"repository:a:pull\""));
    app.shutdown().await;
}
