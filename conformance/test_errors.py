"""Hostile and malformed input: invalid names, tags, digests, ranges, methods, manifests,
pagination parameters.  Every error must be a 4xx with the spec's error JSON shape; no
request may produce a 5xx (the `client` fixture fails any test that saw one)."""
import json
import os
import re
import uuid

import pytest

from ocihelp import (
    OCI_MANIFEST, Client, assert_error, assert_error_body, assert_status, canonical, config_bytes,
    image_manifest, push_blob, push_image, put_manifest, random_bytes, sha256, start_upload,
    with_query,
)

NAME_RE = re.compile(r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*")
OCTET = {"Content-Type": "application/octet-stream"}


def _escape_marker():
    return f"berth-escape-{uuid.uuid4().hex[:10]}"


BAD_NAMES = [
    "Conf/Upper",
    "conf/UPPER",
    "conf/a..b",
    "conf/../../../../../../tmp/{marker}",
    "../../../../../../tmp/{marker}",
    "%2e%2e/%2e%2e/%2e%2e/%2e%2e/tmp/{marker}",
    "conf/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/tmp/{marker}",
    "conf/%2E%2E/x",
    "conf/a%2F..%2F..%2Fb",
    "conf/-lead",
    "conf/trail-",
    "conf/a__-b",
    "conf/.hidden",
    "conf/a//b",
    "/conf/leading-slash",
    "conf/%C3%A4",
    "conf/a%00b",
    "conf/a%20b",
    "conf/" + "a" * 252,  # 257 characters
]


def _name_id(t):
    return t.replace("{marker}", "M") if len(t) < 60 else f"len{len(t)}"



REDIRECTS = (301, 302, 307, 308)


def _is_json(body):
    try:
        json.loads(body)
        return True
    except ValueError:
        return False


def _bad_name_status(status, headers, body):
    """An invalid name is rejected: 400 NAME_INVALID or 404.  A 4xx with another code (e.g.
    the registry decoded %2F and then rejected the request for another reason) or a redirect
    to a cleaned path (Go's ServeMux) are tolerated here, for other registries: the point is
    that nothing is served, stored or answered with 5xx.  Berth's exact answer is checked by
    test_invalid_repository_names_berth."""
    assert status in (400, 404) + REDIRECTS, (status, body[:300])
    if status == 400 or (status == 404 and _is_json(body)):
        assert_error_body(body)


def _requests_for(name):
    d = sha256(b"x")
    return [
        ("GET", f"/v2/{name}/tags/list", None, {}),
        ("GET", f"/v2/{name}/manifests/latest", None, {}),
        ("HEAD", f"/v2/{name}/manifests/latest", None, {}),
        ("PUT", f"/v2/{name}/manifests/latest", b'{"schemaVersion":2}', {"Content-Type": OCI_MANIFEST}),
        ("DELETE", f"/v2/{name}/manifests/{d}", None, {}),
        ("GET", f"/v2/{name}/blobs/{d}", None, {}),
        ("DELETE", f"/v2/{name}/blobs/{d}", None, {}),
        ("POST", f"/v2/{name}/blobs/uploads/", b"", {}),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={d}", b"x", OCTET),
        ("GET", f"/v2/{name}/referrers/{d}", None, {}),
    ]


@pytest.mark.parametrize("template", BAD_NAMES, ids=_name_id)
def test_invalid_repository_names(client, template):
    marker = _escape_marker()
    name = template.format(marker=marker)
    for method, path, body, headers in _requests_for(name):
        status, h, data = client.raw(method, path, headers=headers, body=body)
        if method == "HEAD":
            assert status in (400, 404) + REDIRECTS, (method, path, status)
        else:
            _bad_name_status(status, h, data)
    # nothing was written outside the registry's data directory
    assert not os.path.exists(f"/tmp/{marker}")


@pytest.mark.berth
@pytest.mark.parametrize("template", BAD_NAMES, ids=_name_id)
def test_invalid_repository_names_berth(client, template):
    """Berth answers every request on an invalid name 400 NAME_INVALID (HEAD: 400, no body)."""
    name = template.format(marker=_escape_marker())
    for method, path, body, headers in _requests_for(name):
        status, h, data = client.raw(method, path, headers=headers, body=body)
        assert status == 400, (method, path, status, data[:300])
        if method == "HEAD":
            assert data == b""
        else:
            assert_error_body(data, "NAME_INVALID")


@pytest.mark.berth
@pytest.mark.parametrize("path", ["/v2/a%FF/manifests/x", "/v2/a%C3/tags/list", "/v2/%ZZ/blobs/uploads/"])
def test_undecodable_path_berth(client, path):
    """A path that is not valid percent-encoded UTF-8 still gets the OCI error JSON."""
    for method in ("GET", "POST", "HEAD"):
        status, h, data = client.raw(method, path)
        assert status == 400, (method, path, status)
        if method == "HEAD":
            assert data == b""
        else:
            assert_error_body(data, "NAME_INVALID")


def test_invalid_names_not_in_catalog(client):
    """After hostile requests, every name in the catalog matches the repository grammar."""
    for template in BAD_NAMES[:6]:
        client.raw("POST", f"/v2/{template.format(marker=_escape_marker())}/blobs/uploads/", body=b"")
    from test_content_discovery import _catalog_walk
    for name in _catalog_walk(client, n=100):
        assert NAME_RE.fullmatch(name) and len(name) <= 256, name


# --- tags and digests in paths -------------------------------------------------------

BAD_TAGS = ["-lead", ".lead", "a" * 129, "a%2Fb", "tag%20space", "t@g", "%00"]


@pytest.mark.parametrize("tag", BAD_TAGS, ids=lambda t: t if len(t) < 20 else f"len{len(t)}")
def test_invalid_tag_put(client, repo, tag):
    img = push_image(client, repo, "ok")
    status, h, data = client.raw("PUT", f"/v2/{repo}/manifests/{tag}", body=img["manifest"],
                                 headers={"Content-Type": OCI_MANIFEST})
    assert status in (400, 404), (status, data[:200])
    if status == 400 or _is_json(data):
        assert_error_body(data)
    tags = client.get(f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["ok"]


@pytest.mark.berth
@pytest.mark.parametrize("tag", [t for t in BAD_TAGS if "%2F" not in t],
                         ids=lambda t: t if len(t) < 20 else f"len{len(t)}")
def test_invalid_tag_berth(client, repo, tag):
    """Writing an invalid tag (PUT, DELETE) is 400 TAG_INVALID; reading one (GET, HEAD) is
    404 MANIFEST_UNKNOWN, as distribution answers and the official conformance suites
    expect: no manifest has such a tag."""
    img = push_image(client, repo, "ok")
    status, h, data = client.raw("PUT", f"/v2/{repo}/manifests/{tag}", body=img["manifest"],
                                 headers={"Content-Type": OCI_MANIFEST})
    assert status == 400, status
    assert_error_body(data, "TAG_INVALID")
    status, h, data = client.raw("DELETE", f"/v2/{repo}/manifests/{tag}")
    assert status == 400, status
    assert_error_body(data, "TAG_INVALID")
    status, h, data = client.raw("GET", f"/v2/{repo}/manifests/{tag}")
    assert status == 404, status
    assert_error_body(data, "MANIFEST_UNKNOWN")
    status, h, data = client.raw("HEAD", f"/v2/{repo}/manifests/{tag}")
    assert (status, data) == (404, b"")
    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["ok"]}


@pytest.mark.berth
def test_invalid_tag_needs_pull_permission(registry, repo):
    """The 404 for an invalid tag is an answer about the repository: without credentials it
    is the 401 challenge, as for any other tag."""
    client = Client(registry.url, auth=getattr(registry, "auth", None))
    push_image(client, repo, "ok")
    anonymous = Client(registry.url)
    for method in ("GET", "HEAD"):
        status, h, data = anonymous.raw(method, f"/v2/{repo}/manifests/.lead")
        assert status == 401, (method, status, data[:200])
        assert h.get("www-authenticate", "").startswith("Bearer "), h


@pytest.mark.berth
def test_encoded_slash_in_tag_berth(client, repo):
    """`%2F` in a reference is decoded into a path separator, so no endpoint matches:
    404 NAME_UNKNOWN for every method, and nothing is tagged."""
    img = push_image(client, repo, "ok")
    for method in ("GET", "PUT", "DELETE"):
        body = img["manifest"] if method == "PUT" else None
        status, h, data = client.raw(method, f"/v2/{repo}/manifests/a%2Fb", body=body,
                                     headers={"Content-Type": OCI_MANIFEST} if body else {})
        assert status == 404, (method, status)
        assert_error_body(data, "NAME_UNKNOWN")
    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["ok"]}


