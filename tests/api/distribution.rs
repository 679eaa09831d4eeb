//! The OCI Distribution API (`/v2`) end to end over HTTP, as conformance/ asserts it: uploads
//! (monolithic, chunked, mounts), blob and manifest reads, listings with their pages,
//! referrers, deletes, and the Bearer challenge and token flow of an anonymous client.

use crate::helpers::*;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const OCTET: &str = "application/octet-stream";

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// `n` bytes distinct per `seed`.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// `POST /v2/<repo>/blobs/uploads/`: the session's Location and id, checking the headers of
/// a fresh session (conformance: test_post_starts_upload_session, _upload_session_headers).
async fn start_upload(app: &TestApp, repo: &str) -> (String, String) {
    let r = app
        .client
        .post(app.url_of(&format!("/v2/{repo}/blobs/uploads/")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location").unwrap();
    let prefix = format!("/v2/{repo}/blobs/uploads/");
    let id = loc
        .strip_prefix(&app.url)
        .unwrap_or(&loc)
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("Location {loc} is not under {prefix}"))
        .to_owned();
    assert!(!id.is_empty() && !id.contains(['/', '?']), "{loc}");
    assert_eq!(header(&r, "range").as_deref(), Some("0-0"));
    assert_eq!(header(&r, "docker-upload-uuid"), Some(id.clone()));
    let min = header(&r, "oci-chunk-min-length").unwrap();
    assert!(
        !min.is_empty() && min.bytes().all(|b| b.is_ascii_digit()),
        "{min}"
    );
    (app.url_of(&loc), id)
}

/// `url` with `digest=<d>` added to its query.
fn with_digest(url: &str, d: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={d}")
}

/// The parameters of a `WWW-Authenticate: Bearer k="v",...` challenge.
fn challenge(r: &reqwest::Response) -> BTreeMap<String, String> {
    let value = header(r, "www-authenticate").expect("a challenge");
    let mut rest = value.strip_prefix("Bearer ").expect("a Bearer challenge");
    let mut params = BTreeMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("key=\"value\"");
        let end = after.find('"').expect("a closing quote");
        assert!(
            params
                .insert(key.to_owned(), after[..end].to_owned())
                .is_none(),
            "{value}"
        );
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    params
}

fn expected_challenge(app: &TestApp, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p = BTreeMap::from([
        ("realm".to_owned(), format!("{}/token", app.url)),
        ("service".to_owned(), "berth".to_owned()),
    ]);
    p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

/// `r` is the 401 answer that starts the token flow, with exactly `extra` beside the realm and
/// the service (tests/auth: assert_challenge).
async fn assert_challenge(app: &TestApp, r: reqwest::Response, extra: &[(&str, &str)]) {
    assert_eq!(
        header(&r, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );
    assert_eq!(challenge(&r), expected_challenge(app, extra));
    oci_error(r, 401, "UNAUTHORIZED").await;
}

/// `GET /token` without credentials.
async fn anonymous_token(app: &TestApp, query: &str) -> Value {
    let r = app
        .anonymous
        .get(app.url_of(&format!("/token?service=berth&{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

#[tokio::test]
async fn an_anonymous_client_is_challenged_and_gets_tokens_for_what_is_public() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;

    let r = app.get("/v2/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-distribution-api-version").as_deref(),
        Some("registry/2.0")
    );
    assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    let r = app.anonymous.get(app.url_of("/v2/")).send().await.unwrap();
    assert_challenge(&app, r, &[]).await;

    let img = Image::new(1);
    app.push("pub/app", "v1", &img).await;
    let manifest = app.url_of("/v2/pub/app/manifests/v1");
    let blob = app.url_of(&format!("/v2/pub/app/blobs/{}", img.layer_digest()));
    let pull = [("scope", "repository:pub/app:pull")];
    let r = app.anonymous.get(&manifest).send().await.unwrap();
    assert_challenge(&app, r, &pull).await;
    let r = app.anonymous.get(&blob).send().await.unwrap();
    assert_challenge(&app, r, &pull).await;

    // Nothing is public: the token service answers, granting nothing.
    let t = anonymous_token(&app, "scope=repository:pub/app:pull").await;
    assert_eq!(t["scope"], "");
    assert!(t.get("refresh_token").is_none(), "{t}");
    let empty = t["token"].as_str().unwrap().to_owned();
    let r = app
        .anonymous
        .get(&manifest)
        .bearer_auth(&empty)
        .send()
        .await
        .unwrap();
    let insufficient = [
        ("scope", "repository:pub/app:pull"),
        ("error", "insufficient_scope"),
    ];
    assert_challenge(&app, r, &insufficient).await;

    // A repository policy makes the repository pullable by anyone.
    let policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": "*",
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                   "ecr:BatchCheckLayerAvailability"]}]})
    .to_string();
    app.ecr(
        "SetRepositoryPolicy",
        json!({"repositoryName": "pub/app", "policyText": policy}),
    )
    .await
    .ok();
    let t = anonymous_token(
        &app,
        "scope=repository:pub/app:pull,push,delete&scope=repository:priv/app:pull&offline_token=true",
    )
    .await;
    assert_eq!(t["scope"], "repository:pub/app:pull");
    assert!(t.get("refresh_token").is_none(), "{t}");
    let token = t["token"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&token);
    assert_eq!(claims["sub"], "");
    assert!(claims.get("pid").is_none() && claims.get("akid").is_none());
    let r = app
        .anonymous
        .get(&manifest)
        .header("accept", OCI_MANIFEST)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "docker-content-digest"),
        Some(img.digest.clone())
    );
    assert_eq!(r.bytes().await.unwrap(), img.manifest);
    let r = app
        .anonymous
        .get(&blob)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.layer);
    // Without any token too; pushing stays closed.
    let r = app.anonymous.get(&manifest).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let uploads = app.url_of("/v2/pub/app/blobs/uploads/");
    let r = app
        .anonymous
        .post(&uploads)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let push = [
        ("scope", "repository:pub/app:pull,push"),
        ("error", "insufficient_scope"),
    ];
    assert_challenge(&app, r, &push).await;
    let r = app.anonymous.post(&uploads).send().await.unwrap();
    assert_challenge(&app, r, &[("scope", "repository:pub/app:pull,push")]).await;

    // Removing the policy closes the repository, to the token already issued as well.
    app.ecr(
        "DeleteRepositoryPolicy",
        json!({"repositoryName": "pub/app"}),
    )
    .await
    .ok();
    let r = app.anonymous.get(&manifest).send().await.unwrap();
    assert_challenge(&app, r, &pull).await;
    let r = app
        .anonymous
        .get(&manifest)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.shutdown().await;
}

