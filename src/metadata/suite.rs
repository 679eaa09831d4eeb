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
    store.link_blob(&repo, &d(1), 1, 1).await.unwrap();
    store.link_blob(&repo, &d(1), 1, 2).await.unwrap();
    store.link_blob(&repo, &d(2), 1, 1).await.unwrap();
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
        .put_manifest(NewManifest {
            repository: &other,
            digest: &md,
            manifest: &m,
            content: &bytes,
            tags: &tags,
            now: 3,
        })
        .await;
    assert!(matches!(r, Err(PutManifestError::BlobUnknown(x)) if x == d(1)));
    assert!(!store.repository_exists(&other).await.unwrap());

    let bytes = image_manifest(&d(1), &d(2), None);
    let m = manifest::parse(Some(manifest::OCI_MANIFEST), &bytes).unwrap();
    let md = Algorithm::Sha256.digest(&bytes);
    store
        .put_manifest(NewManifest {
            repository: &repo,
            digest: &md,
            manifest: &m,
            content: &bytes,
            tags: &tags,
            now: 3,
        })
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
        .put_manifest(NewManifest {
            repository: &other,
            digest: &id,
            manifest: &im,
            content: &idx,
            tags: &[],
            now: 4,
        })
        .await;
    assert!(matches!(r, Err(PutManifestError::ManifestUnknown(_))));
    store
        .put_manifest(NewManifest {
            repository: &repo,
            digest: &id,
            manifest: &im,
            content: &idx,
            tags: &[],
            now: 4,
        })
        .await
        .unwrap();
    assert!(
        matches!(store.delete_manifest(&repo, &md).await.unwrap(), DeleteOutcome::Referenced(p) if p == id.to_string())
    );

    // Referrers.
    let rbytes = image_manifest(&d(1), &d(2), Some(&md));
    let rm = manifest::parse(None, &rbytes).unwrap();
    let rd = Algorithm::Sha256.digest(&rbytes);
    store
        .put_manifest(NewManifest {
            repository: &repo,
            digest: &rd,
            manifest: &rm,
            content: &rbytes,
            tags: &[],
            now: 5,
        })
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
        .put_manifest(NewManifest {
            repository: &repo,
            digest: &rd,
            manifest: &rm,
            content: &rbytes,
            tags: &more,
            now: 6,
        })
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
    store.link_blob(&other, &d(2), 1, 7).await.unwrap();
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
            .complete_upload("u2", &other, &d(9), 1, "loc-a", 30)
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
        .complete_upload("u3", &repo, &d(9), 1, "loc-b", 31)
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
}