def test_tag_128_chars_ok(client, repo):
    tag = "T" + "a" * 126 + "9"
    assert len(tag) == 128
    img = push_image(client, repo, tag)
    assert client.get(f"/v2/{repo}/manifests/{tag}").content == img["manifest"]


BAD_DIGESTS = ["sha256:xyz", "sha256:" + "a" * 63, "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha256",
               "sha256:" + "a" * 65, "sha512:" + "a" * 64, ":" + "a" * 64]


@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_invalid_blob_digest_in_path(client, repo, bad):
    push_blob(client, repo, b"seed")
    for m in ("GET", "DELETE"):
        status, h, data = client.raw(m, f"/v2/{repo}/blobs/{bad}")
        assert status in (400, 404), (m, status)
        if status == 400 or _is_json(data):
            assert_error_body(data)


@pytest.mark.berth
@pytest.mark.parametrize("bad", BAD_DIGESTS)
def test_invalid_blob_digest_in_path_berth(client, repo, bad):
    push_blob(client, repo, b"seed")
    for m in ("GET", "DELETE"):
        status, h, data = client.raw(m, f"/v2/{repo}/blobs/{bad}")
        assert status == 400, (m, status)
        assert_error_body(data, "DIGEST_INVALID")


@pytest.mark.parametrize("bad", ["sha256:xyz", "sha256:" + "a" * 63, "md5:" + "a" * 32])
def test_invalid_digest_upload_put(client, repo, bad):
    loc = start_upload(client, repo)
    r = client.put(with_query(loc, digest=bad), data=b"data", headers=OCTET)
    assert_error(r, 400, {"DIGEST_INVALID", "UNSUPPORTED"})


