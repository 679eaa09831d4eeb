//! The Amazon ECR API (AWS JSON 1.1 on `POST /`, SigV4-signed with aws-sigv4) end to end, as
//! tests/ecr asserts it with boto3: repositories, images, layer uploads, tag mutability,
//! login tokens, lifecycle and repository policies, resource tags, and the error shapes.

use crate::helpers::*;
use base64::Engine as _;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn repo_arn(name: &str) -> String {
    format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}")
}

fn not_found(name: &str) -> String {
    format!("The repository with name '{name}' does not exist in the registry with id '{ACCOUNT}'")
}

/// `(imageDigest, imageTag)` of every entry of `ids`, sorted; `""` for an untagged image.
fn ids(ids: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let tag = i["imageTag"].as_str().unwrap_or_default();
            (
                i["imageDigest"].as_str().unwrap().to_owned(),
                tag.to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn pair(d: &str, t: &str) -> (String, String) {
    (d.to_owned(), t.to_owned())
}

/// Every page of a paginated operation with `maxResults: page`: the pages' `key` lists.
async fn pages(app: &TestApp, op: &str, input: Value, key: &str, page: u32) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = input.clone();
        input["maxResults"] = json!(page);
        if let Some(t) = &token {
            input["nextToken"] = json!(t);
        }
        let body = app.ecr(op, input).await.ok();
        let items: Vec<Value> = serde_json::from_value(body[key].clone()).unwrap();
        assert!(items.len() <= page as usize, "{body}");
        out.push(items);
        match body.get("nextToken") {
            Some(t) => token = Some(t.as_str().unwrap().to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn repositories_are_created_described_in_pages_and_deleted() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let host = app.url.trim_start_matches("http://").to_owned();

    let created = app
        .ecr("CreateRepository", json!({"repositoryName": "team/app"}))
        .await
        .ok()["repository"]
        .clone();
    let created_at = created["createdAt"].as_f64().unwrap();
    assert!(created_at > 1_600_000_000.0 && created_at <= now() + 5.0);
    assert_eq!(
        created,
        json!({
            "repositoryArn": repo_arn("team/app"), "registryId": ACCOUNT,
            "repositoryName": "team/app", "repositoryUri": format!("{host}/team/app"),
            "createdAt": created_at, "imageTagMutability": "MUTABLE",
            "imageScanningConfiguration": {"scanOnPush": false},
            "encryptionConfiguration": {"encryptionType": "AES256"},
        })
    );
    // An empty repository exists for /v2 too.
    let r = app.get("/v2/team/app/tags/list").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!([]));

    let r = app
        .ecr(
            "CreateRepository",
            json!({"repositoryName": "team/app", "imageTagMutability": "IMMUTABLE"}),
        )
        .await;
    let m = r.error("RepositoryAlreadyExistsException", 400);
    assert!(
        m.contains("The repository with name 'team/app' already exists in the registry with id"),
        "{m}"
    );
    let r = app
        .ecr("CreateRepository", json!({"repositoryName": "UPPER"}))
        .await;
    assert!(r
        .error("InvalidParameterException", 400)
        .contains("must satisfy regular expression"));

    // Every setting echoed, and described the same way.
    let full = app
        .ecr(
            "CreateRepository",
            json!({
                "repositoryName": "team/locked",
                "tags": [{"Key": "team", "Value": "infra"}],
                "imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
                "imageTagMutabilityExclusionFilters": [
                    {"filterType": "WILDCARD", "filter": "latest"}],
                "imageScanningConfiguration": {"scanOnPush": true},
            }),
        )
        .await
        .ok()["repository"]
        .clone();
    assert_eq!(full["imageTagMutability"], "IMMUTABLE_WITH_EXCLUSION");
    assert_eq!(
        full["imageTagMutabilityExclusionFilters"],
        json!([{"filterType": "WILDCARD", "filter": "latest"}])
    );
    assert_eq!(
        full["imageScanningConfiguration"],
        json!({"scanOnPush": true})
    );
    let described = app
        .ecr(
            "DescribeRepositories",
            json!({"repositoryNames": ["team/locked", "team/app"]}),
        )
        .await
        .ok();
    assert_eq!(described, json!({"repositories": [full, created]}));
    let r = app
        .ecr(
            "DescribeRepositories",
            json!({"repositoryNames": ["team/app", "does-not-exist"]}),
        )
        .await;
    assert_eq!(
        r.error("RepositoryNotFoundException", 400),
        not_found("does-not-exist")
    );
    for (input, fragment) in [
        (
            json!({"repositoryNames": ["team/app"], "maxResults": 5}),
            "repositoryNames",
        ),
        (json!({"nextToken": "garbage!!"}), "nextToken"),
        (json!({"maxResults": 1001}), "maxResults"),
    ] {
        let r = app.ecr("DescribeRepositories", input).await;
        let m = r.error("InvalidParameterException", 400);
        assert!(m.contains(fragment), "{m}");
    }

    // Pages of three in name order; the last one has no nextToken, even when full.
    let mut names = vec!["team/app".to_owned(), "team/locked".to_owned()];
    for i in 0..7 {
        let name = format!("page/r{i}");
        app.ecr("CreateRepository", json!({ "repositoryName": name }))
            .await
            .ok();
        names.push(name);
    }
    names.sort_unstable();
    let listed = pages(&app, "DescribeRepositories", json!({}), "repositories", 3).await;
    assert_eq!(
        listed.iter().map(Vec::len).collect::<Vec<_>>(),
        [3, 3, 3],
        "{listed:?}"
    );
    let seen: Vec<&str> = listed
        .iter()
        .flatten()
        .map(|r| r["repositoryName"].as_str().unwrap())
        .collect();
    assert_eq!(seen, names);

    // Deleting: an empty repository at once, answering what it was.
    let deleted = app
        .ecr("DeleteRepository", json!({"repositoryName": "team/app"}))
        .await
        .ok();
    assert_eq!(deleted, json!({ "repository": created }));
    let r = app
        .ecr("DeleteRepository", json!({"repositoryName": "team/app"}))
        .await;
    assert_eq!(
        r.error("RepositoryNotFoundException", 400),
        not_found("team/app")
    );
    // One holding images only with force.
    let img = Image::new(1);
    app.push("team/full", "v1", &img).await;
    let r = app
        .ecr("DeleteRepository", json!({"repositoryName": "team/full"}))
        .await;
    assert_eq!(
        r.error("RepositoryNotEmptyException", 400),
        format!(
            "The repository with name 'team/full' in registry with id '{ACCOUNT}' cannot be \
             deleted because it still contains images"
        )
    );
    let r = app.get("/v2/team/full/manifests/v1").await;
    assert_eq!(r.bytes().await.unwrap(), img.manifest);
    let deleted = app
        .ecr(
            "DeleteRepository",
            json!({"repositoryName": "team/full", "force": true}),
        )
        .await
        .ok();
    assert_eq!(deleted["repository"]["repositoryName"], "team/full");
    let r = app.get("/v2/team/full/manifests/v1").await;
    assert_eq!(r.status(), 404);
    let r = app.get("/v2/team/full/tags/list").await;
    assert_eq!(r.status(), 404);
    let r = app
        .ecr(
            "DescribeRepositories",
            json!({"repositoryNames": ["team/full"]}),
        )
        .await;
    assert_eq!(
        r.error("RepositoryNotFoundException", 400),
        not_found("team/full")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn resource_tags_are_set_listed_and_removed() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let arn = app
        .ecr(
            "CreateRepository",
            json!({"repositoryName": "tagged", "tags": [{"Key": "a", "Value": "1"}]}),
        )
        .await
        .ok()["repository"]["repositoryArn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(arn, repo_arn("tagged"));
    let tags = |v: Value| {
        let mut t: Vec<Value> = serde_json::from_value(v["tags"].clone()).unwrap();
        t.sort_by_key(|t| t["Key"].as_str().unwrap().to_owned());
        t
    };
    let out = app
        .ecr(
            "TagResource",
            json!({"resourceArn": arn, "tags": [{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "3"}]}),
        )
        .await
        .ok();
    assert_eq!(out, json!({}));
    let listed = app
        .ecr("ListTagsForResource", json!({ "resourceArn": arn }))
        .await
        .ok();
    assert_eq!(
        tags(listed),
        [
            json!({"Key": "a", "Value": "3"}),
            json!({"Key": "b", "Value": "2"})
        ]
    );
    app.ecr(
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["a", "never-set"]}),
    )
    .await
    .ok();
    let listed = app
        .ecr("ListTagsForResource", json!({ "resourceArn": arn }))
        .await
        .ok();
    assert_eq!(listed, json!({"tags": [{"Key": "b", "Value": "2"}]}));

    let r = app
        .ecr(
            "ListTagsForResource",
            json!({ "resourceArn": repo_arn("missing") }),
        )
        .await;
    r.error("RepositoryNotFoundException", 400);
    for bad in ["not-an-arn", "arn:aws:s3:::bucket"] {
        let r = app
            .ecr("ListTagsForResource", json!({ "resourceArn": bad }))
            .await;
        r.error("InvalidParameterException", 400);
    }
    let long_key = "k".repeat(129);
    let r = app
        .ecr(
            "TagResource",
            json!({"resourceArn": arn, "tags": [{"Key": long_key, "Value": "v"}]}),
        )
        .await;
    r.error("InvalidTagParameterException", 400);
    app.shutdown().await;
}

#[tokio::test]
async fn images_pushed_through_v2_are_listed_described_fetched_and_deleted() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "img/a";
    let (a, b, c) = (Image::new(1), Image::new(2), Image::new(3));
    app.push(repo, "t1", &a).await;
    assert_eq!(
        app.put_manifest(repo, "t2", &a.manifest).await.status(),
        201
    );
    app.push(repo, "x", &b).await;
    app.push(repo, "x", &c).await; // moves x: b is left untagged

    // ListImages: one entry per tag, untagged images by digest; tagStatus filters.
    let all = app
        .ecr("ListImages", json!({ "repositoryName": repo }))
        .await
        .ok();
    assert!(all.get("nextToken").is_none());
    let mut want = vec![
        pair(&a.digest, "t1"),
        pair(&a.digest, "t2"),
        pair(&b.digest, ""),
        pair(&c.digest, "x"),
    ];
    want.sort();
    assert_eq!(ids(&all["imageIds"]), want);
    let tagged = app
        .ecr(
            "ListImages",
            json!({"repositoryName": repo, "filter": {"tagStatus": "TAGGED"}}),
        )
        .await
        .ok();
    assert_eq!(ids(&tagged["imageIds"]).len(), 3);
    assert!(ids(&tagged["imageIds"]).iter().all(|(_, t)| !t.is_empty()));
    let untagged = app
        .ecr(
            "ListImages",
            json!({"repositoryName": repo, "filter": {"tagStatus": "UNTAGGED"}}),
        )
        .await
        .ok();
    assert_eq!(untagged["imageIds"], json!([{ "imageDigest": b.digest }]));
    let listed = pages(
        &app,
        "ListImages",
        json!({ "repositoryName": repo }),
        "imageIds",
        3,
    )
    .await;
    assert_eq!(listed.iter().map(Vec::len).collect::<Vec<_>>(), [3, 1]);
    assert_eq!(ids(&json!(listed.concat())), ids(&all["imageIds"]));
    for input in [
        json!({"repositoryName": repo, "filter": {"tagStatus": "SOME"}}),
        json!({"repositoryName": repo, "nextToken": "garbage"}),
        json!({"repositoryName": repo, "maxResults": 1001}),
    ] {
        let r = app.ecr("ListImages", input).await;
        r.error("InvalidParameterException", 400);
    }
    let r = app
        .ecr("ListImages", json!({"repositoryName": "img/missing"}))
        .await;
    assert_eq!(
        r.error("RepositoryNotFoundException", 400),
        not_found("img/missing")
    );

    // DescribeImages: tags sorted, sizes, media types, push time.
    let d = app
        .ecr(
            "DescribeImages",
            json!({"repositoryName": repo, "imageIds": [{"imageTag": "t2"}]}),
        )
        .await
        .ok();
    let detail = &d["imageDetails"][0];
    let pushed = detail["imagePushedAt"].as_f64().unwrap();
    assert!(pushed > now() - 60.0 && pushed <= now() + 5.0, "{pushed}");
    assert_eq!(
        d,
        json!({"imageDetails": [{
            "registryId": ACCOUNT, "repositoryName": repo, "imageDigest": a.digest,
            "imageTags": ["t1", "t2"], "imageSizeInBytes": a.size(), "imagePushedAt": pushed,
            "imageManifestMediaType": OCI_MANIFEST, "artifactMediaType": OCI_CONFIG,
        }]})
    );
    let untagged = app
        .ecr(
            "DescribeImages",
            json!({"repositoryName": repo, "filter": {"tagStatus": "UNTAGGED"}}),
        )
        .await
        .ok();
    let details = untagged["imageDetails"].as_array().unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(details[0]["imageDigest"], b.digest.as_str());
    assert!(details[0].get("imageTags").is_none());
    let r = app
        .ecr(
            "DescribeImages",
            json!({"repositoryName": repo, "imageIds": [{"imageTag": "nope"}]}),
        )
        .await;
    assert!(r.error("ImageNotFoundException", 400).contains("nope"));

    // BatchGetImage: the manifest as pushed, by tag or digest; failures per item.
    let got = app
        .ecr(
            "BatchGetImage",
            json!({"repositoryName": repo,
                   "imageIds": [{"imageTag": "t1"}, {"imageDigest": a.digest}]}),
        )
        .await
        .ok();
    assert_eq!(got["failures"], json!([]));
    let images = got["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for i in images {
        assert_eq!(i["imageManifest"].as_str().unwrap().as_bytes(), a.manifest);
        assert_eq!(i["imageManifestMediaType"], OCI_MANIFEST);
        assert_eq!(i["imageId"]["imageDigest"], a.digest.as_str());
        assert_eq!(
            (i["repositoryName"].as_str(), i["registryId"].as_str()),
            (Some(repo), Some(ACCOUNT))
        );
    }
    assert_eq!(images[0]["imageId"]["imageTag"], "t1");
    let other = sha256(b"other");
    let got = app
        .ecr(
            "BatchGetImage",
            json!({"repositoryName": repo, "imageIds": [
                {"imageTag": "nope"}, {"imageDigest": other}, {"imageDigest": "sha256:xyz"},
                {"imageTag": "t1", "imageDigest": other}, {}]}),
        )
        .await
        .ok();
    assert_eq!(got["images"], json!([]));
    let failures: Vec<(Value, &str)> = got["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(!f["failureReason"].as_str().unwrap().is_empty());
            (f["imageId"].clone(), f["failureCode"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        failures,
        [
            (json!({"imageTag": "nope"}), "ImageNotFound"),
            (json!({ "imageDigest": other }), "ImageNotFound"),
            (json!({"imageDigest": "sha256:xyz"}), "InvalidImageDigest"),
            (
                json!({"imageTag": "t1", "imageDigest": other}),
                "ImageTagDoesNotMatchDigest"
            ),
            (json!({}), "MissingDigestAndTag"),
        ]
    );

    // BatchDeleteImage: a tag, the last tag (and the image with it), an image by digest.
    let out = app
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": repo, "imageIds": [{"imageTag": "t1"}]}),
        )
        .await
        .ok();
    assert_eq!(
        (&out["imageIds"], &out["failures"]),
        (
            &json!([{"imageDigest": a.digest, "imageTag": "t1"}]),
            &json!([])
        )
    );
    let r = app.get(&format!("/v2/{repo}/manifests/{}", a.digest)).await;
    assert_eq!(r.status(), 200);
    let out = app
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": repo, "imageIds": [{"imageTag": "t2", "imageDigest": a.digest}]}),
        )
        .await
        .ok();
    assert_eq!(
        out["imageIds"],
        json!([{"imageDigest": a.digest, "imageTag": "t2"}])
    );
    let r = app.get(&format!("/v2/{repo}/manifests/{}", a.digest)).await;
    assert_eq!(r.status(), 404);
    let out = app
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": repo, "imageIds": [{"imageDigest": c.digest}]}),
        )
        .await
        .ok();
    assert_eq!(ids(&out["imageIds"]), [pair(&c.digest, "x")]);
    let out = app
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": repo, "imageIds": [
                {"imageDigest": c.digest}, {"imageTag": "zzz"}, {"imageDigest": "bogus"}, {}]}),
        )
        .await
        .ok();
    assert_eq!(out["imageIds"], json!([]));
    let codes: Vec<&str> = out["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["failureCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "ImageNotFound",
            "ImageNotFound",
            "InvalidImageDigest",
            "MissingDigestAndTag"
        ]
    );
    let left = app
        .ecr("ListImages", json!({ "repositoryName": repo }))
        .await
        .ok();
    assert_eq!(left["imageIds"], json!([{ "imageDigest": b.digest }]));
    app.shutdown().await;
}