#[tokio::test]
async fn monolithic_uploads_are_checked_against_their_digest() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "up/mono";

    // POST ?digest= with the whole blob.
    let data = bytes(4000, 1);
    let d = sha256(&data);
    let r = app
        .client
        .post(app.url_of(&format!("/v2/{repo}/blobs/uploads/?digest={d}")))
        .header("content-type", OCTET)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location")
        .unwrap()
        .ends_with(&format!("/v2/{repo}/blobs/{d}")));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.clone()));
    let g = app.get(&format!("/v2/{repo}/blobs/{d}")).await;
    assert_eq!(g.status(), 200);
    assert_eq!(g.bytes().await.unwrap(), data);

    // POST, then PUT ?digest= with the body; the finished session is stale.
    let data = bytes(4000, 2);
    let d = sha256(&data);
    let (loc, _) = start_upload(&app, repo).await;
    let r = app
        .client
        .put(with_digest(&loc, &d))
        .header("content-type", OCTET)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location")
        .unwrap()
        .ends_with(&format!("/v2/{repo}/blobs/{d}")));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.clone()));
    assert_eq!(
        app.get(&format!("/v2/{repo}/blobs/{d}"))
            .await
            .bytes()
            .await
            .unwrap(),
        data
    );
    let r = app.client.get(&loc).send().await.unwrap();
    oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = app
        .client
        .put(with_digest(&loc, &d))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;

    // Digests that do not match, or are missing or malformed: DIGEST_INVALID, nothing stored.
    let data = bytes(500, 3);
    let wrong = sha256(b"something else");
    let r = app
        .client
        .post(app.url_of(&format!("/v2/{repo}/blobs/uploads/?digest={wrong}")))
        .header("content-type", OCTET)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    oci_error(r, 400, "DIGEST_INVALID").await;
    let (loc, _) = start_upload(&app, repo).await;
    let r = app
        .client
        .put(with_digest(&loc, &wrong))
        .header("content-type", OCTET)
        .body(data.clone())
        .send()
        .await
        .unwrap();
    oci_error(r, 400, "DIGEST_INVALID").await;
    for d in [&wrong, &sha256(&data)] {
        let r = app
            .client
            .head(app.url_of(&format!("/v2/{repo}/blobs/{d}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{d}");
    }
    let (loc, _) = start_upload(&app, repo).await;
    let r = app.client.put(&loc).body("hello").send().await.unwrap();
    oci_error(r, 400, "DIGEST_INVALID").await;
    let r = app
        .client
        .put(with_digest(&loc, "sha256:nothex"))
        .body("hello")
        .send()
        .await
        .unwrap();
    oci_error(r, 400, "DIGEST_INVALID").await;
    app.shutdown().await;
}

#[tokio::test]
async fn chunked_uploads_report_their_range() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "up/chunked";
    let data = bytes(3000, 4);
    let d = sha256(&data);
    let (loc, id) = start_upload(&app, repo).await;
    let patch = |url: String, range: Option<String>, body: Vec<u8>| {
        let mut req = app
            .client
            .patch(url)
            .header("content-type", OCTET)
            .body(body);
        if let Some(range) = range {
            req = req.header("content-range", range);
        }
        req.send()
    };

    let r = patch(loc.clone(), Some("0-999".into()), data[..1000].to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range").as_deref(), Some("0-999"));
    assert_eq!(header(&r, "docker-upload-uuid"), Some(id.clone()));
    let loc = app.url_of(&header(&r, "location").unwrap());
    assert!(
        loc.ends_with(&format!("/v2/{repo}/blobs/uploads/{id}")),
        "{loc}"
    );

    // A chunk that skips ahead, or repeats: 416 with the Range received so far.
    for (range, chunk) in [("2000-2999", &data[2000..]), ("0-999", &data[..1000])] {
        let r = patch(loc.clone(), Some(range.into()), chunk.to_vec())
            .await
            .unwrap();
        assert_eq!(header(&r, "range").as_deref(), Some("0-999"), "{range}");
        assert!(header(&r, "location").unwrap().ends_with(&id));
        oci_error(r, 416, "BLOB_UPLOAD_INVALID").await;
    }

    // Status: 204, the Range, the Location, no body.
    let s = app.client.get(&loc).send().await.unwrap();
    assert_eq!(s.status(), 204);
    assert_eq!(header(&s, "range").as_deref(), Some("0-999"));
    assert!(header(&s, "location").unwrap().ends_with(&id));
    assert!(s.bytes().await.unwrap().is_empty());

    // The session belongs to its repository.
    let r = app.get(&format!("/v2/up/other/blobs/uploads/{id}")).await;
    oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;

    // The next chunk, then the final one in the PUT.
    let r = patch(
        loc.clone(),
        Some("1000-1999".into()),
        data[1000..2000].to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range").as_deref(), Some("0-1999"));
    let r = app
        .client
        .put(with_digest(&loc, &d))
        .header("content-type", OCTET)
        .header("content-range", "2000-2999")
        .body(data[2000..].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(
        app.get(&format!("/v2/{repo}/blobs/{d}"))
            .await
            .bytes()
            .await
            .unwrap(),
        data
    );

    // Streamed: one PATCH without Content-Range, then a PUT without a body.
    let data = bytes(10_000, 5);
    let (loc, _) = start_upload(&app, repo).await;
    let r = patch(loc, None, data.clone()).await.unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "range").as_deref(), Some("0-9999"));
    let loc = app.url_of(&header(&r, "location").unwrap());
    let r = app
        .client
        .put(with_digest(&loc, &sha256(&data)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        app.get(&format!("/v2/{repo}/blobs/{}", sha256(&data)))
            .await
            .bytes()
            .await
            .unwrap(),
        data
    );

    // Cancelled: 204, then the session is unknown to every method.
    let (loc, _) = start_upload(&app, repo).await;
    let r = patch(loc.clone(), None, b"abc".to_vec()).await.unwrap();
    assert_eq!(r.status(), 202);
    let r = app.client.delete(&loc).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = app.client.get(&loc).send().await.unwrap();
    oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = patch(loc.clone(), None, b"def".to_vec()).await.unwrap();
    oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    let r = app.client.delete(&loc).send().await.unwrap();
    oci_error(r, 404, "BLOB_UPLOAD_UNKNOWN").await;
    app.shutdown().await;
}

#[tokio::test]
async fn blobs_are_read_whole_or_by_range() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "blobs/a";
    let data = bytes(1000, 6);
    let d = app.push_blob(repo, &data).await;
    let url = app.url_of(&format!("/v2/{repo}/blobs/{d}"));

    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("1000"));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.clone()));
    assert_eq!(header(&r, "accept-ranges").as_deref(), Some("bytes"));
    assert_eq!(r.bytes().await.unwrap(), data);
    let r = app.client.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length").as_deref(), Some("1000"));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.clone()));
    assert_eq!(header(&r, "accept-ranges").as_deref(), Some("bytes"));
    assert!(r.bytes().await.unwrap().is_empty());

    for (spec, start, end) in [
        ("bytes=0-99", 0, 99),
        ("bytes=100-199", 100, 199),
        ("bytes=900-", 900, 999),
        ("bytes=-10", 990, 999),
        ("bytes=995-5000", 995, 999),
    ] {
        let r = app
            .client
            .get(&url)
            .header("range", spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{spec}");
        assert_eq!(
            header(&r, "content-range"),
            Some(format!("bytes {start}-{end}/1000")),
            "{spec}"
        );
        let len = (end - start + 1).to_string();
        assert_eq!(header(&r, "content-length"), Some(len), "{spec}");
        assert_eq!(r.bytes().await.unwrap(), data[start..=end], "{spec}");
    }
    // Past the end, or (a Berth decision) inverted: 416 naming the size, never the blob.
    for spec in ["bytes=1000-", "bytes=5000-6000", "bytes=500-0"] {
        let r = app
            .client
            .get(&url)
            .header("range", spec)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 416, "{spec}");
        assert_eq!(
            header(&r, "content-range").as_deref(),
            Some("bytes */1000"),
            "{spec}"
        );
        if spec == "bytes=500-0" {
            let body: Value = r.json().await.unwrap();
            assert!(body["errors"][0]["code"].is_string(), "{body}");
        }
    }

    // Unknown here, or only in another repository.
    let missing = sha256(b"missing blob");
    let r = app.get(&format!("/v2/{repo}/blobs/{missing}")).await;
    oci_error(r, 404, "BLOB_UNKNOWN").await;
    let r = app
        .client
        .head(app.url_of(&format!("/v2/{repo}/blobs/{missing}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.bytes().await.unwrap().is_empty());
    app.push_blob("blobs/b", b"seed").await;
    let r = app.get(&format!("/v2/blobs/b/blobs/{d}")).await;
    oci_error(r, 404, "BLOB_UNKNOWN").await;
    app.shutdown().await;
}

#[tokio::test]
async fn cross_repository_mounts_or_fall_back_to_an_upload() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let data = bytes(321, 7);
    let d = app.push_blob("mount/src", &data).await;
    let post = |query: String| {
        app.client
            .post(app.url_of(&format!("/v2/mount/dst/blobs/uploads/?{query}")))
            .send()
    };

    let r = post(format!("mount={d}&from=mount/src")).await.unwrap();
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location")
        .unwrap()
        .ends_with(&format!("/v2/mount/dst/blobs/{d}")));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.clone()));
    let g = app.get(&format!("/v2/mount/dst/blobs/{d}")).await;
    assert_eq!(g.status(), 200);
    assert_eq!(g.bytes().await.unwrap(), data);

    // A blob the source does not hold: a normal upload session, finished with a PUT.
    let other = bytes(321, 8);
    let od = sha256(&other);
    let r = post(format!("mount={od}&from=mount/src")).await.unwrap();
    assert_eq!(r.status(), 202);
    let loc = header(&r, "location").unwrap();
    assert!(loc.contains("/v2/mount/dst/blobs/uploads/"), "{loc}");
    let r = app
        .client
        .put(with_digest(&app.url_of(&loc), &od))
        .header("content-type", OCTET)
        .body(other.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        app.get(&format!("/v2/mount/dst/blobs/{od}"))
            .await
            .bytes()
            .await
            .unwrap(),
        other
    );

    // From a repository that does not exist: an upload session too.
    let r = post(format!("mount={d}&from=mount/nope")).await.unwrap();
    assert_eq!(r.status(), 202);
    assert!(header(&r, "location")
        .unwrap()
        .contains("/v2/mount/dst/blobs/uploads/"));
    // Without `from`, Berth mounts from any repository the caller can read.
    let r = app
        .client
        .post(app.url_of(&format!("/v2/mount/third/blobs/uploads/?mount={d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location")
        .unwrap()
        .ends_with(&format!("/v2/mount/third/blobs/{d}")));
    assert_eq!(header(&r, "docker-content-digest"), Some(d.clone()));
    app.shutdown().await;
}