@pytest.mark.berth
@pytest.mark.parametrize("bad", ["sha256:xyz", "sha256:" + "a" * 63, "md5:" + "a" * 32])
def test_invalid_digest_upload_put_berth(client, repo, bad):
    """400 DIGEST_INVALID (an unsupported algorithm too), and the session keeps nothing."""
    loc = start_upload(client, repo)
    r = client.put(with_query(loc, digest=bad), data=b"data", headers=OCTET)
    assert_error(r, 400, "DIGEST_INVALID")
    s = client.get(loc)
    assert_status(s, 204)
    assert s.headers.get("Range") == "0-0"


@pytest.mark.berth
@pytest.mark.parametrize("bad", ["sha256:xyz", "md5:" + "a" * 32])
def test_invalid_mount_digest(client, repo, repo2, bad):
    """A mount of a malformed digest (or an unsupported algorithm) is refused with
    400 DIGEST_INVALID; it neither mounts nor opens an upload session nor creates the
    target repository."""
    d = push_blob(client, repo, b"seed")
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": bad, "from": repo})
    assert_error(r, 400, "DIGEST_INVALID")
    assert "Location" not in r.headers
    assert_error(client.get(f"/v2/{repo2}/tags/list"), 404, "NAME_UNKNOWN")
    assert client.get(f"/v2/{repo}/blobs/{d}").content == b"seed"


# --- unsupported methods ---------------------------------------------------------------

def _method_cases(repo, d):
    return [
        ("PATCH", f"/v2/{repo}/manifests/latest"),
        ("POST", f"/v2/{repo}/manifests/latest"),
        ("POST", f"/v2/{repo}/tags/list"),
        ("PUT", f"/v2/{repo}/blobs/{d}"),
        ("PATCH", f"/v2/{repo}/blobs/{d}"),
        ("DELETE", f"/v2/{repo}/tags/list"),
        ("PUT", f"/v2/{repo}/referrers/{d}"),
    ]


@pytest.mark.berth
def test_unsupported_methods_berth(client, repo):
    """A method an endpoint does not support: 405 with the error JSON (UNSUPPORTED), and
    nothing changes.  (The specification does not name the answer; other registries answer
    404 or 405, some with a plain-text body.)"""
    img = push_image(client, repo, "latest")
    d = sha256(img["config"])
    for method, path in _method_cases(repo, d) + [("DELETE", "/v2/"), ("POST", "/v2/_catalog")]:
        status, h, data = client.raw(method, path, body=b"{}")
        assert status == 405, (method, path, status)
        try:
            assert_error_body(data, "UNSUPPORTED")
        except AssertionError as e:
            raise AssertionError(f"{method} {path}: {e}") from None
    # nothing changed
    assert client.get(f"/v2/{repo}/manifests/latest").content == img["manifest"]
    assert client.get(f"/v2/{repo}/blobs/{d}").content == img["config"]
    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": ["latest"]}


# --- malformed chunk uploads -------------------------------------------------------------

