"""Content management: deleting tags, manifests and blobs."""
import pytest

from ocihelp import (
    OCI_INDEX, OCI_MANIFEST, assert_error, assert_status, descriptor, index_manifest,
    push_artifact, push_blob, push_image, push_manifest, random_bytes, sha256,
)


# --- tags --------------------------------------------------------------------------

def test_delete_tag(client, repo):
    """DELETE /manifests/<tag>: 202 and the tag is gone (the spec lets a registry refuse tag
    deletion with 400/405, but the official conformance workflow checks 202, and Berth
    supports it).  Deleting a tag never deletes the manifest it pointed to."""
    img = push_image(client, repo, "gone")
    push_manifest(client, repo, "stays", img["manifest"])
    assert_status(client.delete(f"/v2/{repo}/manifests/gone"), 202)
    assert_error(client.get(f"/v2/{repo}/manifests/gone"), 404, "MANIFEST_UNKNOWN")
    assert_status(client.get(f"/v2/{repo}/manifests/stays"), 200)
    g = client.get(f"/v2/{repo}/manifests/{img['digest']}")
    assert_status(g, 200)
    assert g.content == img["manifest"]
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["stays"]


@pytest.mark.berth
def test_delete_tag_berth(client, repo):
    img = push_image(client, repo, "only")
    assert_status(client.delete(f"/v2/{repo}/manifests/only"), 202)
    assert_status(client.get(f"/v2/{repo}/manifests/{img['digest']}"), 200)
    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": []}


def test_delete_unknown_tag(client, repo):
    """A registry that deletes tags (see test_delete_tag) answers 404 MANIFEST_UNKNOWN for a
    tag that does not exist, and changes nothing."""
    img = push_image(client, repo, "v1")
    assert_error(client.delete(f"/v2/{repo}/manifests/nosuchtag"), 404, "MANIFEST_UNKNOWN")
    assert client.get(f"/v2/{repo}/manifests/v1").content == img["manifest"]
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]


# --- manifests ---------------------------------------------------------------------

def test_delete_manifest_by_digest(client, repo):
    img = push_image(client, repo, "a")
    push_manifest(client, repo, "b", img["manifest"])
    other = push_image(client, repo, "c")
    r = client.delete(f"/v2/{repo}/manifests/{img['digest']}")
    assert_status(r, 202)
    assert_error(client.get(f"/v2/{repo}/manifests/{img['digest']}"), 404, "MANIFEST_UNKNOWN")
    assert_status(client.head(f"/v2/{repo}/manifests/{img['digest']}"), 404)
    for t in ("a", "b"):
        assert_error(client.get(f"/v2/{repo}/manifests/{t}"), 404, "MANIFEST_UNKNOWN")
    assert client.get(f"/v2/{repo}/manifests/c").content == other["manifest"]
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["c"]


def test_delete_manifest_twice(client, repo):
    img = push_image(client, repo, "a")
    assert_status(client.delete(f"/v2/{repo}/manifests/{img['digest']}"), 202)
    assert_error(client.delete(f"/v2/{repo}/manifests/{img['digest']}"), 404, "MANIFEST_UNKNOWN")


def test_delete_unknown_manifest(client, repo):
    push_image(client, repo, "v1")
    r = client.delete(f"/v2/{repo}/manifests/{sha256(b'nope')}")
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_repush_after_delete(client, repo):
    img = push_image(client, repo, "a")
    assert_status(client.delete(f"/v2/{repo}/manifests/{img['digest']}"), 202)
    push_manifest(client, repo, "a", img["manifest"])
    assert client.get(f"/v2/{repo}/manifests/a").content == img["manifest"]


def test_delete_manifest_removes_referrer(client, repo):
    """Once a referrer manifest is deleted it SHOULD no longer be listed."""
    subj = push_image(client, repo, "v1")
    art = push_artifact(client, repo, artifact_type="application/vnd.example.sig",
                        subject=descriptor(OCI_MANIFEST, subj["manifest"]))
    r = client.get(f"/v2/{repo}/referrers/{subj['digest']}")
    assert [m["digest"] for m in r.json()["manifests"]] == [art["digest"]]
    assert_status(client.delete(f"/v2/{repo}/manifests/{art['digest']}"), 202)
    r = client.get(f"/v2/{repo}/referrers/{subj['digest']}")
    assert_status(r, 200)
    assert r.json()["manifests"] == []


