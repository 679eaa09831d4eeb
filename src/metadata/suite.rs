//! The behaviour every `MetadataStore` must show, run against each implementation.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::oci::manifest;

fn d(n: u8) -> Digest {
    Algorithm::Sha256.digest(&[n])
}

fn image_manifest(config: &Digest, layer: &Digest, subject: Option<&Digest>) -> Vec<u8> {
    let subject = subject
        .map(|s| {
            format!(
                r#","subject":{{"mediaType":"{}","digest":"{s}","size":1}}"#,
                manifest::OCI_MANIFEST
            )
        })
        .unwrap_or_default();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","artifactType":"application/x.test","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{config}","size":1}},"layers":[{{"mediaType":"application/octet-stream","digest":"{layer}","size":1}}]{subject}}}"#,
        manifest::OCI_MANIFEST
    )
    .into_bytes()
}

pub async fn run(store: &dyn MetadataStore) {
    store.ping().await.unwrap();
    let repo: RepositoryName = "suite/a".parse().unwrap();
    let other: RepositoryName = "suite/b".parse().unwrap();
    assert!(!store.repository_exists(&repo).await.unwrap());
    assert!(store.list_tags(&repo, None, 10).await.unwrap().is_none());

    // Blobs are linked per repository.
    store
        .link_blob(&repo, &d(1), 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    store
        .link_blob(&repo, &d(1), 1, 2, MissingRepository::Create)
        .await
        .unwrap();
    store
        .link_blob(&repo, &d(2), 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    assert_eq!(
        store
            .repository_blob(&repo, &d(1))
            .await
            .unwrap()
            .map(|b| b.size),
        Some(1)
    );
    assert_eq!(store.repository_blob(&other, &d(1)).await.unwrap(), None);
    assert!(store.repository_exists(&repo).await.unwrap());

    // A manifest whose blobs are missing is refused and changes nothing.
    let bytes = image_manifest(&d(1), &d(3), None);
    let m = manifest::parse(Some(manifest::OCI_MANIFEST), &bytes).unwrap();
    let md = Algorithm::Sha256.digest(&bytes);
    let tags: Vec<Tag> = vec!["v1".parse().unwrap()];
    let r = store
        .put_manifest(
            NewManifest {
                repository: &other,
                digest: &md,
                manifest: &m,
                content: &bytes,
                tags: &tags,
                now: 3,
            },
            MissingRepository::Create,
        )
        .await;
    assert!(matches!(r, Err(PutManifestError::BlobUnknown(x)) if x == d(1)));
    assert!(!store.repository_exists(&other).await.unwrap());

    let bytes = image_manifest(&d(1), &d(2), None);
    let m = manifest::parse(Some(manifest::OCI_MANIFEST), &bytes).unwrap();
    let md = Algorithm::Sha256.digest(&bytes);
    store
        .put_manifest(
            NewManifest {
                repository: &repo,
                digest: &md,
                manifest: &m,
                content: &bytes,
                tags: &tags,
                now: 3,
            },
            MissingRepository::Create,
        )
        .await
        .unwrap();
    let got = store
        .manifest_by_tag(&repo, &tags[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.content, bytes);
    assert_eq!(got.digest, md);
    assert_eq!(got.media_type, manifest::OCI_MANIFEST);
    assert!(store
        .manifest_by_digest(&repo, &md)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .manifest_by_digest(&other, &md)
        .await
        .unwrap()
        .is_none());

    // A referenced blob cannot be unlinked.
    assert!(matches!(
        store.unlink_blob(&repo, &d(1)).await.unwrap(),
        DeleteOutcome::Referenced(_)
    ));
    assert_eq!(
        store.unlink_blob(&other, &d(1)).await.unwrap(),
        DeleteOutcome::NotFound
    );

    // An index needs its children; a child of an index cannot be deleted.
    let idx = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{md}","size":{}}}]}}"#,
        manifest::OCI_INDEX,
        manifest::OCI_MANIFEST,
        bytes.len()
    )
    .into_bytes();
    let im = manifest::parse(None, &idx).unwrap();
    let id = Algorithm::Sha256.digest(&idx);
    let r = store
        .put_manifest(
            NewManifest {
                repository: &other,
                digest: &id,
                manifest: &im,
                content: &idx,
                tags: &[],
                now: 4,
            },
            MissingRepository::Create,
        )
        .await;
    assert!(matches!(r, Err(PutManifestError::ManifestUnknown(_))));
    store
        .put_manifest(
            NewManifest {
                repository: &repo,
                digest: &id,
                manifest: &im,
                content: &idx,
                tags: &[],
                now: 4,
            },
            MissingRepository::Create,
        )
        .await
        .unwrap();
    assert!(
        matches!(store.delete_manifest(&repo, &md).await.unwrap(), DeleteOutcome::Referenced(p) if p == id.to_string())
    );
    // Image listings say which manifests an index lists.
    let listed = store.list_images(&repo, None, 100).await.unwrap().unwrap();
    let in_index = |d: &Digest| {
        listed
            .iter()
            .find(|i| i.digest == d.to_string())
            .unwrap()
            .in_index
    };
    assert!(in_index(&md));
    assert!(!in_index(&id));

    // Referrers.
    let rbytes = image_manifest(&d(1), &d(2), Some(&md));
    let rm = manifest::parse(None, &rbytes).unwrap();
    let rd = Algorithm::Sha256.digest(&rbytes);
    store
        .put_manifest(
            NewManifest {
                repository: &repo,
                digest: &rd,
                manifest: &rm,
                content: &rbytes,
                tags: &[],
                now: 5,
            },
            MissingRepository::Create,
        )
        .await
        .unwrap();
    let refs = store.referrers(&repo, &md).await.unwrap();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].digest, rd.to_string());
    assert_eq!(refs[0].artifact_type.as_deref(), Some("application/x.test"));
    assert_eq!(refs[0].size, rbytes.len() as u64);

    // Tags: sorted, paginated, moved atomically, deleted alone.
    let more: Vec<Tag> = ["b", "a", "c", "v1"]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    store
        .put_manifest(
            NewManifest {
                repository: &repo,
                digest: &rd,
                manifest: &rm,
                content: &rbytes,
                tags: &more,
                now: 6,
            },
            MissingRepository::Create,
        )
        .await
        .unwrap();
    assert_eq!(
        *store.list_tags(&repo, None, 10).await.unwrap().unwrap(),
        ["a", "b", "c", "v1"]
    );
    assert_eq!(
        *store.list_tags(&repo, Some("a"), 2).await.unwrap().unwrap(),
        ["b", "c"]
    );
    assert_eq!(
        store
            .manifest_by_tag(&repo, &tags[0])
            .await
            .unwrap()
            .unwrap()
            .digest,
        rd
    );
    assert!(store.delete_tag(&repo, &more[0]).await.unwrap());
    assert!(!store.delete_tag(&repo, &more[0]).await.unwrap());
    assert!(store
        .manifest_by_tag(&repo, &more[0])
        .await
        .unwrap()
        .is_none());
    assert!(store
        .manifest_by_digest(&repo, &rd)
        .await
        .unwrap()
        .is_some());

    // Deleting a manifest takes its tags with it.
    assert!(store
        .manifest_by_tag(&repo, &more[1])
        .await
        .unwrap()
        .is_some());
    assert!(store
        .manifest_by_digest(&repo, &rd)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        store.delete_manifest(&repo, &rd).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert!(store
        .manifest_by_tag(&repo, &more[1])
        .await
        .unwrap()
        .is_none());
    assert!(store
        .manifest_by_digest(&repo, &rd)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        *store.list_tags(&repo, None, 10).await.unwrap().unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        store.delete_manifest(&repo, &rd).await.unwrap(),
        DeleteOutcome::NotFound
    );
    assert_eq!(
        store.delete_manifest(&repo, &id).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        store.delete_manifest(&repo, &md).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        store.unlink_blob(&repo, &d(1)).await.unwrap(),
        DeleteOutcome::Deleted
    );

    // Catalog.
    store
        .link_blob(&other, &d(2), 1, 7, MissingRepository::Create)
        .await
        .unwrap();
    assert_eq!(
        store.list_repositories(None, 10).await.unwrap(),
        ["suite/a", "suite/b"]
    );
    assert_eq!(
        store.list_repositories(Some("suite/a"), 10).await.unwrap(),
        ["suite/b"]
    );

    // Uploads.
    let u = UploadRow {
        id: "u1".into(),
        repository: repo.clone(),
        algorithm: Algorithm::Sha512,
        size: 0,
        digest: None,
        created_at: 10,
        updated_at: 10,
        hash_state: vec![1, 2, 3],
        storage_state: "{}".into(),
    };
    store.create_upload(&u).await.unwrap();
    assert_eq!(store.get_upload("u1").await.unwrap().unwrap(), u);
    let p = UploadProgress {
        size: 42,
        hash_state: vec![0, 255, 7],
        storage_state: r#"{"parts":[1]}"#.into(),
    };
    assert!(store.advance_upload("u1", 0, &p, 20).await.unwrap());
    // A second append from the same starting point (another replica, racing) is refused.
    let lost = UploadProgress {
        size: 50,
        ..p.clone()
    };
    assert!(!store.advance_upload("u1", 0, &lost, 21).await.unwrap());
    let got = store.get_upload("u1").await.unwrap().unwrap();
    assert_eq!(
        (got.size, got.algorithm, got.updated_at),
        (42, Algorithm::Sha512, 20)
    );
    assert_eq!(
        (got.hash_state, got.storage_state),
        (p.hash_state, p.storage_state)
    );
    assert_eq!(store.stale_uploads(21, 10).await.unwrap(), ["u1"]);
    assert!(store.stale_uploads(20, 10).await.unwrap().is_empty());
    store.delete_upload("u1").await.unwrap();
    assert!(store.get_upload("u1").await.unwrap().is_none());

    // Completion: verified digest recorded, then link + forget in one step.
    let u2 = UploadRow {
        id: "u2".into(),
        ..u
    };
    store.create_upload(&u2).await.unwrap();
    store.mark_upload_verified("u2", &d(9)).await.unwrap();
    assert_eq!(
        store.get_upload("u2").await.unwrap().unwrap().digest,
        Some(d(9))
    );
    // A verified upload takes no more appends.
    let p = UploadProgress {
        size: 1,
        hash_state: vec![],
        storage_state: String::new(),
    };
    assert!(!store.advance_upload("u2", 0, &p, 25).await.unwrap());
    assert_eq!(
        store
            .complete_upload(
                "u2",
                &other,
                &d(9),
                1,
                "loc-a",
                30,
                MissingRepository::Create
            )
            .await
            .unwrap(),
        "loc-a"
    );
    assert!(store.get_upload("u2").await.unwrap().is_none());
    assert_eq!(
        store.repository_blob(&other, &d(9)).await.unwrap(),
        Some(BlobRecord {
            size: 1,
            location: "loc-a".into()
        })
    );

    // The same blob uploaded again (into another repository) keeps its first location.
    let u3 = UploadRow {
        id: "u3".into(),
        ..u2
    };
    store.create_upload(&u3).await.unwrap();
    let kept = store
        .complete_upload(
            "u3",
            &repo,
            &d(9),
            1,
            "loc-b",
            31,
            MissingRepository::Create,
        )
        .await
        .unwrap();
    assert_eq!(kept, "loc-a");
    assert_eq!(
        store
            .repository_blob(&repo, &d(9))
            .await
            .unwrap()
            .unwrap()
            .location,
        "loc-a"
    );

    repositories(store).await;
    images(store).await;
    settings_and_lifecycle(store).await;
    writes_that_may_not_create(store).await;
    blob_holders(store).await;
}

fn unknown<T>(r: &MetaResult<T>) -> bool {
    matches!(r, Err(MetaError::RepositoryUnknown(n)) if n == "nocreate/gone")
}

/// Writes told to refuse a missing repository (`MissingRepository::Refuse`) fail with
/// `RepositoryUnknown` and change nothing; on an existing repository they work as usual.
async fn writes_that_may_not_create(store: &dyn MetadataStore) {
    let refuse = MissingRepository::Refuse;
    let gone: RepositoryName = "nocreate/gone".parse().unwrap();

    let r = store.link_blob(&gone, &d(1), 1, 1, refuse).await;
    assert!(unknown(&r), "{r:?}");
    let u = UploadRow {
        id: "nocreate-u".into(),
        repository: gone.clone(),
        algorithm: Algorithm::Sha256,
        size: 1,
        digest: Some(d(40)),
        created_at: 1,
        updated_at: 1,
        hash_state: Vec::new(),
        storage_state: String::new(),
    };
    store.create_upload(&u).await.unwrap();
    let r = store
        .complete_upload("nocreate-u", &gone, &d(40), 1, "loc-nc", 2, refuse)
        .await;
    assert!(unknown(&r), "{r:?}");
    // The upload stays (for a retry, or expiry); the blob was not recorded anywhere.
    assert!(store.get_upload("nocreate-u").await.unwrap().is_some());
    assert!(store
        .repositories_with_blob(&d(40), 10)
        .await
        .unwrap()
        .is_empty());
    let bytes = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
        manifest::OCI_INDEX
    )
    .into_bytes();
    let m = manifest::parse(Some(manifest::OCI_INDEX), &bytes).unwrap();
    let md = Algorithm::Sha256.digest(&bytes);
    let tags: Vec<Tag> = vec!["v1".parse().unwrap()];
    let new = |repository| NewManifest {
        repository,
        digest: &md,
        manifest: &m,
        content: &bytes,
        tags: &tags,
        now: 3,
    };
    let r = store.put_manifest(new(&gone), refuse).await;
    assert!(
        matches!(&r, Err(PutManifestError::Meta(MetaError::RepositoryUnknown(n))) if n == "nocreate/gone"),
        "{r:?}"
    );
    assert!(!store.repository_exists(&gone).await.unwrap());
    assert!(store.list_tags(&gone, None, 10).await.unwrap().is_none());

    // Allowed to create, the same writes create it; refusing, they work on it once it exists.
    store
        .complete_upload(
            "nocreate-u",
            &gone,
            &d(40),
            1,
            "loc-nc",
            4,
            MissingRepository::Create,
        )
        .await
        .unwrap();
    assert!(store.repository_exists(&gone).await.unwrap());
    store.put_manifest(new(&gone), refuse).await.unwrap();
    store.link_blob(&gone, &d(41), 1, 5, refuse).await.unwrap();
    assert_eq!(
        store
            .list_tags(&gone, None, 10)
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        ["v1"]
    );
    assert!(store
        .repository_blob(&gone, &d(41))
        .await
        .unwrap()
        .is_some());
    let kept = "nocreate/kept".parse().unwrap();
    store
        .put_manifest(new(&kept), MissingRepository::Create)
        .await
        .unwrap();
    assert!(store.repository_exists(&kept).await.unwrap());
}