def _assert_upload_size(client, loc, size):
    s = client.get(loc)
    assert_status(s, 204)
    assert s.headers.get("Range") == f"0-{max(size, 1) - 1}"


@pytest.mark.berth
@pytest.mark.parametrize("crange", ["abc", "5-2", "0-", "-5", "0-99999999999999999999999"])
def test_malformed_content_range(client, repo, crange):
    """A Content-Range that is not `<start>-<end>` (or whose length overflows): 400
    BLOB_UPLOAD_INVALID, and the chunk is not stored."""
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"0123456789", headers=dict(OCTET, **{"Content-Range": crange}))
    assert_error(r, 400, "BLOB_UPLOAD_INVALID")
    _assert_upload_size(client, loc, 0)


@pytest.mark.berth
def test_content_range_length_mismatch(client, repo):
    """A chunk shorter than its Content-Range: 416 BLOB_UPLOAD_INVALID with the session's
    current Range, and nothing of the chunk counts."""
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"0123456789", headers=dict(OCTET, **{"Content-Range": "0-99"}))
    assert_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers.get("Range") == "0-0"
    _assert_upload_size(client, loc, 0)


def test_put_final_chunk_out_of_order(client, repo):
    data = random_bytes(200)
    loc = start_upload(client, repo)
    r = client.patch(loc, data=data[:100], headers=dict(OCTET, **{"Content-Range": "0-99"}))
    assert_status(r, 202)
    r = client.put(with_query(client.location(r), digest=sha256(data)), data=data[150:],
                   headers=dict(OCTET, **{"Content-Range": "150-199"}))
    # "If a chunk is uploaded out of order, the registry MUST respond with a 416"
    assert_status(r, 416)
    assert_status(client.head(f"/v2/{repo}/blobs/{sha256(data)}"), 404)


def test_put_with_digest_of_partial_data(client, repo):
    """Completing an upload whose content does not match the digest fails; the session's
    data never becomes a blob."""
    data = random_bytes(200)
    loc = start_upload(client, repo)
    r = client.patch(loc, data=data[:100], headers=OCTET)
    assert_status(r, 202)
    r = client.put(with_query(client.location(r), digest=sha256(data)))
    assert_error(r, 400, "DIGEST_INVALID")
    assert client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 404
    assert client.head(f"/v2/{repo}/blobs/{sha256(data[:100])}").status_code == 404


def test_garbage_upload_id(client, repo):
    push_blob(client, repo, b"seed")
    for uid in ["..", "%2e%2e", "..%2F..%2F..%2Fetc", "a" * 300, "%00", "not-a-uuid"]:
        status, h, data = client.raw("GET", f"/v2/{repo}/blobs/uploads/{uid}")
        assert status in (400, 404) + REDIRECTS, (uid, status)
        if status == 400 or _is_json(data):
            assert_error_body(data)
        status, h, data = client.raw("PATCH", f"/v2/{repo}/blobs/uploads/{uid}", body=b"x",
                                     headers=OCTET)
        assert status in (400, 404) + REDIRECTS, (uid, status)


@pytest.mark.berth
@pytest.mark.parametrize("uid,code", [
    ("..", "BLOB_UPLOAD_UNKNOWN"), ("%2e%2e", "BLOB_UPLOAD_UNKNOWN"), ("a" * 300, "BLOB_UPLOAD_UNKNOWN"),
    ("%00", "BLOB_UPLOAD_UNKNOWN"), ("not-a-uuid", "BLOB_UPLOAD_UNKNOWN"),
    # decoded, the %2F are path separators: no endpoint matches
    ("..%2F..%2F..%2Fetc", "NAME_UNKNOWN"),
], ids=["dotdot", "encoded-dotdot", "len300", "nul", "not-a-uuid", "encoded-slashes"])
def test_garbage_upload_id_berth(client, repo, uid, code):
    """Berth never normalises the path: every method on a garbage upload id is 404."""
    push_blob(client, repo, b"seed")
    for method, body in (("GET", None), ("PATCH", b"x"), ("PUT", b"x"), ("DELETE", None)):
        status, h, data = client.raw(method, f"/v2/{repo}/blobs/uploads/{uid}", body=body,
                                     headers=OCTET if body else {})
        assert status == 404, (method, uid, status, data[:200])
        assert_error_body(data, code)


# --- malformed manifests ------------------------------------------------------------------