fn put_image(repo: &str, manifest: &[u8], tag: Option<&str>) -> Value {
    let mut input = json!({
        "repositoryName": repo,
        "imageManifest": std::str::from_utf8(manifest).unwrap(),
    });
    if let Some(t) = tag {
        input["imageTag"] = json!(t);
    }
    input
}

#[tokio::test]
async fn put_image_stores_what_v2_serves_and_respects_immutable_tags() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "put/a";
    app.ecr("CreateRepository", json!({ "repositoryName": repo }))
        .await
        .ok();
    let a = Image::new(1);

    // Blobs first, or LayersNotFoundException naming the one missing.
    let r = app
        .ecr("PutImage", put_image(repo, &a.manifest, Some("v1")))
        .await;
    assert!(r
        .error("LayersNotFoundException", 400)
        .contains(&a.config_digest()));
    app.push_blobs(repo, &a).await;
    let out = app
        .ecr("PutImage", put_image(repo, &a.manifest, Some("v1")))
        .await
        .ok();
    let image = &out["image"];
    assert_eq!(
        image["imageId"],
        json!({"imageDigest": a.digest, "imageTag": "v1"})
    );
    assert_eq!(
        image["imageManifest"].as_str().unwrap().as_bytes(),
        a.manifest
    );
    assert_eq!(image["imageManifestMediaType"], OCI_MANIFEST);
    let r = app
        .client
        .get(app.url_of(&format!("/v2/{repo}/manifests/v1")))
        .header("accept", OCI_MANIFEST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        a.digest
    );
    assert_eq!(r.bytes().await.unwrap(), a.manifest);

    // The same manifest and tag again changes nothing; a second tag with its digest checked.
    let r = app
        .ecr("PutImage", put_image(repo, &a.manifest, Some("v1")))
        .await;
    r.error("ImageAlreadyExistsException", 400);
    let mut second = put_image(repo, &a.manifest, Some("v2"));
    second["imageDigest"] = json!(a.digest);
    app.ecr("PutImage", second).await.ok();
    let mut wrong = put_image(repo, &a.manifest, Some("v3"));
    wrong["imageDigest"] = json!(sha256(b"something else"));
    let r = app.ecr("PutImage", wrong).await;
    r.error("ImageDigestDoesNotMatchException", 400);
    let r = app
        .ecr("PutImage", put_image(repo, b"{not json", Some("v1")))
        .await;
    r.error("InvalidParameterException", 400);
    let r = app
        .ecr("PutImage", put_image("put/missing", &a.manifest, None))
        .await;
    r.error("RepositoryNotFoundException", 400);

    // An index: its children must be in the repository, and are then kept by it.
    let absent = index_manifest(&[&Image::new(9).manifest]);
    let r = app
        .ecr("PutImage", put_image(repo, &absent, Some("idx")))
        .await;
    r.error("ReferencedImagesNotFoundException", 400);
    let index = index_manifest(&[&a.manifest]);
    let out = app
        .ecr("PutImage", put_image(repo, &index, Some("multi")))
        .await
        .ok();
    assert_eq!(out["image"]["imageManifestMediaType"], OCI_INDEX);
    let r = app
        .client
        .get(app.url_of(&format!("/v2/{repo}/manifests/multi")))
        .header("accept", OCI_INDEX)
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), index);
    let out = app
        .ecr(
            "BatchDeleteImage",
            json!({"repositoryName": repo, "imageIds": [{"imageDigest": a.digest}]}),
        )
        .await
        .ok();
    assert_eq!(out["imageIds"], json!([]));
    assert_eq!(
        out["failures"][0]["failureCode"],
        "ImageReferencedByManifestList"
    );

    // Immutable tags: PutImage and /v2 both refuse to move one, and keep nothing of it.
    let out = app
        .ecr(
            "PutImageTagMutability",
            json!({"repositoryName": repo, "imageTagMutability": "IMMUTABLE"}),
        )
        .await
        .ok();
    assert_eq!(
        (
            &out["repositoryName"],
            &out["registryId"],
            &out["imageTagMutability"]
        ),
        (&json!(repo), &json!(ACCOUNT), &json!("IMMUTABLE"))
    );
    let b = Image::new(2);
    app.push_blobs(repo, &b).await;
    let r = app
        .ecr("PutImage", put_image(repo, &b.manifest, Some("v1")))
        .await;
    assert!(r
        .error("ImageTagAlreadyExistsException", 400)
        .contains("v1"));
    let r = app.put_manifest(repo, "v1", &b.manifest).await;
    let m = oci_error(r, 400, "TAG_INVALID").await;
    assert_eq!(
        m,
        format!(
            "The image tag 'v1' already exists in the '{repo}' repository and cannot be \
             overwritten because the tag is immutable."
        )
    );
    let r = app
        .client
        .head(app.url_of(&format!("/v2/{repo}/manifests/v1")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        a.digest
    );
    let r = app
        .client
        .head(app.url_of(&format!("/v2/{repo}/manifests/{}", b.digest)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A new tag is fine; so is moving one once the repository is mutable again.
    app.ecr("PutImage", put_image(repo, &b.manifest, Some("new")))
        .await
        .ok();
    let out = app
        .ecr(
            "PutImageTagMutability",
            json!({"repositoryName": repo, "imageTagMutability": "MUTABLE"}),
        )
        .await
        .ok();
    assert_eq!(out["imageTagMutability"], "MUTABLE");
    assert!(out.get("imageTagMutabilityExclusionFilters").is_none());
    let out = app
        .ecr("PutImage", put_image(repo, &b.manifest, Some("v1")))
        .await
        .ok();
    assert_eq!(
        out["image"]["imageId"],
        json!({"imageDigest": b.digest, "imageTag": "v1"})
    );
    let r = app
        .ecr(
            "PutImageTagMutability",
            json!({"repositoryName": repo, "imageTagMutability": "FROZEN"}),
        )
        .await;
    assert!(r
        .error("InvalidParameterException", 400)
        .contains("enum value set"));
    app.shutdown().await;
}

/// InitiateLayerUpload, UploadLayerPart in parts of `part` bytes, CompleteLayerUpload.
async fn upload_layer(app: &TestApp, repo: &str, data: &[u8], part: usize) {
    let up = app
        .ecr("InitiateLayerUpload", json!({ "repositoryName": repo }))
        .await
        .ok();
    assert!(up["partSize"].as_u64().unwrap() > 0);
    let id = up["uploadId"].as_str().unwrap();
    for (i, chunk) in data.chunks(part).enumerate() {
        let first = i * part;
        let last = first + chunk.len() - 1;
        let out = app
            .ecr(
                "UploadLayerPart",
                json!({"repositoryName": repo, "uploadId": id, "partFirstByte": first,
                       "partLastByte": last,
                       "layerPartBlob": base64::engine::general_purpose::STANDARD.encode(chunk)}),
            )
            .await
            .ok();
        assert_eq!(out["lastByteReceived"], last);
    }
    let out = app
        .ecr(
            "CompleteLayerUpload",
            json!({"repositoryName": repo, "uploadId": id, "layerDigests": [sha256(data)]}),
        )
        .await
        .ok();
    assert_eq!(
        (&out["layerDigest"], &out["uploadId"]),
        (&json!(sha256(data)), &json!(id))
    );
}

fn part(repo: &str, id: &str, first: u64, data: &[u8]) -> Value {
    json!({"repositoryName": repo, "uploadId": id, "partFirstByte": first,
           "partLastByte": first + data.len() as u64 - 1,
           "layerPartBlob": base64::engine::general_purpose::STANDARD.encode(data)})
}

#[tokio::test]
async fn layers_uploaded_through_the_api_make_an_image_v2_serves() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "layers/a";
    app.ecr("CreateRepository", json!({ "repositoryName": repo }))
        .await
        .ok();
    let img = Image::new(7);
    upload_layer(&app, repo, &img.config, img.config.len()).await;
    upload_layer(&app, repo, &img.layer, 4000).await;

    let missing = sha256(b"missing");
    let out = app
        .ecr(
            "BatchCheckLayerAvailability",
            json!({"repositoryName": repo,
                   "layerDigests": [img.config_digest(), img.layer_digest(), missing,
                                    "not-a-digest"]}),
        )
        .await
        .ok();
    assert_eq!(
        out["layers"],
        json!([
            {"layerDigest": img.config_digest(), "layerAvailability": "AVAILABLE",
             "layerSize": img.config.len()},
            {"layerDigest": img.layer_digest(), "layerAvailability": "AVAILABLE",
             "layerSize": img.layer.len()},
        ])
    );
    let failures: Vec<(&str, &str)> = out["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["layerDigest"].as_str().unwrap(),
                f["failureCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            (missing.as_str(), "MissingLayerDigest"),
            ("not-a-digest", "InvalidLayerDigest")
        ]
    );
    let r = app
        .get(&format!("/v2/{repo}/blobs/{}", img.layer_digest()))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.layer);
    app.ecr("PutImage", put_image(repo, &img.manifest, Some("api")))
        .await
        .ok();
    let r = app.get(&format!("/v2/{repo}/manifests/api")).await;
    assert_eq!(
        r.headers()["docker-content-digest"].to_str().unwrap(),
        img.digest
    );
    assert_eq!(r.bytes().await.unwrap(), img.manifest);

    // The upload errors, each in ECR's own exception.
    app.ecr(
        "CreateRepository",
        json!({"repositoryName": "layers/other"}),
    )
    .await
    .ok();
    let up = app
        .ecr("InitiateLayerUpload", json!({ "repositoryName": repo }))
        .await
        .ok()["uploadId"]
        .as_str()
        .unwrap()
        .to_owned();
    let complete =
        |digest: String| json!({"repositoryName": repo, "uploadId": up, "layerDigests": [digest]});
    let r = app.ecr("CompleteLayerUpload", complete(sha256(b"x"))).await;
    r.error("EmptyUploadException", 400);
    app.ecr("UploadLayerPart", part(repo, &up, 0, b"hello"))
        .await
        .ok();
    let r = app.ecr("UploadLayerPart", part(repo, &up, 7, b"xx")).await;
    r.error("InvalidLayerPartException", 400);
    assert_eq!(r.body["lastValidByteReceived"], 4);
    let r = app
        .ecr("UploadLayerPart", part("layers/other", &up, 5, b"xx"))
        .await;
    r.error("UploadNotFoundException", 400);
    let r = app
        .ecr(
            "CompleteLayerUpload",
            json!({"repositoryName": repo, "uploadId": uuid::Uuid::new_v4().to_string(),
                   "layerDigests": [sha256(b"hello")]}),
        )
        .await;
    r.error("UploadNotFoundException", 400);
    let r = app
        .ecr("CompleteLayerUpload", complete(sha256(b"other")))
        .await;
    r.error("InvalidLayerException", 400);
    upload_layer(&app, repo, b"hello", 5).await;
    let up = app
        .ecr("InitiateLayerUpload", json!({ "repositoryName": repo }))
        .await
        .ok()["uploadId"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ecr("UploadLayerPart", part(repo, &up, 0, b"hello"))
        .await
        .ok();
    let r = app
        .ecr(
            "CompleteLayerUpload",
            json!({"repositoryName": repo, "uploadId": up, "layerDigests": [sha256(b"hello")]}),
        )
        .await;
    r.error("LayerAlreadyExistsException", 400);
    app.shutdown().await;
}

#[tokio::test]
async fn the_authorization_token_is_a_v2_password() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let img = Image::new(3);
    app.push("login/app", "v1", &img).await;
    let before = now();
    let out = app.ecr("GetAuthorizationToken", json!({})).await.ok();
    let data = out["authorizationData"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    let entry = data[0].as_object().unwrap();
    let mut keys: Vec<&str> = entry.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["authorizationToken", "expiresAt", "proxyEndpoint"]);
    assert_eq!(entry["proxyEndpoint"], app.url.as_str());
    let lifetime = entry["expiresAt"].as_f64().unwrap() - before;
    assert!((12.0 * 3600.0 - 120.0..=12.0 * 3600.0 + 120.0).contains(&lifetime));
    let token = entry["authorizationToken"].as_str().unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token)
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let password = raw.strip_prefix("AWS:").unwrap();
    assert!(!password.is_empty() && !password.contains([':', ' ', '\n']));

    // The password of user AWS, or the token itself as the Basic credential.
    let r = app
        .anonymous
        .get(app.url_of("/v2/"))
        .basic_auth("AWS", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .anonymous
        .get(app.url_of("/v2/"))
        .header("authorization", format!("Basic {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .anonymous
        .get(app.url_of("/v2/login/app/manifests/v1"))
        .header("accept", OCI_MANIFEST)
        .basic_auth("AWS", Some(password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), img.manifest);
    let r = app
        .anonymous
        .get(app.url_of("/v2/"))
        .basic_auth("AWS", Some(&password[..password.len() - 2]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Two registry ids, two entries; a malformed one is refused.
    let out = app
        .ecr(
            "GetAuthorizationToken",
            json!({"registryIds": [ACCOUNT, ACCOUNT]}),
        )
        .await
        .ok();
    assert_eq!(out["authorizationData"].as_array().unwrap().len(), 2);
    let r = app
        .ecr("GetAuthorizationToken", json!({"registryIds": ["abc"]}))
        .await;
    assert!(r
        .error("InvalidParameterException", 400)
        .starts_with("Invalid parameter at 'registryIds'"));
    app.shutdown().await;
}

#[tokio::test]
async fn lifecycle_and_repository_policies_round_trip() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let repo = "pol/a";
    app.push(repo, "v1", &Image::new(5)).await;
    let name = json!({ "repositoryName": repo });

    let text = serde_json::to_string_pretty(&json!({"rules": [
        {"rulePriority": 1, "description": "keep one untagged image",
         "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                       "countNumber": 1},
         "action": {"type": "expire"}},
        {"rulePriority": 2, "description": "keep the three newest v* images",
         "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"],
                       "countType": "imageCountMoreThan", "countNumber": 3},
         "action": {"type": "expire"}},
    ]}))
    .unwrap();
    let out = app
        .ecr(
            "PutLifecyclePolicy",
            json!({"repositoryName": repo, "lifecyclePolicyText": text}),
        )
        .await
        .ok();
    assert_eq!(
        out,
        json!({"registryId": ACCOUNT, "repositoryName": repo, "lifecyclePolicyText": text})
    );
    let out = app.ecr("GetLifecyclePolicy", name.clone()).await.ok();
    assert_eq!(
        (&out["lifecyclePolicyText"], &out["repositoryName"]),
        (&json!(text), &json!(repo))
    );
    assert!(out.get("lastEvaluatedAt").is_none(), "{out}");
    let invalid = text.replace("\"countNumber\": 1", "\"countNumber\": 0");
    let r = app
        .ecr(
            "PutLifecyclePolicy",
            json!({"repositoryName": repo, "lifecyclePolicyText": invalid}),
        )
        .await;
    let m = r.error("InvalidParameterException", 400);
    assert!(
        m.starts_with(
            "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: \
             'Lifecycle policy validation failure: "
        ) && m.contains("minimum: 1, found: 0"),
        "{m}"
    );
    let out = app.ecr("DeleteLifecyclePolicy", name.clone()).await.ok();
    assert_eq!(out["lifecyclePolicyText"], text.as_str());
    for op in ["GetLifecyclePolicy", "DeleteLifecyclePolicy"] {
        let r = app.ecr(op, name.clone()).await;
        assert_eq!(
            r.error("LifecyclePolicyNotFoundException", 400),
            format!(
                "Lifecycle policy does not exist for the repository with name '{repo}' in \
                 the registry with id '{ACCOUNT}'"
            )
        );
    }

    // Repository policies: set, read, replaced, deleted.
    let no_policy = format!(
        "Repository policy does not exist for the repository with name '{repo}' in the \
         registry with id '{ACCOUNT}'"
    );
    let r = app.ecr("GetRepositoryPolicy", name.clone()).await;
    assert_eq!(r.error("RepositoryPolicyNotFoundException", 400), no_policy);
    let named = serde_json::to_string_pretty(&json!({"Version": "2008-10-17", "Statement": [{
        "Sid": "PullFromB", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::000000000000:user/someone"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]}))
    .unwrap();
    let stored = json!({"registryId": ACCOUNT, "repositoryName": repo, "policyText": named});
    let out = app
        .ecr(
            "SetRepositoryPolicy",
            json!({"repositoryName": repo, "policyText": named}),
        )
        .await
        .ok();
    assert_eq!(out, stored);
    assert_eq!(
        app.ecr("GetRepositoryPolicy", name.clone()).await.ok(),
        stored
    );
    // An invalid policy is refused and the stored one kept.
    let lowercase = named.replace("\"Allow\"", "\"allow\"");
    let r = app
        .ecr(
            "SetRepositoryPolicy",
            json!({"repositoryName": repo, "policyText": lowercase}),
        )
        .await;
    assert!(r.error("InvalidParameterException", 400).starts_with(
        "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository \
         policy provided"
    ));
    assert_eq!(
        app.ecr("GetRepositoryPolicy", name.clone()).await.ok(),
        stored
    );
    assert_eq!(
        app.ecr("DeleteRepositoryPolicy", name.clone()).await.ok(),
        stored
    );
    for op in ["GetRepositoryPolicy", "DeleteRepositoryPolicy"] {
        let r = app.ecr(op, name.clone()).await;
        assert_eq!(r.error("RepositoryPolicyNotFoundException", 400), no_policy);
    }
    let r = app
        .ecr(
            "SetRepositoryPolicy",
            json!({"repositoryName": "x/y", "policyText": named}),
        )
        .await;
    assert_eq!(
        r.error("RepositoryNotFoundException", 400),
        not_found("x/y")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn requests_are_authenticated_routed_and_parsed_as_aws_does() {
    let (_t, dir) = tempdir();
    let app = TestApp::spawn(&dir).await;
    let op = "GetAuthorizationToken";
    let (id, secret) = (app.admin_key.0.as_str(), app.admin_key.1.as_str());

    // Each answer has its own request id.
    let first = app.ecr(op, json!({})).await;
    let second = app.ecr(op, json!({})).await;
    assert_ne!(
        first.header("x-amzn-requestid"),
        second.header("x-amzn-requestid")
    );
    first.ok();

    // No Authorization: 403. A wrong secret, a body changed after signing, another service:
    // the signature does not match (400). An unknown key: not recognized (400).
    let headers: Vec<(String, String)> = app
        .ecr_headers((id, secret), Some(op), b"{}", "ecr")
        .into_iter()
        .filter(|(k, _)| k != "authorization")
        .collect();
    let r = app.ecr_post(&headers, b"{}").await;
    r.error("MissingAuthenticationTokenException", 403);
    let mut wrong = secret.to_owned();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    let r = app
        .ecr_post(
            &app.ecr_headers((id, &wrong), Some(op), b"{}", "ecr"),
            b"{}",
        )
        .await;
    assert!(r
        .error("InvalidSignatureException", 400)
        .starts_with("The request signature we calculated does not match"));
    let signed = app.ecr_headers((id, secret), Some(op), b"{}", "ecr");
    let r = app
        .ecr_post(&signed, br#"{"registryIds":["000000000000"]}"#)
        .await;
    assert!(r
        .error("InvalidSignatureException", 400)
        .starts_with("The request signature we calculated does not match"));
    let r = app
        .ecr_post(&app.ecr_headers((id, secret), Some(op), b"{}", "s3"), b"{}")
        .await;
    assert!(r.error("InvalidSignatureException", 400).contains("ecr"));
    let r = app
        .ecr_post(
            &app.ecr_headers(("AKIANOSUCHKEY0000000", secret), Some(op), b"{}", "ecr"),
            b"{}",
        )
        .await;
    assert_eq!(
        r.error("UnrecognizedClientException", 400),
        "The security token included in the request is invalid."
    );
    // The signed request itself still works (the failures locked nothing).
    app.ecr_post(&signed, b"{}").await.ok();

    // Routing: unknown operations, or none.
    for target in [Some("NoSuchOp"), Some("getAuthorizationToken"), None] {
        let r = app
            .ecr_post(&app.ecr_headers((id, secret), target, b"{}", "ecr"), b"{}")
            .await;
        r.error("UnknownOperationException", 400);
    }

    // The body: JSON objects of the operation's members only.
    for body in [&b"{"[..], b"not json", b"[]", b"null", b"42"] {
        let r = app
            .ecr_post(&app.ecr_headers((id, secret), Some(op), body, "ecr"), body)
            .await;
        r.error("SerializationException", 400);
    }
    app.ecr_post(&app.ecr_headers((id, secret), Some(op), b"", "ecr"), b"")
        .await
        .ok();
    for (op, input) in [
        ("GetAuthorizationToken", json!({"registryId": ACCOUNT})),
        ("GetAuthorizationToken", json!({"registryIds": ACCOUNT})),
        ("GetRepositoryPolicy", json!({"repositoryName": ["a", "b"]})),
    ] {
        app.ecr(op, input)
            .await
            .error("SerializationException", 400);
    }
    for (op, input) in [
        ("SetRepositoryPolicy", json!({"policyText": "{}"})),
        ("GetRepositoryPolicy", json!({})),
    ] {
        app.ecr(op, input)
            .await
            .error("InvalidParameterException", 400);
    }
    let long = "x".repeat(257);
    for (value, reason) in [
        ("a", "must have length greater than or equal to 2"),
        (&long, "must have length less than or equal to 256"),
        (
            "x//y",
            "must satisfy regular expression \
             '(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*'",
        ),
    ] {
        let r = app
            .ecr("GetRepositoryPolicy", json!({ "repositoryName": value }))
            .await;
        assert_eq!(
            r.error("InvalidParameterException", 400),
            format!(
                "Invalid parameter at 'repositoryName' failed to satisfy constraint: '{reason}'"
            )
        );
    }
    app.shutdown().await;
}