/// A manifest response carries `media_type`, the digest and length of `body`, and (unless
/// HEAD) exactly `body`.
async fn assert_manifest(r: reqwest::Response, body: &[u8], media_type: &str, head: bool) {
    assert_eq!(r.status(), 200, "{}", r.url());
    let ct = header(&r, "content-type").unwrap();
    assert_eq!(ct.split(';').next().unwrap().trim(), media_type);
    assert_eq!(header(&r, "docker-content-digest"), Some(sha256(body)));
    assert_eq!(header(&r, "content-length"), Some(body.len().to_string()));
    if head {
        assert!(r.bytes().await.unwrap().is_empty());
    } else {
        // Berth's ETag is the quoted digest.
        assert_eq!(header(&r, "etag"), Some(format!("\"{}\"", sha256(body))));
        assert_eq!(r.bytes().await.unwrap(), body);
    }
}

#[tokio::test]
async fn manifests_are_put_and_read_back_byte_for_byte() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "man/a";
    let get = |reference: String, accept: &'static str, head: bool| {
        let url = app.url_of(&format!("/v2/{repo}/manifests/{reference}"));
        let req = if head {
            app.client.head(url)
        } else {
            app.client.get(url)
        };
        req.header("accept", accept).send()
    };

    // By tag: 201, Location by digest, Docker-Content-Digest.
    let a = Image::new(10);
    app.push_blobs(repo, &a).await;
    let r = app.put_manifest(repo, "v1", &a.manifest).await;
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location")
        .unwrap()
        .ends_with(&format!("/v2/{repo}/manifests/{}", a.digest)));
    assert_eq!(header(&r, "docker-content-digest"), Some(a.digest.clone()));
    for reference in ["v1".to_owned(), a.digest.clone()] {
        for head in [false, true] {
            let r = get(reference.clone(), OCI_MANIFEST, head).await.unwrap();
            assert_manifest(r, &a.manifest, OCI_MANIFEST, head).await;
        }
    }

    // By digest, with two tags in the query.
    let b = Image::new(11);
    app.push_blobs(repo, &b).await;
    let r = app
        .client
        .put(app.url_of(&format!(
            "/v2/{repo}/manifests/{}?tag=alpha&tag=beta",
            b.digest
        )))
        .header("content-type", OCI_MANIFEST)
        .body(b.manifest.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), Some(b.digest.clone()));
    for t in ["alpha", "beta"] {
        let r = get(t.to_owned(), OCI_MANIFEST, false).await.unwrap();
        assert_manifest(r, &b.manifest, OCI_MANIFEST, false).await;
    }

    // Odd whitespace and key order are kept; the digest is that of the bytes sent.
    let weird = format!(
        "{{\n\t\"layers\" :  [ {{\"size\": {}, \"digest\": \"{}\",\r\n \"mediaType\": \"application/vnd.oci.image.layer.v1.tar\"}} ],\n   \"config\":{{\"size\":{},\"mediaType\":\"{OCI_CONFIG}\",\"digest\":\"{}\"}},\n\"mediaType\":\"{OCI_MANIFEST}\", \"schemaVersion\":2 ,\"annotations\":{{\"z\":\"1\",\"a\":\"\\u00e9\"}}   }}\n\n",
        a.layer.len(),
        a.layer_digest(),
        a.config.len(),
        a.config_digest()
    )
    .into_bytes();
    let r = app.put_manifest(repo, "weird", &weird).await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), Some(sha256(&weird)));
    for reference in ["weird".to_owned(), sha256(&weird)] {
        let r = get(reference, OCI_MANIFEST, false).await.unwrap();
        assert_manifest(r, &weird, OCI_MANIFEST, false).await;
    }

    // An index of both images, by tag; its children stay readable by digest.
    let index = index_manifest(&[&a.manifest, &b.manifest]);
    let r = app
        .client
        .put(app.url_of(&format!("/v2/{repo}/manifests/multi")))
        .header("content-type", OCI_INDEX)
        .body(index.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "docker-content-digest"), Some(sha256(&index)));
    for head in [false, true] {
        let r = get("multi".to_owned(), OCI_INDEX, head).await.unwrap();
        assert_manifest(r, &index, OCI_INDEX, head).await;
    }
    let r = get(a.digest.clone(), OCI_MANIFEST, false).await.unwrap();
    assert_manifest(r, &a.manifest, OCI_MANIFEST, false).await;

    // Moving a tag keeps the manifest it named.
    let r = app.put_manifest(repo, "v1", &b.manifest).await;
    assert_eq!(r.status(), 201);
    let r = get("v1".to_owned(), OCI_MANIFEST, true).await.unwrap();
    assert_eq!(header(&r, "docker-content-digest"), Some(b.digest.clone()));
    let r = get(a.digest.clone(), OCI_MANIFEST, true).await.unwrap();
    assert_eq!(r.status(), 200);

    // Unknown tags and digests.
    let r = get("nosuchtag".to_owned(), OCI_MANIFEST, false)
        .await
        .unwrap();
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = get(sha256(b"nothing here"), OCI_MANIFEST, false)
        .await
        .unwrap();
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = get("nosuchtag".to_owned(), OCI_MANIFEST, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = app.get("/v2/man/nothing/manifests/latest").await;
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    app.shutdown().await;
}

