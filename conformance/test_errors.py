"""Hostile and malformed input: invalid names, tags, digests, ranges, methods, manifests,
pagination parameters.  Every error must be a 4xx with the spec's error JSON shape; no
request may produce a 5xx (the `client` fixture fails any test that saw one)."""
import json
import os
import re
import uuid

import pytest

from ocihelp import (
    OCI_MANIFEST, assert_error, assert_error_body, assert_status, canonical, config_bytes,
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


def _bad_name_status(status, headers, body, berth_strict=False):
    """An invalid name is rejected: 400 NAME_INVALID or 404.  Outside Berth's strict mode a
    4xx with another code (e.g. the registry decoded %2F and then rejected the request for
    another reason) or a redirect to a cleaned path (Go's ServeMux) are tolerated: the point
    is that nothing is served, stored or answered with 5xx."""
    if berth_strict:
        assert status in (400, 404), (status, body[:300])
        assert_error_body(body, "NAME_INVALID" if status == 400 else None)
        return
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
    name = template.format(marker=_escape_marker())
    for method, path, body, headers in _requests_for(name):
        status, h, data = client.raw(method, path, headers=headers, body=body)
        if method != "HEAD":
            _bad_name_status(status, h, data, berth_strict=True)


@pytest.mark.berth
@pytest.mark.parametrize("path", ["/v2/a%FF/manifests/x", "/v2/a%C3/tags/list", "/v2/%ZZ/blobs/uploads/"])
def test_undecodable_path_berth(client, path):
    """A path that is not valid percent-encoded UTF-8 still gets the OCI error JSON."""
    for method in ("GET", "POST"):
        status, h, data = client.raw(method, path)
        assert 400 <= status < 500, (method, path, status)
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
    img = push_image(client, repo, "ok")
    status, h, data = client.raw("PUT", f"/v2/{repo}/manifests/{tag}", body=img["manifest"],
                                 headers={"Content-Type": OCI_MANIFEST})
    assert status == 400, status
    assert_error_body(data, "TAG_INVALID")
    status, h, data = client.raw("GET", f"/v2/{repo}/manifests/{tag}")
    assert status == 400, status
    assert_error_body(data, "TAG_INVALID")


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


@pytest.mark.parametrize("bad", ["sha256:xyz", "md5:" + "a" * 32])
def test_invalid_mount_digest(client, repo, repo2, bad):
    push_blob(client, repo, b"seed")
    r = client.post(f"/v2/{repo2}/blobs/uploads/", params={"mount": bad, "from": repo})
    # either rejected, or treated as a normal upload
    assert r.status_code in (202, 400), r.status_code
    if r.status_code == 400:
        assert_error(r, 400, {"DIGEST_INVALID", "UNSUPPORTED"})


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


def test_unsupported_methods(client, repo):
    img = push_image(client, repo, "latest")
    d = sha256(img["config"])
    for method, path in _method_cases(repo, d):
        status, h, data = client.raw(method, path, body=b"{}")
        assert status in (404, 405), (method, path, status)
        if data and status == 405:
            try:
                assert_error_body(data)
            except AssertionError:
                pass  # some registries answer 405 with a plain body
    # nothing changed
    assert client.get(f"/v2/{repo}/manifests/latest").content == img["manifest"]
    assert client.get(f"/v2/{repo}/blobs/{d}").content == img["config"]


@pytest.mark.berth
def test_unsupported_methods_berth(client, repo):
    img = push_image(client, repo, "latest")
    d = sha256(img["config"])
    for method, path in _method_cases(repo, d) + [("DELETE", "/v2/"), ("POST", "/v2/_catalog")]:
        status, h, data = client.raw(method, path, body=b"{}")
        assert status == 405, (method, path, status)
        try:
            assert_error_body(data, "UNSUPPORTED")
        except AssertionError as e:
            raise AssertionError(f"{method} {path}: {e}") from None


# --- malformed chunk uploads -------------------------------------------------------------

@pytest.mark.berth
@pytest.mark.parametrize("crange", ["abc", "5-2", "0-", "-5", "0-99999999999999999999999"])
def test_malformed_content_range(client, repo, crange):
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"0123456789", headers=dict(OCTET, **{"Content-Range": crange}))
    assert r.status_code in (400, 416), r.status_code
    if r.content:
        assert_error(r, (400, 416), {"BLOB_UPLOAD_INVALID", "SIZE_INVALID"})