/// `repositories_with_blob`: the repositories that hold a blob, by name, bounded.
async fn blob_holders(store: &dyn MetadataStore) {
    let blob = d(50);
    assert!(store
        .repositories_with_blob(&blob, 10)
        .await
        .unwrap()
        .is_empty());
    for n in ["holders/c", "holders/a", "holders/b", "holders/d"] {
        let r: RepositoryName = n.parse().unwrap();
        store
            .link_blob(&r, &blob, 1, 1, MissingRepository::Create)
            .await
            .unwrap();
    }
    // Another blob and a repository without this one are not listed.
    let other: RepositoryName = "holders/other".parse().unwrap();
    store
        .link_blob(&other, &d(51), 1, 1, MissingRepository::Create)
        .await
        .unwrap();
    assert_eq!(
        store.repositories_with_blob(&blob, 10).await.unwrap(),
        ["holders/a", "holders/b", "holders/c", "holders/d"]
    );
    assert_eq!(
        store.repositories_with_blob(&blob, 2).await.unwrap(),
        ["holders/a", "holders/b"]
    );
    // An unlinked blob is no longer held there.
    let b: RepositoryName = "holders/b".parse().unwrap();
    assert_eq!(
        store.unlink_blob(&b, &blob).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        store.repositories_with_blob(&blob, 10).await.unwrap(),
        ["holders/a", "holders/c", "holders/d"]
    );
    assert_eq!(
        store.repositories_with_blob(&d(51), 10).await.unwrap(),
        ["holders/other"]
    );
}