#[tokio::test]
async fn manifests_naming_what_is_missing_or_malformed_are_refused() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "man/bad";
    let img = Image::new(20);

    // A layer (or the config) not in the repository.
    app.push_blob(repo, &img.config).await;
    let r = app.put_manifest(repo, "v1", &img.manifest).await;
    oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;
    let r = app.get(&format!("/v2/{repo}/manifests/v1")).await;
    assert_eq!(r.status(), 404);
    // ... also when another repository holds it.
    app.push_blobs("man/other", &img).await;
    let r = app.put_manifest(repo, "v1", &img.manifest).await;
    oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;

    // An index naming a manifest the repository does not hold.
    app.push(repo, "child", &Image::new(21)).await;
    let index = index_manifest(&[&Image::new(21).manifest, &img.manifest]);
    let r = app
        .client
        .put(app.url_of(&format!("/v2/{repo}/manifests/idx")))
        .header("content-type", OCI_INDEX)
        .body(index)
        .send()
        .await
        .unwrap();
    oci_error(r, 400, "MANIFEST_BLOB_UNKNOWN").await;

    // A digest reference that is not the digest of the body.
    app.push_blob(repo, &img.layer).await;
    let wrong = sha256(b"not this manifest");
    let r = app.put_manifest(repo, &wrong, &img.manifest).await;
    oci_error(r, 400, "DIGEST_INVALID").await;
    let r = app.get(&format!("/v2/{repo}/manifests/{wrong}")).await;
    assert_eq!(r.status(), 404);

    // Bodies that are no manifest.
    let version3 = String::from_utf8(img.manifest.clone())
        .unwrap()
        .replace("\"schemaVersion\":2", "\"schemaVersion\":3");
    let bodies: [&[u8]; 3] = [
        br#"{"schemaVersion": 2, "mediaType": "#,
        b"",
        version3.as_bytes(),
    ];
    for body in bodies {
        let r = app.put_manifest(repo, "v1", body).await;
        oci_error(r, 400, "MANIFEST_INVALID").await;
    }
    app.shutdown().await;
}

