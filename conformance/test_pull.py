"""Pull workflow: API version check, manifest and blob GET/HEAD, Range requests,
content negotiation, byte-exact manifest round trip."""
import json

import pytest

from ocihelp import (
    DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, assert_error, assert_error_body,
    assert_status, config_bytes, descriptor, index_manifest, push_blob, push_image,
    push_manifest, random_bytes, sha256, sha512,
)


# --- API version check ------------------------------------------------------

def test_base_endpoint_200(client):
    """GET /v2/ -> 200; Docker-Distribution-API-Version SHOULD be registry/2.0."""
    r = client.get("/v2/")
    assert_status(r, 200)
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0"


@pytest.mark.berth
def test_base_endpoint_without_trailing_slash(client):
    """Berth answers `/v2` exactly as `/v2/` (the specification names only `/v2/`)."""
    r = client.get("/v2")
    assert_status(r, 200)
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    assert r.json() == {}


@pytest.mark.berth
def test_base_endpoint_body_is_empty_object(client):
    r = client.get("/v2/")
    assert_status(r, 200)
    assert r.json() == {}


@pytest.mark.berth
def test_healthz(client):
    assert_status(client.get("/healthz"), 200)


# --- manifests ----------------------------------------------------------------

def _check_manifest_response(r, img, media_type=OCI_MANIFEST, head=False):
    assert_status(r, 200)
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == media_type
    assert r.headers.get("Docker-Content-Digest") == img["digest"]
    assert int(r.headers.get("Content-Length", -1)) == len(img["manifest"])
    if head:
        assert r.content == b""
    else:
        assert r.content == img["manifest"]
        assert sha256(r.content) == img["digest"]


def test_pull_manifest_by_tag(client, repo):
    img = push_image(client, repo, "latest")
    r = client.get(f"/v2/{repo}/manifests/latest", headers={"Accept": OCI_MANIFEST})
    _check_manifest_response(r, img)


def test_pull_manifest_by_digest(client, repo):
    img = push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/manifests/{img['digest']}", headers={"Accept": OCI_MANIFEST})
    _check_manifest_response(r, img)