def _malformed_manifests(cfg_desc):
    return {
        "not-json": b"this is not json",
        "array": b"[]",
        "null": b"null",
        "truncated": b'{"schemaVersion":2,"mediaType":"' + OCI_MANIFEST.encode() + b'","config":',
        "deep-nesting": b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}",
        "no-schema-version": canonical({"mediaType": OCI_MANIFEST, "config": cfg_desc, "layers": []}),
        "schema-version-string": canonical({"schemaVersion": "2", "mediaType": OCI_MANIFEST,
                                            "config": cfg_desc, "layers": []}),
        "layers-not-array": canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg_desc,
                                       "layers": "nope"}),
        "config-missing": canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}),
        "config-bad-digest": canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                        "config": dict(cfg_desc, digest="sha256:zzz"), "layers": []}),
        "config-negative-size": canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                           "config": dict(cfg_desc, size=-1), "layers": []}),
        "invalid-utf8": b'{"schemaVersion":2,"annotations":{"a":"\xff\xfe"}}',
    }


@pytest.mark.parametrize("kind", ["not-json", "array", "null", "truncated", "deep-nesting",
                                  "no-schema-version", "schema-version-string", "layers-not-array",
                                  "config-missing", "config-bad-digest", "config-negative-size",
                                  "invalid-utf8"])
def test_malformed_manifest(client, repo, kind):
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    desc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(cfg), "size": len(cfg)}
    body = _malformed_manifests(desc)[kind]
    r = put_manifest(client, repo, "bad", body, OCI_MANIFEST)
    assert_error(r, 400, {"MANIFEST_INVALID", "DIGEST_INVALID", "SIZE_INVALID", "MANIFEST_BLOB_UNKNOWN"})
    assert_status(client.get(f"/v2/{repo}/manifests/bad"), 404)


@pytest.mark.berth
def test_malformed_manifest_berth(client, repo):
    """Berth answers every malformed manifest 400 MANIFEST_INVALID."""
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    desc = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(cfg), "size": len(cfg)}
    for kind, body in _malformed_manifests(desc).items():
        r = put_manifest(client, repo, "bad", body, OCI_MANIFEST)
        assert r.status_code == 400, (kind, r.status_code, r.text[:300])
        assert assert_error_body(r.content) == ["MANIFEST_INVALID"], kind
    assert client.get(f"/v2/{repo}/tags/list").json() == {"name": repo, "tags": []}


def test_manifest_put_to_nonexistent_repo_with_missing_blobs(client, repo):
    body = image_manifest(config_bytes(), [random_bytes(10)])
    r = put_manifest(client, repo, "v1", body)
    assert_error(r, (400, 404), {"MANIFEST_BLOB_UNKNOWN", "NAME_UNKNOWN"})


@pytest.mark.berth
def test_manifest_put_to_nonexistent_repo_with_missing_blobs_berth(client, repo):
    body = image_manifest(config_bytes(), [random_bytes(10)])
    assert_error(put_manifest(client, repo, "v1", body), 400, "MANIFEST_BLOB_UNKNOWN")
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")


# --- pagination and query parameters ------------------------------------------------------

@pytest.mark.berth
@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "", "+5", "0x10"])
def test_hostile_pagination_params(client, repo, n):
    """`n` that is not a non-negative integer: 400 PAGINATION_NUMBER_INVALID (as distribution
    answers) on both listings."""
    push_image(client, repo, "a")
    for path in (f"/v2/{repo}/tags/list", "/v2/_catalog"):
        assert_error(client.get(path, params={"n": n}), 400, "PAGINATION_NUMBER_INVALID")


@pytest.mark.berth
def test_pagination_n_zero(client, repo):
    """n=0 asks for nothing: an empty page, and no Link."""
    push_image(client, repo, "a")
    r = client.get(f"/v2/{repo}/tags/list", params={"n": "0"})
    assert_status(r, 200)
    assert r.json() == {"name": repo, "tags": []}
    assert "Link" not in r.headers
    r = client.get("/v2/_catalog", params={"n": "0"})
    assert_status(r, 200)
    assert r.json() == {"repositories": []}
    assert "Link" not in r.headers


@pytest.mark.berth
def test_pagination_n_too_large_is_capped(client, repo):
    """README: "`n` is capped at 10000" -- however many digits it has (no 400 for a number
    past 2^32).  test_content_discovery.py::test_tags_list_n_capped_at_10000 shows the cap
    on a repository with more than 10000 tags; here the listings are small."""
    push_image(client, repo, "a")
    for n in ("10001", "4294967296", "99999999999999999999999"):
        r = client.get(f"/v2/{repo}/tags/list", params={"n": n})
        assert_status(r, 200)
        assert r.json() == {"name": repo, "tags": ["a"]}
        capped = client.get("/v2/_catalog", params={"n": "10000"})
        r = client.get("/v2/_catalog", params={"n": n})
        assert_status(r, 200)
        assert r.json() == capped.json()
        assert r.headers.get("Link") == capped.headers.get("Link")