async fn status(app: &TestApp, path: &str) -> u16 {
    app.get(path).await.status().as_u16()
}

/// One image in `repo` tagged with every name in `tags`.
async fn tag_all(app: &TestApp, repo: &str, tags: &[&str]) {
    let img = Image::new(30);
    app.push(repo, tags[0], &img).await;
    for t in &tags[1..] {
        let r = app.put_manifest(repo, t, &img.manifest).await;
        assert_eq!(r.status(), 201);
    }
}

async fn list(app: &TestApp, path: &str) -> (Value, Option<(String, Vec<(String, String)>)>) {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    let link = next_link(&r);
    (r.json().await.unwrap(), link)
}

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_are_listed_in_order_in_pages() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "tags/a";
    let tags: Vec<String> = (0..7).map(|i| format!("t{i:02}")).collect();
    let mut shuffled: Vec<&str> = tags.iter().map(String::as_str).collect();
    shuffled.reverse();
    shuffled.extend(["v10", "latest", "1.0", "a_b", "a-b", "A"]);
    tag_all(&app, repo, &shuffled).await;
    let mut sorted: Vec<&str> = shuffled.clone();
    sorted.sort_unstable();

    let (body, link) = list(&app, &format!("/v2/{repo}/tags/list")).await;
    assert_eq!(body, json!({"name": repo, "tags": sorted}));
    assert!(link.is_none());

    // n: a page, and a Link to the next one that carries n and the last tag.
    let path = format!("/v2/{repo}/tags/list");
    let (body, link) = list(&app, &format!("{path}?n=3")).await;
    assert_eq!(body["tags"], json!(sorted[..3]));
    let (next_path, q) = link.expect("a Link to the next page");
    assert_eq!(next_path, path);
    assert_eq!(q, query(&[("n", "3"), ("last", sorted[2])]));
    // Following the links lists every tag once.
    let mut seen: Vec<String> = Vec::new();
    let mut url = format!("{path}?n=4");
    loop {
        let (body, link) = list(&app, &url).await;
        let page: Vec<String> = serde_json::from_value(body["tags"].clone()).unwrap();
        assert!(page.len() <= 4);
        seen.extend(page);
        match link {
            Some((p, q)) => {
                url = format!(
                    "{p}?{}",
                    url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(q)
                        .finish()
                )
            }
            None => break,
        }
    }
    assert_eq!(seen, sorted);

    // last: the tags after it, whether or not it names one.
    let (body, _) = list(&app, &format!("{path}?n=2&last=t03")).await;
    assert_eq!(body["tags"], json!(["t04", "t05"]));
    let (body, link) = list(&app, &format!("{path}?last=t03")).await;
    assert_eq!(body["tags"], json!(["t04", "t05", "t06", "v10"]));
    assert!(link.is_none());
    let (body, _) = list(&app, &format!("{path}?last=t035")).await;
    assert_eq!(body["tags"], json!(["t04", "t05", "t06", "v10"]));
    // A page that ends the list has no Link; n=0 is an empty page.
    let (body, link) = list(&app, &format!("{path}?n=3&last=t04")).await;
    assert_eq!(body["tags"], json!(["t05", "t06", "v10"]));
    assert!(link.is_none());
    let (body, link) = list(&app, &format!("{path}?n=0")).await;
    assert_eq!(body, json!({"name": repo, "tags": []}));
    assert!(link.is_none());

    for n in ["-1", "abc", "1.5"] {
        let r = app.get(&format!("{path}?n={n}")).await;
        oci_error(r, 400, "PAGINATION_NUMBER_INVALID").await;
    }
    let r = app.get("/v2/tags/unknown/tags/list").await;
    oci_error(r, 404, "NAME_UNKNOWN").await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_catalog_is_listed_in_order_in_pages() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    // Repositories made by mounts of one blob (no new data), named out of order.
    let d = app.push_blob("cat/a", b"catalog seed").await;
    let mut names: Vec<String> = vec!["cat/a".into()];
    for n in [
        "cat/r3",
        "cat/r1",
        "cat/b/deeper",
        "cat/r0",
        "cat/r2",
        "cat/c-1",
    ] {
        let r = app
            .client
            .post(app.url_of(&format!("/v2/{n}/blobs/uploads/?mount={d}&from=cat/a")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        names.push(n.into());
    }
    names.sort_unstable();

    let (body, link) = list(&app, "/v2/_catalog").await;
    assert_eq!(body, json!({"repositories": names}));
    assert!(link.is_none());
    let (body, link) = list(&app, "/v2/_catalog?n=2&last=cat/b").await;
    let after: Vec<&String> = names.iter().filter(|n| n.as_str() > "cat/b").collect();
    assert_eq!(body["repositories"], json!(after[..2]));
    let (p, q) = link.expect("a Link to the next page");
    assert_eq!(p, "/v2/_catalog");
    assert_eq!(q, query(&[("n", "2"), ("last", after[1])]));
    let (body, _) = list(&app, &format!("/v2/_catalog?n=2&last={}", after[1])).await;
    assert_eq!(body["repositories"], json!(after[2..4]));

    // Pages of one, walked by their links.
    let mut seen: Vec<String> = Vec::new();
    let mut url = "/v2/_catalog?n=1".to_owned();
    loop {
        let (body, link) = list(&app, &url).await;
        let page: Vec<String> = serde_json::from_value(body["repositories"].clone()).unwrap();
        assert_eq!(page.len(), 1);
        seen.extend(page);
        match link {
            Some((p, q)) => {
                assert_eq!(q[0], ("n".to_owned(), "1".to_owned()));
                url = format!("{p}?n=1&last={}", q[1].1);
            }
            None => break,
        }
    }
    assert_eq!(seen, names);
    let r = app.get("/v2/_catalog?n=abc").await;
    oci_error(r, 400, "PAGINATION_NUMBER_INVALID").await;
    app.shutdown().await;
}

/// An artifact (empty config, one layer) in `repo`, by digest; its bytes and the PUT response.
async fn push_artifact(
    app: &TestApp,
    repo: &str,
    seed: u8,
    artifact_type: Option<&str>,
    subject: Option<&Image>,
    annotations: Option<Value>,
    config_type: &str,
) -> (Vec<u8>, reqwest::Response) {
    app.push_blob(repo, b"{}").await;
    let layer = bytes(64, seed);
    app.push_blob(repo, &layer).await;
    let mut m = json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sha256(&layer),
                    "size": layer.len()}],
    });
    if let Some(t) = artifact_type {
        m["artifactType"] = json!(t);
    }
    if let Some(s) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": s.digest,
                              "size": s.manifest.len()});
    }
    if let Some(a) = annotations {
        m["annotations"] = a;
    }
    let body = serde_json::to_vec(&m).unwrap();
    let r = app.put_manifest(repo, &sha256(&body), &body).await;
    assert_eq!(r.status(), 201);
    (body, r)
}

