"""Push workflow: blob uploads (monolithic, streamed, chunked), upload sessions, mounts,
sha512, manifest PUT (tags, digests, ?tag=, subject, validation, size limit)."""
import json
import re
import uuid
from urllib.parse import urlsplit

import pytest

from ocihelp import (
    DOCKER_LIST, DOCKER_MANIFEST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, EMPTY_JSON,
    OCI_INDEX, OCI_MANIFEST, assert_error, assert_status, blob_exists, canonical, config_bytes,
    descriptor, image_manifest, index_manifest, parse_range, push_artifact, push_blob,
    push_blob_chunked, push_blob_post, push_image, put_manifest, random_bytes,
    sha256, sha512, start_upload, with_query,
)

OCTET = {"Content-Type": "application/octet-stream"}
UPLOAD_PATH = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/?]+)")


def _path(client, r):
    return urlsplit(client.location(r)).path


# --- upload session ---------------------------------------------------------------

def test_post_starts_upload_session(client, repo):
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert_status(r, 202)
    assert r.headers.get("Location")
    m = UPLOAD_PATH.match(_path(client, r))
    assert m and m.group("name") == repo, r.headers["Location"]


@pytest.mark.berth
def test_post_upload_session_headers(client, repo):
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert_status(r, 202)
    m = UPLOAD_PATH.match(_path(client, r))
    assert m
    assert r.headers.get("Range") == "0-0"
    assert r.headers.get("Docker-Upload-UUID") == m.group("id")
    assert re.fullmatch(r"\d+", r.headers.get("OCI-Chunk-Min-Length", "")), r.headers


def test_monolithic_post_with_digest(client, repo):
    """POST ?digest= with the whole blob in the body -> 201 Created."""
    data = random_bytes(4000)
    d, r = push_blob_post(client, repo, data)
    assert_status(r, 201)
    assert client.location(r).endswith(f"/v2/{repo}/blobs/{d}")
    g = client.get(f"/v2/{repo}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data


def test_monolithic_post_then_put(client, repo):
    data = random_bytes(4000)
    d = sha256(data)
    loc = start_upload(client, repo)
    r = client.put(with_query(loc, digest=d), data=data, headers=OCTET)
    assert_status(r, 201)
    assert client.location(r).endswith(f"/v2/{repo}/blobs/{d}")
    assert r.headers.get("Docker-Content-Digest") == d
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


def test_streamed_patch_then_put(client, repo):
    """PATCH without Content-Range (streamed), then PUT ?digest= without a body."""
    data = random_bytes(10000)
    d = sha256(data)
    loc = start_upload(client, repo)
    r = client.patch(loc, data=data, headers=OCTET)
    assert_status(r, 202)
    assert client.location(r)
    assert parse_range(r.headers.get("Range")) == (0, len(data) - 1)
    r = client.put(with_query(client.location(r), digest=d))
    assert_status(r, 201)
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


def test_chunked_upload_final_chunk_in_put(client, repo):
    data = random_bytes(5500)
    d = push_blob_chunked(client, repo, data, chunk=1024, final_in_put=True)
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


def test_chunked_upload_without_final_chunk(client, repo):
    data = random_bytes(5500)
    d = push_blob_chunked(client, repo, data, chunk=1024, final_in_put=False)
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


@pytest.mark.berth
def test_patch_response_headers(client, repo):
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"x" * 10, headers=dict(OCTET, **{"Content-Range": "0-9"}))
    assert_status(r, 202)
    assert UPLOAD_PATH.match(_path(client, r))
    assert r.headers.get("Range") == "0-9"
    assert r.headers.get("Docker-Upload-UUID")