async fn push(
    store: &dyn MetadataStore,
    repo: &RepositoryName,
    layer: u8,
    tags: &[&str],
    now: i64,
) -> (Digest, Result<(), PutManifestError>) {
    store
        .link_blob(repo, &d(1), 1, now, MissingRepository::Create)
        .await
        .unwrap();
    store
        .link_blob(repo, &d(layer), 1, now, MissingRepository::Create)
        .await
        .unwrap();
    let bytes = image_manifest(&d(1), &d(layer), None);
    let m = manifest::parse(Some(manifest::OCI_MANIFEST), &bytes).unwrap();
    let md = Algorithm::Sha256.digest(&bytes);
    let tags: Vec<Tag> = tags.iter().map(|t| t.parse().unwrap()).collect();
    let r = store
        .put_manifest(
            NewManifest {
                repository: repo,
                digest: &md,
                manifest: &m,
                content: &bytes,
                tags: &tags,
                now,
            },
            MissingRepository::Create,
        )
        .await;
    (md, r)
}

/// Repositories with settings and resource tags, tag immutability on push, and deletion.
async fn repositories(store: &dyn MetadataStore) {
    let name = |s: &str| -> RepositoryName { s.parse().unwrap() };
    let tag = |s: &str| -> Tag { s.parse().unwrap() };
    let kv = |k: &str, v: &str| (k.to_owned(), v.to_owned());

    // Creation with settings and tags; a second creation is refused and changes nothing.
    let a = name("zz/a");
    assert!(store.repository(&a).await.unwrap().is_none());
    let settings = RepositorySettings {
        tag_mutability: TagMutability::ImmutableWithExclusion,
        exclusions: vec!["latest".into(), "dev-*".into()],
        scan_on_push: true,
        encryption_type: "KMS".into(),
        kms_key: Some("alias/k".into()),
    };
    let tags = [kv("team", "x"), kv("env", "")];
    assert!(store
        .create_repository(&a, &settings, &tags, 100)
        .await
        .unwrap());
    assert!(!store
        .create_repository(&a, &RepositorySettings::default(), &[], 200)
        .await
        .unwrap());
    let rec = store.repository(&a).await.unwrap().unwrap();
    assert_eq!((rec.name.as_str(), rec.created_at), ("zz/a", 100));
    assert_eq!(rec.settings, settings);
    assert!(store.repository_exists(&a).await.unwrap());
    assert_eq!(
        store.resource_tags(&a).await.unwrap().unwrap(),
        vec![kv("env", ""), kv("team", "x")]
    );

    // A repository created by a push has the defaults; listings page by name.
    let b = name("zz/b");
    let c = name("zz/c");
    store
        .link_blob(&b, &d(1), 1, 300, MissingRepository::Create)
        .await
        .unwrap();
    assert!(store
        .create_repository(&c, &RepositorySettings::default(), &[], 400)
        .await
        .unwrap());
    let page = store.describe_repositories(Some("zz/"), 2).await.unwrap();
    let names: Vec<&str> = page.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["zz/a", "zz/b"]);
    assert_eq!(page[1].settings, RepositorySettings::default());
    assert_eq!(page[1].created_at, 300);
    let page = store.describe_repositories(Some("zz/b"), 2).await.unwrap();
    let names: Vec<&str> = page.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["zz/c"]);

    // Settings updates.
    let nope = name("zz/nope");
    assert!(store
        .set_tag_mutability(&b, TagMutability::Immutable, &[])
        .await
        .unwrap());
    assert!(!store
        .set_tag_mutability(&nope, TagMutability::Immutable, &[])
        .await
        .unwrap());
    assert!(store.set_scan_on_push(&b, true).await.unwrap());
    assert!(!store.set_scan_on_push(&nope, true).await.unwrap());
    let s = store.repository(&b).await.unwrap().unwrap().settings;
    assert_eq!(
        (s.tag_mutability, s.scan_on_push),
        (TagMutability::Immutable, true)
    );

    // Immutable tags: a re-push of the same manifest is fine, another manifest is refused
    // and nothing of that push is kept.
    let (m1, r) = push(store, &b, 11, &["v1"], 500).await;
    r.unwrap();
    push(store, &b, 11, &["v1"], 501).await.1.unwrap();
    let (m2, r) = push(store, &b, 12, &["v2", "v1"], 502).await;
    assert!(matches!(r, Err(PutManifestError::TagImmutable(t)) if t == "v1"));
    assert_eq!(
        store
            .manifest_by_tag(&b, &tag("v1"))
            .await
            .unwrap()
            .unwrap()
            .digest,
        m1
    );
    assert!(store.manifest_by_digest(&b, &m2).await.unwrap().is_none());
    assert!(store
        .manifest_by_tag(&b, &tag("v2"))
        .await
        .unwrap()
        .is_none());
    // A new tag on another manifest is fine; so is moving an excluded tag.
    push(store, &b, 12, &["v2"], 503).await.1.unwrap();
    push(store, &a, 11, &["latest", "dev-1", "v1"], 504)
        .await
        .1
        .unwrap();
    let (m3, r) = push(store, &a, 12, &["latest", "dev-1"], 505).await;
    r.unwrap();
    assert_eq!(
        store
            .manifest_by_tag(&a, &tag("dev-1"))
            .await
            .unwrap()
            .unwrap()
            .digest,
        m3
    );
    let r = push(store, &a, 12, &["v1"], 506).await.1;
    assert!(matches!(r, Err(PutManifestError::TagImmutable(t)) if t == "v1"));
    // Back to mutable: tags move again.
    assert!(store
        .set_tag_mutability(&b, TagMutability::Mutable, &[])
        .await
        .unwrap());
    push(store, &b, 12, &["v1"], 507).await.1.unwrap();
    assert_eq!(
        store
            .manifest_by_tag(&b, &tag("v1"))
            .await
            .unwrap()
            .unwrap()
            .digest,
        m2
    );

    // Resource tags: merge, overwrite, delete, at most 50.
    assert_eq!(
        store
            .put_resource_tags(&a, &[kv("team", "y"), kv("cost", "1")])
            .await
            .unwrap(),
        ResourceTagsOutcome::Done
    );
    assert_eq!(
        store.resource_tags(&a).await.unwrap().unwrap(),
        vec![kv("cost", "1"), kv("env", ""), kv("team", "y")]
    );
    assert!(store
        .delete_resource_tags(&a, &["env".into(), "absent".into()])
        .await
        .unwrap());
    assert_eq!(store.resource_tags(&a).await.unwrap().unwrap().len(), 2);
    let many: Vec<(String, String)> = (0..49).map(|i| kv(&format!("k{i}"), "v")).collect();
    assert_eq!(
        store.put_resource_tags(&a, &many).await.unwrap(),
        ResourceTagsOutcome::TooMany
    );
    assert_eq!(store.resource_tags(&a).await.unwrap().unwrap().len(), 2);
    assert_eq!(
        store.put_resource_tags(&a, &many[..48]).await.unwrap(),
        ResourceTagsOutcome::Done
    );
    assert_eq!(store.resource_tags(&a).await.unwrap().unwrap().len(), 50);
    assert_eq!(
        store
            .put_resource_tags(&nope, &[kv("a", "b")])
            .await
            .unwrap(),
        ResourceTagsOutcome::NotFound
    );
    assert!(store.resource_tags(&nope).await.unwrap().is_none());
    assert!(!store
        .delete_resource_tags(&nope, &["a".into()])
        .await
        .unwrap());

    // Deletion: refused while images remain unless forced; forced, everything goes but blobs.
    assert_eq!(
        store.delete_repository(&a, false).await.unwrap(),
        DeleteRepositoryOutcome::NotEmpty
    );
    assert!(store.repository_exists(&a).await.unwrap());
    let u = UploadRow {
        id: "zz-upload".into(),
        repository: a.clone(),
        algorithm: Algorithm::Sha256,
        size: 0,
        digest: None,
        created_at: 1,
        updated_at: 1,
        hash_state: vec![],
        storage_state: String::new(),
    };
    store.create_upload(&u).await.unwrap();
    assert_eq!(
        store.delete_repository(&a, true).await.unwrap(),
        DeleteRepositoryOutcome::Deleted
    );
    assert!(!store.repository_exists(&a).await.unwrap());
    assert!(store.repository(&a).await.unwrap().is_none());
    assert!(store
        .manifest_by_tag(&a, &tag("v1"))
        .await
        .unwrap()
        .is_none());
    assert!(store.list_tags(&a, None, 10).await.unwrap().is_none());
    assert!(store.repository_blob(&a, &d(11)).await.unwrap().is_none());
    assert!(store.get_upload("zz-upload").await.unwrap().is_none());
    // Another repository's links to the same blobs are untouched.
    assert!(store.repository_blob(&b, &d(11)).await.unwrap().is_some());
    assert_eq!(
        store.delete_repository(&a, true).await.unwrap(),
        DeleteRepositoryOutcome::NotFound
    );
    // Created again under the same name, it starts afresh.
    assert!(store
        .create_repository(&a, &RepositorySettings::default(), &[], 600)
        .await
        .unwrap());
    assert_eq!(store.resource_tags(&a).await.unwrap().unwrap(), vec![]);
    assert!(store
        .list_tags(&a, None, 10)
        .await
        .unwrap()
        .unwrap()
        .is_empty());
    // An empty repository needs no force.
    assert_eq!(
        store.delete_repository(&c, false).await.unwrap(),
        DeleteRepositoryOutcome::Deleted
    );
    assert_eq!(
        store.delete_repository(&a, false).await.unwrap(),
        DeleteRepositoryOutcome::Deleted
    );
}