#[tokio::test]
async fn referrers_are_listed_by_subject_and_filtered_by_artifact_type() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "refs/a";
    let subject = Image::new(40);
    app.push(repo, "v1", &subject).await;
    let sig_type = "application/vnd.example.signature";
    let (sig, r) = push_artifact(
        &app,
        repo,
        1,
        Some(sig_type),
        Some(&subject),
        Some(json!({"org.example.k": "v"})),
        OCI_EMPTY,
    )
    .await;
    assert_eq!(header(&r, "oci-subject"), Some(subject.digest.clone()));
    let (sbom, _) = push_artifact(
        &app,
        repo,
        2,
        Some("application/vnd.example.sbom"),
        Some(&subject),
        None,
        OCI_EMPTY,
    )
    .await;
    // No artifactType: the config's media type stands for it.
    let config_type = "application/vnd.example.config.v1+json";
    let (typed, _) = push_artifact(&app, repo, 3, None, Some(&subject), None, config_type).await;
    // Not a referrer of the subject.
    let (_, r) = push_artifact(&app, repo, 4, Some(sig_type), None, None, OCI_EMPTY).await;
    assert!(header(&r, "oci-subject").is_none());

    let url = format!("/v2/{repo}/referrers/{}", subject.digest);
    let r = app.get(&url).await;
    assert_eq!(r.status(), 200);
    let ct = header(&r, "content-type").unwrap();
    assert_eq!(ct.split(';').next().unwrap(), OCI_INDEX);
    assert!(header(&r, "oci-filters-applied").is_none());
    let index: Value = r.json().await.unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["mediaType"], OCI_INDEX);
    let mut got: Vec<Value> = serde_json::from_value(index["manifests"].clone()).unwrap();
    got.sort_by_key(|m| m["digest"].as_str().unwrap().to_owned());
    let descriptor = |body: &[u8], t: &str| {
        json!({"mediaType": OCI_MANIFEST, "digest": sha256(body), "size": body.len(),
               "artifactType": t})
    };
    let mut sig_descriptor = descriptor(&sig, sig_type);
    sig_descriptor["annotations"] = json!({"org.example.k": "v"});
    let mut want = vec![
        sig_descriptor,
        descriptor(&sbom, "application/vnd.example.sbom"),
        descriptor(&typed, config_type),
    ];
    want.sort_by_key(|m| m["digest"].as_str().unwrap().to_owned());
    assert_eq!(got, want);

    let r = app.get(&format!("{url}?artifactType={sig_type}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "oci-filters-applied").as_deref(),
        Some("artifactType")
    );
    let index: Value = r.json().await.unwrap();
    let digests: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests, [sha256(&sig)]);
    let r = app
        .get(&format!("{url}?artifactType=application/vnd.example.none"))
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));

    // Unknown subjects have none; a malformed digest is refused.
    let r = app
        .get(&format!(
            "/v2/{repo}/referrers/{}",
            sha256(b"no such subject")
        ))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
    let r = app
        .get(&format!("/v2/{repo}/referrers/sha256:not-a-digest"))
        .await;
    oci_error(r, 400, "DIGEST_INVALID").await;

    // A deleted referrer is no longer listed.
    let r = app
        .client
        .delete(app.url_of(&format!("/v2/{repo}/manifests/{}", sha256(&sbom))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let index: Value = app.get(&url).await.json().await.unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    app.shutdown().await;
}

#[tokio::test]
async fn tags_manifests_and_blobs_are_deleted_unless_referenced() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "del/a";
    let delete = |path: String| app.client.delete(app.url_of(&path)).send();

    // A tag: 202, the tag is gone, the manifest stays (by digest and under its other tag).
    let a = Image::new(50);
    app.push(repo, "gone", &a).await;
    assert_eq!(
        app.put_manifest(repo, "stays", &a.manifest).await.status(),
        201
    );
    let r = delete(format!("/v2/{repo}/manifests/gone")).await.unwrap();
    assert_eq!(r.status(), 202);
    let r = app.get(&format!("/v2/{repo}/manifests/gone")).await;
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    assert_eq!(
        status(&app, &format!("/v2/{repo}/manifests/stays")).await,
        200
    );
    let g = app.get(&format!("/v2/{repo}/manifests/{}", a.digest)).await;
    assert_eq!(g.bytes().await.unwrap(), a.manifest);
    let tags: Value = app
        .get(&format!("/v2/{repo}/tags/list"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tags["tags"], json!(["stays"]));
    let r = delete(format!("/v2/{repo}/manifests/nosuchtag"))
        .await
        .unwrap();
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;

    // Blobs a manifest references, and manifests an index references: 409 DENIED.
    for d in [a.config_digest(), a.layer_digest()] {
        let r = delete(format!("/v2/{repo}/blobs/{d}")).await.unwrap();
        oci_error(r, 409, "DENIED").await;
        assert_eq!(status(&app, &format!("/v2/{repo}/blobs/{d}")).await, 200);
    }
    let b = Image::new(51);
    app.push(repo, &b.digest, &b).await;
    let index = index_manifest(&[&a.manifest, &b.manifest]);
    let r = app
        .client
        .put(app.url_of(&format!("/v2/{repo}/manifests/idx")))
        .header("content-type", OCI_INDEX)
        .body(index.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = delete(format!("/v2/{repo}/manifests/{}", a.digest))
        .await
        .unwrap();
    oci_error(r, 409, "DENIED").await;
    assert_eq!(
        status(&app, &format!("/v2/{repo}/manifests/{}", a.digest)).await,
        200
    );

    // The index first, then the manifest (and its tags with it), then its blobs.
    let r = delete(format!("/v2/{repo}/manifests/{}", sha256(&index)))
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = delete(format!("/v2/{repo}/manifests/{}", a.digest))
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let r = app.get(&format!("/v2/{repo}/manifests/{}", a.digest)).await;
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = app
        .client
        .head(app.url_of(&format!("/v2/{repo}/manifests/{}", a.digest)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = app.get(&format!("/v2/{repo}/manifests/stays")).await;
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    let r = delete(format!("/v2/{repo}/manifests/{}", a.digest))
        .await
        .unwrap();
    oci_error(r, 404, "MANIFEST_UNKNOWN").await;
    for d in [a.config_digest(), a.layer_digest()] {
        let r = delete(format!("/v2/{repo}/blobs/{d}")).await.unwrap();
        assert_eq!(r.status(), 202);
        let r = app.get(&format!("/v2/{repo}/blobs/{d}")).await;
        oci_error(r, 404, "BLOB_UNKNOWN").await;
        let r = app
            .client
            .head(app.url_of(&format!("/v2/{repo}/blobs/{d}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
    let r = delete(format!("/v2/{repo}/blobs/{}", sha256(b"absent")))
        .await
        .unwrap();
    oci_error(r, 404, "BLOB_UNKNOWN").await;
    // The other image is untouched.
    let g = app.get(&format!("/v2/{repo}/manifests/{}", b.digest)).await;
    assert_eq!(g.bytes().await.unwrap(), b.manifest);
    app.shutdown().await;
}