def test_out_of_order_chunk_416(client, repo):
    """A chunk whose start is not the current size -> 416 with Range of what was received."""
    data = random_bytes(3000)
    loc = start_upload(client, repo)
    r = client.patch(loc, data=data[:1000], headers=dict(OCTET, **{"Content-Range": "0-999"}))
    assert_status(r, 202)
    loc = client.location(r)
    r = client.patch(loc, data=data[2000:], headers=dict(OCTET, **{"Content-Range": "2000-2999"}))
    assert_status(r, 416)
    if r.content:
        assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert parse_range(r.headers.get("Range")) == (0, 999)
    assert UPLOAD_PATH.match(_path(client, r))
    # the session is still usable: continue from the right offset
    r = client.patch(client.location(r), data=data[1000:],
                     headers=dict(OCTET, **{"Content-Range": "1000-2999"}))
    assert_status(r, 202)
    r = client.put(with_query(client.location(r), digest=sha256(data)))
    assert_status(r, 201)
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_first_chunk_not_at_zero_416(client, repo):
    """The spec conformance workflow: first PATCH carries the second chunk -> 416."""
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"b" * 100, headers=dict(OCTET, **{"Content-Range": "100-199"}))
    assert_status(r, 416)
    if r.content:
        assert_error(r, 416, "BLOB_UPLOAD_INVALID")


def test_repeated_chunk_416(client, repo):
    data = random_bytes(2000)
    loc = start_upload(client, repo)
    r = client.patch(loc, data=data[:1000], headers=dict(OCTET, **{"Content-Range": "0-999"}))
    assert_status(r, 202)
    loc = client.location(r)
    r = client.patch(loc, data=data[:1000], headers=dict(OCTET, **{"Content-Range": "0-999"}))
    assert_status(r, 416)
    if r.content:
        assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert parse_range(r.headers.get("Range")) == (0, 999)


def test_upload_status(client, repo):
    """GET on the upload URL -> 204 with Range (bytes received) and Location."""
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"z" * 1234, headers=dict(OCTET, **{"Content-Range": "0-1233"}))
    assert_status(r, 202)
    loc = client.location(r)
    s = client.get(loc)
    assert_status(s, 204)
    assert parse_range(s.headers.get("Range")) == (0, 1233)
    assert UPLOAD_PATH.match(_path(client, s))
    assert s.content == b""


@pytest.mark.berth
def test_upload_status_fresh_session(client, repo):
    loc = start_upload(client, repo)
    s = client.get(loc)
    assert_status(s, 204)
    assert s.headers.get("Range") == "0-0"
    assert s.headers.get("Location")