def test_delete_subject_keeps_referrers_listable(client, repo):
    """Deleting the subject deletes only the subject: the referrer is still in the repository,
    so it is still listed (as it is before its subject is pushed, see
    test_content_discovery.py::test_referrers_subject_pushed_after_referrer)."""
    subj = push_image(client, repo, "v1")
    art = push_artifact(client, repo, artifact_type="application/vnd.example.sig",
                        subject=descriptor(OCI_MANIFEST, subj["manifest"]))
    assert_status(client.delete(f"/v2/{repo}/manifests/{subj['digest']}"), 202)
    assert_status(client.get(f"/v2/{repo}/manifests/{subj['digest']}"), 404)
    r = client.get(f"/v2/{repo}/referrers/{subj['digest']}")
    assert_status(r, 200)
    assert r.json()["manifests"] == [{"mediaType": OCI_MANIFEST, "digest": art["digest"],
                                      "size": art["size"],
                                      "artifactType": "application/vnd.example.sig"}]
    assert client.get(f"/v2/{repo}/manifests/{art['digest']}").content == art["manifest"]


@pytest.mark.berth
def test_delete_index_child_denied(client, repo):
    a = push_image(client, repo)
    b = push_image(client, repo)
    body = index_manifest([a["manifest"], b["manifest"]])
    push_manifest(client, repo, "idx", body, OCI_INDEX)
    assert_error(client.delete(f"/v2/{repo}/manifests/{a['digest']}"), 409, "DENIED")
    assert_status(client.get(f"/v2/{repo}/manifests/{a['digest']}"), 200)
    # after deleting the index, the child can be deleted
    assert_status(client.delete(f"/v2/{repo}/manifests/{sha256(body)}"), 202)
    assert_status(client.delete(f"/v2/{repo}/manifests/{a['digest']}"), 202)


# --- blobs -------------------------------------------------------------------------

def test_delete_blob(client, repo):
    data = random_bytes(200)
    d = push_blob(client, repo, data)
    r = client.delete(f"/v2/{repo}/blobs/{d}")
    assert_status(r, 202)
    assert_error(client.get(f"/v2/{repo}/blobs/{d}"), 404, "BLOB_UNKNOWN")
    assert_status(client.head(f"/v2/{repo}/blobs/{d}"), 404)


def test_delete_unknown_blob(client, repo):
    push_blob(client, repo, b"seed")
    assert_error(client.delete(f"/v2/{repo}/blobs/{sha256(b'absent')}"), 404, "BLOB_UNKNOWN")


def test_delete_blob_only_affects_its_repository(client, repo, repo2):
    data = random_bytes(200)
    d = push_blob(client, repo, data)
    push_blob(client, repo2, data)
    assert_status(client.delete(f"/v2/{repo}/blobs/{d}"), 202)
    assert_status(client.get(f"/v2/{repo}/blobs/{d}"), 404)
    g = client.get(f"/v2/{repo2}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data


def test_delete_mounted_blob_keeps_source(client, repo, repo2):
    data = random_bytes(200)
    d = push_blob(client, repo, data)
    assert_status(client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": d, "from": repo}), 201)
    assert_status(client.delete(f"/v2/{repo2}/blobs/{d}"), 202)
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


def test_reupload_after_blob_delete(client, repo):
    data = random_bytes(200)
    d = push_blob(client, repo, data)
    assert_status(client.delete(f"/v2/{repo}/blobs/{d}"), 202)
    push_blob(client, repo, data)
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


@pytest.mark.berth
def test_delete_referenced_blob_denied(client, repo):
    img = push_image(client, repo, "v1")
    for blob in [img["config"]] + img["layers"]:
        assert_error(client.delete(f"/v2/{repo}/blobs/{sha256(blob)}"), 409, "DENIED")
        assert_status(client.get(f"/v2/{repo}/blobs/{sha256(blob)}"), 200)
    assert_status(client.delete(f"/v2/{repo}/manifests/{img['digest']}"), 202)
    assert_status(client.delete(f"/v2/{repo}/blobs/{sha256(img['config'])}"), 202)


def test_full_delete_workflow(client, repo):
    """The spec's content-management workflow: delete tag, manifest, then blobs."""
    img = push_image(client, repo, "t")
    assert_status(client.delete(f"/v2/{repo}/manifests/{img['digest']}"), 202)
    for blob in [img["config"]] + img["layers"]:
        assert_status(client.delete(f"/v2/{repo}/blobs/{sha256(blob)}"), 202)
        assert_status(client.head(f"/v2/{repo}/blobs/{sha256(blob)}"), 404)