@pytest.mark.berth
def test_content_range_length_mismatch(client, repo):
    loc = start_upload(client, repo)
    r = client.patch(loc, data=b"0123456789", headers=dict(OCTET, **{"Content-Range": "0-99"}))
    assert r.status_code in (400, 416), r.status_code
    if r.content:
        assert_error(r, (400, 416), {"BLOB_UPLOAD_INVALID", "SIZE_INVALID"})


def test_put_final_chunk_out_of_order(client, repo):
    data = random_bytes(200)
    loc = start_upload(client, repo)
    r = client.patch(loc, data=data[:100], headers=dict(OCTET, **{"Content-Range": "0-99"}))
    assert_status(r, 202)
    r = client.put(with_query(client.location(r), digest=sha256(data)), data=data[150:],
                   headers=dict(OCTET, **{"Content-Range": "150-199"}))
    assert r.status_code in (400, 416), r.status_code
    assert not client.head(f"/v2/{repo}/blobs/{sha256(data)}").status_code == 200


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


def test_manifest_put_to_nonexistent_repo_with_missing_blobs(client, repo):
    body = image_manifest(config_bytes(), [random_bytes(10)])
    r = put_manifest(client, repo, "v1", body)
    assert_error(r, (400, 404), {"MANIFEST_BLOB_UNKNOWN", "NAME_UNKNOWN"})


# --- pagination and query parameters ------------------------------------------------------

@pytest.mark.parametrize("n", ["-1", "abc", "0", "99999999999999999999999", "1.5", ""])
def test_hostile_pagination_params(client, repo, n):
    push_image(client, repo, "a")
    for path in (f"/v2/{repo}/tags/list", "/v2/_catalog"):
        r = client.get(path, params={"n": n})
        assert r.status_code in (200, 400), (path, n, r.status_code)
        if r.status_code == 400:
            assert_error(r, 400)
        else:
            r.json()


def test_hostile_last_param(client, repo):
    push_image(client, repo, "a")
    for last in ["../../..", "\u00e4", "x" * 5000, "%00"]:
        r = client.get(f"/v2/{repo}/tags/list", params={"last": last})
        assert r.status_code in (200, 400), r.status_code
        r = client.get("/v2/_catalog", params={"last": last, "n": 5})
        assert r.status_code in (200, 400), r.status_code


# --- hostile headers -------------------------------------------------------------------

@pytest.mark.parametrize("rng", ["bytes=abc", "bytes=5-2", "items=0-1", "bytes=0-1,3-4", "bytes=--1", "bytes="])
def test_hostile_range_header(client, repo, rng):
    data = random_bytes(100)
    d = push_blob(client, repo, data)
    r = client.get(f"/v2/{repo}/blobs/{d}", headers={"Range": rng})
    assert r.status_code in (200, 206, 416), r.status_code
    if r.status_code == 200:
        assert r.content == data


def test_hostile_accept_header(client, repo):
    img = push_image(client, repo, "a")
    for accept in ["x" * 8000, ",,,;;;q=", "application/vnd.oci.image.manifest.v1+json;q=abc", "*/*;q=0"]:
        r = client.get(f"/v2/{repo}/manifests/a", headers={"Accept": accept})
        assert r.status_code in (200, 400, 404, 406), r.status_code
        if r.status_code == 200:
            assert r.content == img["manifest"]


def test_range_on_unknown_blob(client, repo):
    push_blob(client, repo, b"seed")
    r = client.get(f"/v2/{repo}/blobs/{sha256(b'absent')}", headers={"Range": "bytes=0-1"})
    assert_error(r, 404, "BLOB_UNKNOWN")


def test_unknown_endpoint(client):
    status, h, data = client.raw("GET", "/v2/conf/x/nonsense/endpoint")
    assert status in (400, 404, 405), status