def test_cancel_upload(client, repo):
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"abc", headers=OCTET)
    assert_status(r, 202)
    loc = client.location(r)
    d = client.delete(loc)
    assert_status(d, 204)
    assert_error(client.get(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(loc, data=b"def", headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.put(with_query(loc, digest=sha256(b"abc"))), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.delete(loc), 404, "BLOB_UPLOAD_UNKNOWN")


def test_finished_upload_is_stale(client, repo):
    """After the PUT that completes an upload, its URL answers 404 BLOB_UPLOAD_UNKNOWN."""
    data = random_bytes(100)
    d = sha256(data)
    loc = start_upload(client, repo)
    assert_status(client.put(with_query(loc, digest=d), data=data, headers=OCTET), 201)
    assert_error(client.get(loc), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(loc, data=b"more", headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.put(with_query(loc, digest=d), data=data, headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")


def test_unknown_upload_id(client, repo):
    push_blob(client, repo, b"x")
    base = f"/v2/{repo}/blobs/uploads/{uuid.uuid4()}"
    assert_error(client.get(base), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.patch(base, data=b"x", headers=OCTET), 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.put(base, params={"digest": sha256(b"x")}, data=b"x", headers=OCTET),
                 404, "BLOB_UPLOAD_UNKNOWN")
    assert_error(client.delete(base), 404, "BLOB_UPLOAD_UNKNOWN")


def test_upload_in_other_repository_unknown(client, repo, repo2):
    """An upload session belongs to its repository."""
    loc = start_upload(client, repo)
    m = UPLOAD_PATH.match(urlsplit(loc).path)
    other = f"/v2/{repo2}/blobs/uploads/{m.group('id')}"
    assert_error(client.get(other), 404, "BLOB_UPLOAD_UNKNOWN")


def test_put_wrong_digest(client, repo):
    data = random_bytes(500)
    wrong = sha256(b"something else")
    loc = start_upload(client, repo)
    r = client.put(with_query(loc, digest=wrong), data=data, headers=OCTET)
    assert_error(r, 400, "DIGEST_INVALID")
    assert not blob_exists(client, repo, wrong)
    assert not blob_exists(client, repo, sha256(data))


def test_put_without_digest(client, repo):
    loc = start_upload(client, repo)
    r = client.put(loc, data=b"hello", headers=OCTET)
    assert_error(r, 400, "DIGEST_INVALID")


def test_put_malformed_digest(client, repo):
    loc = start_upload(client, repo)
    r = client.put(with_query(loc, digest="sha256:nothex"), data=b"hello", headers=OCTET)
    assert_error(r, 400, "DIGEST_INVALID")


def test_monolithic_post_wrong_digest(client, repo):
    """POST ?digest= whose body does not match: 400 DIGEST_INVALID, or (a registry without
    single-POST support) a 202 upload session; either way no blob appears."""
    data = random_bytes(100)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(b"other")}, data=data,
                    headers=OCTET)
    if r.status_code != 202:
        assert_error(r, 400, "DIGEST_INVALID")
    assert not blob_exists(client, repo, sha256(b"other"))
    assert not blob_exists(client, repo, sha256(data))


@pytest.mark.berth
def test_monolithic_post_wrong_digest_rejected(client, repo):
    data = random_bytes(100)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": sha256(b"other")}, data=data,
                    headers=OCTET)
    assert_error(r, 400, "DIGEST_INVALID")


def test_push_same_blob_twice(client, repo):
    data = random_bytes(100)
    assert push_blob(client, repo, data) == push_blob(client, repo, data)
    assert client.get(f"/v2/{repo}/blobs/{sha256(data)}").content == data


def test_large_blob_chunked(client, repo):
    data = random_bytes(3 * 1024 * 1024 + 17)
    d = push_blob_chunked(client, repo, data, chunk=1024 * 1024)
    r = client.head(f"/v2/{repo}/blobs/{d}")
    assert_status(r, 200)
    assert int(r.headers["Content-Length"]) == len(data)
    assert sha256(client.get(f"/v2/{repo}/blobs/{d}").content) == d


# --- sha512 ---------------------------------------------------------------------

def test_sha512_monolithic_post(client, repo):
    """POST ?digest=sha512:... (falling back to PUT if the registry answers 202)."""
    data = random_bytes(1500)
    d, r = push_blob_post(client, repo, data, algorithm="sha512")
    if r.status_code == 202:
        r = client.put(with_query(client.location(r), digest=d), data=data, headers=OCTET)
    assert_status(r, 201)
    # Location may name the blob by another digest of the same content; it must serve it
    assert client.get(client.location(r)).content == data
    g = client.get(f"/v2/{repo}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data
    assert sha512(g.content) == d


@pytest.mark.berth
def test_sha512_monolithic_post_201(client, repo):
    data = random_bytes(1500)
    d, r = push_blob_post(client, repo, data, algorithm="sha512")
    assert_status(r, 201)
    assert r.headers.get("Docker-Content-Digest") == d
    g = client.get(f"/v2/{repo}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data
    assert g.headers.get("Docker-Content-Digest") == d  # Berth keeps the requested domain


def test_sha512_put(client, repo):
    """POST then PUT ?digest=sha512:..."""
    data = random_bytes(1500)
    d = sha512(data)
    loc = start_upload(client, repo)
    r = client.put(with_query(loc, digest=d), data=data, headers=OCTET)
    assert_status(r, 201)
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


@pytest.mark.berth
def test_sha512_digest_algorithm_param(client, repo):
    data = random_bytes(1500)
    d = push_blob(client, repo, data, algorithm="sha512")
    assert d.startswith("sha512:")
    r = client.head(f"/v2/{repo}/blobs/{d}")
    assert_status(r, 200)
    assert r.headers.get("Docker-Content-Digest") == d
    assert client.get(f"/v2/{repo}/blobs/{d}").content == data


# --- cross-repository mount -------------------------------------------------------

def test_mount_blob_201(client, repo, repo2):
    data = random_bytes(321)
    d = push_blob(client, repo, data)
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": d, "from": repo})
    assert_status(r, 201)
    assert client.location(r).endswith(f"/v2/{repo2}/blobs/{d}")
    assert r.headers.get("Docker-Content-Digest") == d
    g = client.get(f"/v2/{repo2}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data


def test_mount_unknown_blob_falls_back_to_upload(client, repo, repo2):
    push_blob(client, repo, b"seed")
    data = random_bytes(321)
    d = sha256(data)
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": d, "from": repo})
    assert_status(r, 202)
    loc = client.location(r)
    assert UPLOAD_PATH.match(_path(client, r))
    # the session is a normal upload session
    r = client.put(with_query(loc, digest=d), data=data, headers=OCTET)
    assert_status(r, 201)
    assert client.get(f"/v2/{repo2}/blobs/{d}").content == data


def test_mount_from_unknown_repository_falls_back(client, repo, repo2):
    d = push_blob(client, repo, random_bytes(50))
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": d, "from": repo + "-nope"})
    assert_status(r, 202)
    assert UPLOAD_PATH.match(_path(client, r))


@pytest.mark.berth
def test_mount_without_from(client, repo, repo2):
    """Without `from` the registry may mount from any repository the caller can read (Berth
    does; tests/auth/test_create_on_push.py: not from repositories the caller cannot read)."""
    data = random_bytes(50)
    d = push_blob(client, repo, data)
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": d})
    assert_status(r, 201)
    assert client.location(r).endswith(f"/v2/{repo2}/blobs/{d}")
    assert r.headers.get("Docker-Content-Digest") == d
    g = client.get(f"/v2/{repo2}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data


def test_mount_without_from_of_an_unknown_blob_falls_back(client, repo, repo2):
    push_blob(client, repo, b"seed")
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": sha256(random_bytes(50))})
    assert_status(r, 202)
    assert UPLOAD_PATH.match(_path(client, r))


# --- manifests ---------------------------------------------------------------------

def test_put_manifest_by_tag(client, repo):
    cfg, layer = config_bytes(), random_bytes(100)
    push_blob(client, repo, cfg)
    push_blob(client, repo, layer)
    body = image_manifest(cfg, [layer])
    r = put_manifest(client, repo, "v1", body)
    assert_status(r, 201)
    assert client.location(r).endswith(f"/v2/{repo}/manifests/{sha256(body)}")
    assert r.headers.get("Docker-Content-Digest") == sha256(body)


def test_put_manifest_by_digest(client, repo):
    cfg, layer = config_bytes(), random_bytes(100)
    push_blob(client, repo, cfg)
    push_blob(client, repo, layer)
    body = image_manifest(cfg, [layer])
    r = put_manifest(client, repo, sha256(body), body)
    assert_status(r, 201)
    assert r.headers.get("Docker-Content-Digest") == sha256(body)
    assert client.get(f"/v2/{repo}/manifests/{sha256(body)}").content == body


def test_put_manifest_by_wrong_digest(client, repo):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    body = image_manifest(cfg, [])
    wrong = sha256(body + b" ")
    r = put_manifest(client, repo, wrong, body)
    assert_error(r, 400, "DIGEST_INVALID")
    assert_status(client.get(f"/v2/{repo}/manifests/{wrong}"), 404)


def test_put_manifest_multiple_tags_query(client, repo):
    """PUT by digest with ?tag=a&tag=b tags the manifest with both (OCI 1.1)."""
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    body = image_manifest(cfg, [])
    d = sha256(body)
    r = client.put(f"/v2/{repo}/manifests/{d}?tag=alpha&tag=beta", data=body,
                   headers={"Content-Type": OCI_MANIFEST})
    assert_status(r, 201)
    assert r.headers.get("Docker-Content-Digest") == d
    for t in ("alpha", "beta"):
        g = client.get(f"/v2/{repo}/manifests/{t}")
        assert_status(g, 200)
        assert g.content == body
    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["alpha", "beta"]}


def test_retag_moves_tag(client, repo):
    a = push_image(client, repo, "moving")
    b = push_image(client, repo, "moving")
    g = client.get(f"/v2/{repo}/manifests/moving")
    assert g.headers.get("Docker-Content-Digest") == b["digest"]
    assert_status(client.get(f"/v2/{repo}/manifests/{a['digest']}"), 200)


def test_put_same_manifest_twice(client, repo):
    img = push_image(client, repo, "v1")
    r = put_manifest(client, repo, "v1", img["manifest"])
    assert_status(r, 201)
    assert r.headers.get("Docker-Content-Digest") == img["digest"]


def test_manifest_missing_config_blob(client, repo):
    layer = random_bytes(100)
    push_blob(client, repo, layer)
    body = image_manifest(config_bytes(), [layer])
    assert_error(put_manifest(client, repo, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_status(client.get(f"/v2/{repo}/manifests/v1"), 404)


def test_manifest_missing_layer_blob(client, repo):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    body = image_manifest(cfg, [random_bytes(100)])
    assert_error(put_manifest(client, repo, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")


def test_manifest_blob_in_other_repository_is_unknown(client, repo, repo2):
    """Blobs must be in the manifest's own repository."""
    cfg, layer = config_bytes(), random_bytes(100)
    push_blob(client, repo, cfg)
    push_blob(client, repo, layer)
    push_blob(client, repo2, cfg)
    body = image_manifest(cfg, [layer])
    assert_error(put_manifest(client, repo2, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")


def test_index_missing_child(client, repo):
    a = push_image(client, repo)
    cfg = config_bytes()
    missing = image_manifest(cfg, [])
    body = index_manifest([a["manifest"], missing])
    assert_error(put_manifest(client, repo, "idx", body, OCI_INDEX), 400, "MANIFEST_BLOB_UNKNOWN")


def test_docker_list_missing_child(client, repo):
    missing = image_manifest(config_bytes(), [], media_type=DOCKER_MANIFEST)
    body = index_manifest([missing], media_type=DOCKER_LIST, child_type=DOCKER_MANIFEST)
    assert_error(put_manifest(client, repo, "idx", body, DOCKER_LIST), 400, "MANIFEST_BLOB_UNKNOWN")


def test_manifest_invalid_json(client, repo):
    push_blob(client, repo, b"x")
    r = put_manifest(client, repo, "v1", b'{"schemaVersion": 2, "mediaType": ')
    assert_error(r, 400, "MANIFEST_INVALID")


def test_manifest_empty_body(client, repo):
    push_blob(client, repo, b"x")
    assert_error(put_manifest(client, repo, "v1", b""), 400, "MANIFEST_INVALID")


def test_manifest_wrong_schema_version(client, repo):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    body = json.loads(image_manifest(cfg, []))
    body["schemaVersion"] = 3
    assert_error(put_manifest(client, repo, "v1", canonical(body)), 400, "MANIFEST_INVALID")


@pytest.mark.berth
def test_manifest_media_type_mismatch(client, repo):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    body = image_manifest(cfg, [])  # body says OCI manifest
    assert_error(put_manifest(client, repo, "v1", body, DOCKER_MANIFEST), 400, "MANIFEST_INVALID")


@pytest.mark.berth
@pytest.mark.parametrize("ctype", [DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, "application/x-unknown+json"])
def test_manifest_unsupported_media_types(client, repo, ctype):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    if ctype.startswith("application/vnd.docker.distribution.manifest.v1"):
        body = canonical({"schemaVersion": 1, "name": repo, "tag": "v1", "architecture": "amd64",
                          "fsLayers": [], "history": []})
    else:
        body = canonical({"schemaVersion": 2, "mediaType": ctype})
    assert_error(put_manifest(client, repo, "v1", body, ctype), 400, "MANIFEST_INVALID")


def test_oci_artifact_with_empty_config(client, repo):
    art = push_artifact(client, repo, artifact_type="application/vnd.example.thing", ref="art")
    g = client.get(f"/v2/{repo}/manifests/art", headers={"Accept": OCI_MANIFEST})
    assert_status(g, 200)
    assert g.content == art["manifest"]
    assert client.get(f"/v2/{repo}/blobs/{sha256(EMPTY_JSON)}").content == EMPTY_JSON


def test_oci_subject_header(client, repo):
    """PUT of a manifest with a subject -> OCI-Subject: <subject digest> (OCI 1.1)."""
    subj = push_image(client, repo, "v1")
    art = push_artifact(client, repo, artifact_type="application/vnd.example.sig",
                        subject=descriptor(OCI_MANIFEST, subj["manifest"]))
    assert art["response"].headers.get("OCI-Subject") == subj["digest"]


def test_subject_may_be_missing(client, repo):
    """A manifest whose subject does not exist (yet) is accepted."""
    ghost = image_manifest(config_bytes(), [])
    art = push_artifact(client, repo, artifact_type="application/vnd.example.sig",
                        subject=descriptor(OCI_MANIFEST, ghost))
    assert_status(art["response"], 201)


def test_manifest_just_under_4mib_accepted(client, repo):
    """Registries SHOULD accept manifests of up to 4 MiB."""
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    base = image_manifest(cfg, [], annotations={"pad": ""})
    pad = 4 * 1024 * 1024 - len(base)
    body = image_manifest(cfg, [], annotations={"pad": "p" * pad})
    assert len(body) == 4 * 1024 * 1024
    r = put_manifest(client, repo, "big", body)
    assert_status(r, 201)
    assert client.get(f"/v2/{repo}/manifests/big").content == body


@pytest.mark.berth
def test_manifest_over_4mib_rejected(client, repo):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    base = image_manifest(cfg, [], annotations={"pad": ""})
    pad = 4 * 1024 * 1024 + 1 - len(base)
    body = image_manifest(cfg, [], annotations={"pad": "p" * pad})
    assert len(body) == 4 * 1024 * 1024 + 1
    assert_error(put_manifest(client, repo, "big", body), 413, "SIZE_INVALID")
    assert_status(client.get(f"/v2/{repo}/manifests/big"), 404)


# --- repository names ------------------------------------------------------------

@pytest.mark.parametrize("suffix", ["a", "a/b", "a/b/c/d/e/f/g/h/i/j", "x.y_z__w---v/0/9"])
def test_repository_name_depths(client, suffix):
    name = f"conf/names-{uuid.uuid4().hex[:8]}/{suffix}"
    img = push_image(client, name, "t")
    assert client.get(f"/v2/{name}/manifests/t").content == img["manifest"]
    assert client.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": ["t"]}


@pytest.mark.berth
@pytest.mark.parametrize("suffix", ["a/manifests/b", "blobs/uploads", "tags/list", "manifests", "referrers/x"])
def test_repository_names_with_route_words(client, suffix):
    name = f"conf/route-{uuid.uuid4().hex[:8]}/{suffix}"
    img = push_image(client, name, "t")
    assert client.get(f"/v2/{name}/manifests/t").content == img["manifest"]
    assert client.get(f"/v2/{name}/tags/list").json() == {"name": name, "tags": ["t"]}
    cfg = sha256(img["config"])
    assert client.get(f"/v2/{name}/blobs/{cfg}").content == img["config"]


@pytest.mark.berth
def test_repository_name_256_chars(client):
    prefix = f"conf/len-{uuid.uuid4().hex[:8]}/"
    name = prefix + "a" * (256 - len(prefix))
    assert len(name) == 256
    img = push_image(client, name, "t")
    assert client.get(f"/v2/{name}/manifests/t").content == img["manifest"]