def test_head_manifest_by_tag(client, repo):
    img = push_image(client, repo, "v1")
    r = client.head(f"/v2/{repo}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    _check_manifest_response(r, img, head=True)


def test_head_manifest_by_digest(client, repo):
    img = push_image(client, repo, "v1")
    r = client.head(f"/v2/{repo}/manifests/{img['digest']}", headers={"Accept": OCI_MANIFEST})
    _check_manifest_response(r, img, head=True)


@pytest.mark.berth
def test_manifest_served_as_stored_without_accept(client, repo):
    """With no Accept header the manifest is served with its stored media type."""
    img = push_image(client, repo, "v1")
    client.session.headers.pop("Accept", None)
    r = client.get(f"/v2/{repo}/manifests/v1")
    assert "Accept" not in r.request.headers
    _check_manifest_response(r, img)


@pytest.mark.berth
def test_manifest_etag_is_quoted_digest(client, repo):
    img = push_image(client, repo, "v1")
    for ref in ("v1", img["digest"]):
        r = client.get(f"/v2/{repo}/manifests/{ref}")
        assert_status(r, 200)
        assert r.headers.get("ETag") == f'"{img["digest"]}"'


def test_get_unknown_manifest_tag(client, repo):
    push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/manifests/nosuchtag", headers={"Accept": OCI_MANIFEST})
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_get_unknown_manifest_digest(client, repo):
    push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/manifests/{sha256(b'nothing here')}", headers={"Accept": OCI_MANIFEST})
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_head_unknown_manifest(client, repo):
    push_image(client, repo, "v1")
    r = client.head(f"/v2/{repo}/manifests/nosuchtag")
    assert_status(r, 404)
    assert r.content == b""


def test_get_manifest_unknown_repository(client, repo):
    r = client.get(f"/v2/{repo}/manifests/latest")
    assert_error(r, 404, {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"})


@pytest.mark.berth
def test_get_manifest_unknown_repository_berth(client, repo):
    """Berth answers a manifest of an unknown repository as an unknown manifest."""
    assert_error(client.get(f"/v2/{repo}/manifests/latest"), 404, "MANIFEST_UNKNOWN")
    r = client.head(f"/v2/{repo}/manifests/latest")
    assert_status(r, 404)
    assert r.content == b""


# --- content negotiation ----------------------------------------------------------

def test_accept_list_containing_stored_type(client, repo):
    img = push_image(client, repo, "v1")
    accept = ", ".join([DOCKER_MANIFEST, DOCKER_LIST, OCI_INDEX, OCI_MANIFEST])
    r = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": accept})
    _check_manifest_response(r, img)


def test_accept_with_multiple_headers(client, repo):
    """Several Accept header lines are combined (RFC 9110)."""
    img = push_image(client, repo, "v1")
    import http.client
    import urllib.parse
    u = urllib.parse.urlsplit(client.base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("GET", f"/v2/{repo}/manifests/v1")
    conn.putheader("Accept", DOCKER_MANIFEST)
    conn.putheader("Accept", OCI_MANIFEST)
    if client.auth_header():
        conn.putheader("Authorization", client.auth_header())
    conn.endheaders()
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 200, (resp.status, data[:300])
    assert resp.getheader("Content-Type").split(";")[0] == OCI_MANIFEST
    assert data == img["manifest"]


@pytest.mark.berth
def test_accept_wildcard(client, repo):
    img = push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": "*/*"})
    _check_manifest_response(r, img)


def test_docker_schema2_manifest_round_trip(client, repo):
    img = push_image(client, repo, "v1", media_type=DOCKER_MANIFEST)
    r = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    _check_manifest_response(r, img, media_type=DOCKER_MANIFEST)


def test_docker_manifest_list_round_trip(client, repo):
    a = push_image(client, repo, media_type=DOCKER_MANIFEST)
    b = push_image(client, repo, media_type=DOCKER_MANIFEST)
    body = index_manifest([a["manifest"], b["manifest"]], media_type=DOCKER_LIST, child_type=DOCKER_MANIFEST)
    d = push_manifest(client, repo, "multi", body, DOCKER_LIST)
    r = client.get(f"/v2/{repo}/manifests/multi", headers={"Accept": DOCKER_LIST})
    _check_manifest_response(r, {"manifest": body, "digest": d}, media_type=DOCKER_LIST)


def test_oci_index_round_trip(client, repo):
    a = push_image(client, repo)
    b = push_image(client, repo)
    body = index_manifest([a["manifest"], b["manifest"]])
    d = push_manifest(client, repo, "idx", body, OCI_INDEX)
    r = client.get(f"/v2/{repo}/manifests/idx", headers={"Accept": OCI_INDEX})
    _check_manifest_response(r, {"manifest": body, "digest": d}, media_type=OCI_INDEX)
    # children are pullable by digest
    r = client.get(f"/v2/{repo}/manifests/{a['digest']}", headers={"Accept": OCI_MANIFEST})
    _check_manifest_response(r, a)


@pytest.mark.berth
def test_accept_not_matching_stored_type_is_404(client, repo):
    push_image(client, repo, "v1")
    r = client.get(f"/v2/{repo}/manifests/v1", headers={"Accept": DOCKER_LIST})
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_manifest_byte_for_byte_round_trip(client, repo):
    """The registry stores the manifest bytes as given: odd whitespace and key order are kept
    and the digest is the sha256 of those exact bytes."""
    cfg = config_bytes()
    layer = random_bytes(300)
    push_blob(client, repo, cfg)
    push_blob(client, repo, layer)
    cd, ld = descriptor("application/vnd.oci.image.config.v1+json", cfg), descriptor(
        "application/vnd.oci.image.layer.v1.tar", layer)
    body = (
        '{\n\t"layers" :  [ {"size": %d, "digest": "%s",\r\n "mediaType": "%s"} ],\n'
        '   "config":{"size":%d,"mediaType":"%s","digest":"%s"},\n'
        '"mediaType":"%s", "schemaVersion":2 ,"annotations":{"z":"1","a":"\\u00e9"}   }\n\n'
        % (ld["size"], ld["digest"], ld["mediaType"], cd["size"], cd["mediaType"], cd["digest"], OCI_MANIFEST)
    ).encode()
    r = client.put(f"/v2/{repo}/manifests/weird", data=body, headers={"Content-Type": OCI_MANIFEST})
    assert_status(r, 201)
    assert r.headers.get("Docker-Content-Digest") == sha256(body)
    for ref in ("weird", sha256(body)):
        g = client.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert_status(g, 200)
        assert g.content == body
        assert g.headers.get("Docker-Content-Digest") == sha256(body)


# --- blobs -----------------------------------------------------------------------

def test_pull_blob(client, repo):
    data = random_bytes(5000)
    d = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{d}")
    assert_status(r, 200)
    assert r.content == data
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers.get("Docker-Content-Digest") == d


def test_head_blob(client, repo):
    data = random_bytes(777)
    d = push_blob(client, repo, data)
    r = client.head(f"/v2/{repo}/blobs/{d}")
    assert_status(r, 200)
    assert r.content == b""
    assert int(r.headers["Content-Length"]) == len(data)
    assert r.headers.get("Docker-Content-Digest") == d


def test_get_unknown_blob(client, repo):
    push_blob(client, repo, random_bytes(10))
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'missing blob')}")
    assert_error(r, 404, "BLOB_UNKNOWN")


def test_head_unknown_blob(client, repo):
    push_blob(client, repo, random_bytes(10))
    r = client.head(f"/v2/{repo}/blobs/{sha256(b'missing blob')}")
    assert_status(r, 404)
    assert r.content == b""


def test_blob_not_visible_from_other_repository(client, repo, repo2):
    data = random_bytes(100)
    d = push_blob(client, repo, data)
    push_blob(client, repo2, random_bytes(10))
    assert_error(client.get(f"/v2/{repo2}/blobs/{d}"), 404, "BLOB_UNKNOWN")
    assert_status(client.head(f"/v2/{repo2}/blobs/{d}"), 404)


def test_pull_sha512_blob(client, repo):
    data = random_bytes(2048)
    d = sha512(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data,
                    headers={"Content-Type": "application/octet-stream"})
    if r.status_code == 202:  # registry chose not to do monolithic POST; finish with PUT
        r = client.put(client.location(r), params={"digest": d}, data=data,
                       headers={"Content-Type": "application/octet-stream"})
    assert_status(r, 201)
    g = client.get(f"/v2/{repo}/blobs/{d}")
    assert_status(g, 200)
    assert g.content == data
    # the spec lets Docker-Content-Digest be in another digest "domain" (Berth keeps the
    # requested one: test_push.py::test_sha512_monolithic_post_201)
    assert g.headers.get("Docker-Content-Digest") in (None, d, sha256(data))


# --- Range requests ----------------------------------------------------------------

@pytest.mark.berth
def test_blob_accept_ranges_header(client, repo):
    d = push_blob(client, repo, random_bytes(100))
    for m in (client.get, client.head):
        r = m(f"/v2/{repo}/blobs/{d}")
        assert_status(r, 200)
        assert r.headers.get("Accept-Ranges") == "bytes"


@pytest.mark.parametrize("spec,start,end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-199", 100, 199),
    ("bytes=900-", 900, 999),
    ("bytes=-10", 990, 999),
    ("bytes=995-5000", 995, 999),
])
def test_blob_range_get(client, repo, spec, start, end):
    data = random_bytes(1000)
    d = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{d}", headers={"Range": spec})
    assert_status(r, 206)
    assert r.content == data[start:end + 1]
    assert r.headers.get("Content-Range") == f"bytes {start}-{end}/1000"
    assert int(r.headers["Content-Length"]) == end - start + 1


@pytest.mark.parametrize("spec", ["bytes=1000-", "bytes=5000-6000", "bytes=99999999999999999999999-"])
def test_blob_range_unsatisfiable(client, repo, spec):
    """A range that starts at or past the end: 416 with `Content-Range: bytes */<size>`."""
    data = random_bytes(1000)
    d = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{d}", headers={"Range": spec})
    assert_status(r, 416)
    assert r.headers.get("Content-Range") == "bytes */1000"


@pytest.mark.berth
@pytest.mark.parametrize("spec", ["bytes=500-0", "bytes=5000-10", "bytes=1-0"])
def test_blob_range_inverted_416(client, repo, spec):
    """Last byte before the first: 416 with `Content-Range: bytes */<size>`, as distribution
    answers (RFC 9110 would also let a server ignore the header), never the whole blob."""
    data = random_bytes(1000)
    d = push_blob(client, repo, data)
    for m in (client.get, client.head):
        r = m(f"/v2/{repo}/blobs/{d}", headers={"Range": spec})
        assert_status(r, 416)
        assert r.headers.get("Content-Range") == "bytes */1000"
        if m == client.get:
            assert_error_body(r.content)


def test_blob_range_resumable_pull(client, repo):
    """A client can reassemble a blob from consecutive ranges."""
    data = random_bytes(3000)
    d = push_blob(client, repo, data)
    got = b""
    while len(got) < len(data):
        r = client.get(f"/v2/{repo}/blobs/{d}", headers={"Range": f"bytes={len(got)}-{len(got) + 999}"})
        assert_status(r, 206)
        got += r.content
    assert sha256(got) == d


# --- empty blob and artifact config ------------------------------------------------

def test_empty_blob(client, repo):
    d = push_blob(client, repo, b"")
    assert d == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    r = client.get(f"/v2/{repo}/blobs/{d}")
    assert_status(r, 200)
    assert r.content == b""


def test_deep_repository_name(client):
    import uuid
    name = "conf/deep-" + uuid.uuid4().hex[:8] + "/a/b/c/d/e/f/g"
    img = push_image(client, name, "latest")
    r = client.get(f"/v2/{name}/manifests/latest")
    _check_manifest_response(r, img)
    r = client.get(f"/v2/{name}/blobs/{sha256(img['config'])}")
    assert_status(r, 200)
    assert r.json() == json.loads(img["config"])