/// Image listings: every manifest (tagged or not) in digest order, with its tags and size.
async fn images(store: &dyn MetadataStore) {
    let repo: RepositoryName = "suite/images".parse().unwrap();
    assert!(store.list_images(&repo, None, 10).await.unwrap().is_none());
    let (a, r) = push(store, &repo, 41, &["b", "a"], 1_000).await;
    r.unwrap();
    let (b, r) = push(store, &repo, 42, &[], 2_000).await;
    r.unwrap();
    let all = store.list_images(&repo, None, 10).await.unwrap().unwrap();
    assert_eq!(all.len(), 2);
    let mut want = [a.to_string(), b.to_string()];
    want.sort();
    assert_eq!(
        all.iter().map(|i| i.digest.clone()).collect::<Vec<_>>(),
        want.to_vec()
    );
    let ia = all.iter().find(|i| i.digest == a.to_string()).unwrap();
    assert_eq!(ia.tags, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(ia.size, 2);
    assert_eq!(ia.pushed_at, 1_000);
    assert_eq!(ia.media_type, manifest::OCI_MANIFEST);
    assert_eq!(ia.artifact_type.as_deref(), Some("application/x.test"));
    let ib = all.iter().find(|i| i.digest == b.to_string()).unwrap();
    assert!(ib.tags.is_empty());
    assert!(!ia.in_index && !ib.in_index);
    // `from` is inclusive; `limit` caps the page.
    let page = store
        .list_images(&repo, Some(&want[1]), 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].digest, want[1]);
    let first = store.list_images(&repo, None, 1).await.unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].digest, want[0]);

    // Pull times: recorded in a batch, never moving backwards; unknown manifests skipped.
    assert_eq!(ia.last_pulled_at, None);
    let pull = |digest: &str, at: i64| Pull {
        repository: repo.to_string(),
        digest: digest.to_owned(),
        at,
    };
    store
        .record_pulls(&[
            pull(&a.to_string(), 5_000),
            pull(&b.to_string(), 6_000),
            pull(&d(99).to_string(), 7_000),
            Pull {
                repository: "suite/nowhere".into(),
                ..pull(&a.to_string(), 8_000)
            },
        ])
        .await
        .unwrap();
    store
        .record_pulls(&[pull(&a.to_string(), 4_000)])
        .await
        .unwrap();
    store.record_pulls(&[]).await.unwrap();
    let all = store.list_images(&repo, None, 10).await.unwrap().unwrap();
    let pulled = |d: &Digest| {
        all.iter()
            .find(|i| i.digest == d.to_string())
            .unwrap()
            .last_pulled_at
    };
    assert_eq!(pulled(&a), Some(5_000));
    assert_eq!(pulled(&b), Some(6_000));
}