@pytest.mark.berth
def test_hostile_last_param(client, repo):
    """`last` is only a position in byte order: any string is accepted and the listing
    continues after it."""
    push_image(client, repo, "a")
    first5 = client.get("/v2/_catalog", params={"n": 5}).json()["repositories"]
    assert first5  # at least `repo`
    # "." (0x2e) and "%" (0x25) sort before any name; "x..." and "ä" (0xc3 0xa4) after "a"
    # and after every repository name (lower-case ASCII after "conf/")
    for last, tags, repos in [("../../..", ["a"], first5), ("%00", ["a"], first5),
                              ("\u00e4", [], []), ("x" * 5000, [], [])]:
        r = client.get(f"/v2/{repo}/tags/list", params={"last": last})
        assert_status(r, 200)
        assert r.json() == {"name": repo, "tags": tags}, last[:10]
        r = client.get("/v2/_catalog", params={"last": last, "n": 5})
        assert_status(r, 200)
        assert r.json() == {"repositories": repos}, last[:10]


# --- hostile headers -------------------------------------------------------------------

@pytest.mark.berth
@pytest.mark.parametrize("rng", ["bytes=abc", "items=0-1", "bytes=0-1,3-4", "bytes=--1", "bytes=",
                                 "bytes=-", "bytes=+1-2"])
def test_hostile_range_header(client, repo, rng):
    """A Range Berth cannot use (malformed, another unit, several ranges) is ignored, as RFC
    9110 allows: 200 with the whole blob."""
    data = random_bytes(100)
    d = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{d}", headers={"Range": rng})
    assert_status(r, 200)
    assert r.content == data
    assert "Content-Range" not in r.headers


@pytest.mark.berth
@pytest.mark.parametrize("rng,start,end", [("bytes=5-2", None, None),
                                           ("bytes=99999999999999999999999-", None, None),
                                           ("bytes=0-99999999999999999999999", 0, 99),
                                           ("bytes=-99999999999999999999999", 0, 99)])
def test_range_header_edge_numbers(client, repo, rng, start, end):
    """An inverted range or a start past the end (however many digits): 416 with
    `Content-Range: bytes */100`; an end or suffix past the end is clipped: 206."""
    data = random_bytes(100)
    d = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{d}", headers={"Range": rng})
    if start is None:
        assert_status(r, 416)
        assert r.headers.get("Content-Range") == "bytes */100"
        assert_error_body(r.content)
    else:
        assert_status(r, 206)
        assert r.headers.get("Content-Range") == f"bytes {start}-{end}/100"
        assert r.content == data[start:end + 1]


@pytest.mark.berth
def test_hostile_accept_header(client, repo):
    """Berth matches Accept by media type only (q-values are ignored, as distribution does):
    a list naming no type, or the stored type with any parameters, or a wildcard serves the
    manifest; a list of only other types is 404 MANIFEST_UNKNOWN."""
    img = push_image(client, repo, "a")
    for accept in [",,,;;;q=", "application/vnd.oci.image.manifest.v1+json;q=abc", "*/*;q=0"]:
        r = client.get(f"/v2/{repo}/manifests/a", headers={"Accept": accept})
        assert_status(r, 200)
        assert r.content == img["manifest"]
        assert r.headers.get("Content-Type") == OCI_MANIFEST
    r = client.get(f"/v2/{repo}/manifests/a", headers={"Accept": "x" * 8000})
    assert_error(r, 404, "MANIFEST_UNKNOWN")


def test_range_on_unknown_blob(client, repo):
    push_blob(client, repo, b"seed")
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'absent')}", headers={"Range": "bytes=0-1"})
    assert_error(r, 404, "BLOB_UNKNOWN")


@pytest.mark.berth
def test_unknown_endpoint(client):
    """A path under /v2/ that names no endpoint: 404 with the error JSON (NAME_UNKNOWN)."""
    for method in ("GET", "POST", "DELETE"):
        status, h, data = client.raw(method, "/v2/conf/x/nonsense/endpoint")
        assert status == 404, (method, status)
        assert_error_body(data, "NAME_UNKNOWN")