/// Registry settings, lifecycle policies and previews: stored, replaced, removed with the
/// repository.
async fn settings_and_lifecycle(store: &dyn MetadataStore) {
    assert_eq!(store.registry_setting("suite").await.unwrap(), None);
    store.put_registry_setting("suite", "{}", 1).await.unwrap();
    store
        .put_registry_setting("suite", r#"{"a":1}"#, 2)
        .await
        .unwrap();
    assert_eq!(
        store.registry_setting("suite").await.unwrap().as_deref(),
        Some(r#"{"a":1}"#)
    );

    let repo: RepositoryName = "suite/lifecycle".parse().unwrap();
    assert_eq!(store.lifecycle_policy(&repo).await.unwrap(), None);
    assert_eq!(
        store.set_lifecycle_policy(&repo, Some("p")).await.unwrap(),
        None
    );
    let preview = LifecyclePreviewRecord {
        policy_text: "p".into(),
        status: "COMPLETE".into(),
        started_at: 5,
        results: "[]".into(),
    };
    assert!(!store.put_lifecycle_preview(&repo, &preview).await.unwrap());
    assert_eq!(store.lifecycle_preview(&repo).await.unwrap(), None);

    assert!(store
        .create_repository(&repo, &RepositorySettings::default(), &[], 1)
        .await
        .unwrap());
    assert_eq!(store.lifecycle_policy(&repo).await.unwrap(), Some(None));
    assert_eq!(
        store
            .set_lifecycle_policy(&repo, Some("one"))
            .await
            .unwrap(),
        Some(None)
    );
    let one = LifecyclePolicyRecord {
        text: "one".into(),
        evaluated_at: None,
    };
    assert_eq!(
        store
            .set_lifecycle_policy(&repo, Some("two"))
            .await
            .unwrap(),
        Some(Some(one))
    );
    assert_eq!(
        store.lifecycle_policy(&repo).await.unwrap(),
        Some(Some(LifecyclePolicyRecord {
            text: "two".into(),
            evaluated_at: None
        }))
    );
    assert!(store.put_lifecycle_preview(&repo, &preview).await.unwrap());
    let second = LifecyclePreviewRecord {
        started_at: 6,
        results: "[1]".into(),
        ..preview
    };
    assert!(store.put_lifecycle_preview(&repo, &second).await.unwrap());
    assert_eq!(store.lifecycle_preview(&repo).await.unwrap(), Some(second));
    assert_eq!(
        store
            .set_lifecycle_policy(&repo, None)
            .await
            .unwrap()
            .flatten()
            .map(|p| p.text),
        Some("two".into())
    );
    assert_eq!(store.lifecycle_policy(&repo).await.unwrap(), Some(None));

    // Deleting the repository takes its policy and preview; a new one starts clean.
    store
        .set_lifecycle_policy(&repo, Some("three"))
        .await
        .unwrap();
    assert_eq!(
        store.delete_repository(&repo, false).await.unwrap(),
        DeleteRepositoryOutcome::Deleted
    );
    assert!(store
        .create_repository(&repo, &RepositorySettings::default(), &[], 2)
        .await
        .unwrap());
    assert_eq!(store.lifecycle_policy(&repo).await.unwrap(), Some(None));
    assert_eq!(store.lifecycle_preview(&repo).await.unwrap(), None);
    store.delete_repository(&repo, false).await.unwrap();
}
