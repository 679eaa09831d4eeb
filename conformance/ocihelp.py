"""Small helpers for the Berth OCI Distribution conformance suite.

Only the standard library and `requests` are used.  Every helper talks to the
registry through a `Client`, which records every response with a 5xx status so
that the suite can fail any test in which the registry answered 500.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import urllib.parse

import requests
from ociimage import sha256  # the harness's (conftest puts tests/harness on sys.path)

# ---------------------------------------------------------------------------
# media types

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

EMPTY_JSON = b"{}"

DEFAULT_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])

# error codes defined by the specification
ERROR_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED",
    "TOOMANYREQUESTS",
}


# ---------------------------------------------------------------------------
# digests and content

def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest(data: bytes, algorithm: str = "sha256") -> str:
    return sha512(data) if algorithm == "sha512" else sha256(data)


def random_bytes(n: int = 1024) -> bytes:
    return os.urandom(n)


def random_hex(n: int = 8) -> str:
    return os.urandom(n).hex()[:n]


def canonical(obj) -> bytes:
    """Compact JSON encoding used for generated manifests."""
    return json.dumps(obj, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra) -> dict:
    d = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    d.update(extra)
    return d


def config_bytes() -> bytes:
    """A unique (random) but valid image config."""
    return canonical({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"nonce": random_hex(16)}},
        "rootfs": {"type": "layers", "diff_ids": []},
    })


# ---------------------------------------------------------------------------
# HTTP client

class Client:
    """A requests.Session bound to the registry's base URL."""

    def __init__(self, base_url: str, auth=None):
        self.base = base_url.rstrip("/")
        self.session = requests.Session()
        # (user, password) sent as Basic credentials on every request.
        self.session.auth = auth
        # Ordinary requests accept every manifest type the registry may store; tests about
        # content negotiation override or remove this header explicitly.
        self.session.headers["Accept"] = DEFAULT_ACCEPT
        self.server_errors = []  # (method, url, status) of every 5xx seen

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        if not path.startswith("/"):
            path = "/" + path
        return self.base + path

    def request(self, method, path, **kw):
        kw.setdefault("allow_redirects", False)
        kw.setdefault("timeout", 60)
        try:
            r = self.session.request(method, self.url(path), **kw)
        except requests.exceptions.ChunkedEncodingError as e:
            raise AssertionError(f"{method} {path}: malformed HTTP response (body shorter than "
                                 f"Content-Length?): {e}") from None
        if r.status_code >= 500:
            self.server_errors.append((method, r.url, r.status_code, r.text[:300]))
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def location(self, resp) -> str:
        """Absolute URL for a response's Location header (which may be relative)."""
        loc = resp.headers.get("Location")
        assert loc, f"no Location header in {resp.status_code} response to {resp.request.method} {resp.url}"
        return urllib.parse.urljoin(resp.url, loc)

    def auth_header(self):
        """The Authorization header value this client sends, or None."""
        if not self.session.auth:
            return None
        user, password = self.session.auth
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def raw(self, method: str, raw_path: str, headers=None, body=None):
        """Send a request with the path exactly as given (no normalisation of
        `..`, `%2e`, `//`); returns (status, headers dict, body bytes)."""
        u = urllib.parse.urlsplit(self.base)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
        try:
            conn.putrequest(method, raw_path, skip_accept_encoding=True)
            body = body or b""
            hdrs = dict(headers or {})
            if self.session.auth and not any(k.lower() == "authorization" for k in hdrs):
                hdrs["Authorization"] = self.auth_header()
            if body or method in ("PUT", "POST", "PATCH"):
                hdrs.setdefault("Content-Length", str(len(body)))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders()
            if body:
                conn.send(body)
            resp = conn.getresponse()
            data = resp.read()
            h = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status >= 500:
                self.server_errors.append((method, raw_path, resp.status, data[:300]))
            return resp.status, h, data
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# assertions

def assert_error_body(body, codes=None):
    """Check the spec's error shape {"errors":[{"code","message",...}]}; return the codes."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            raise AssertionError(f"error body is not JSON: {body[:300]!r}")
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], \
        f"error body lacks a non-empty 'errors' array: {body!r}"
    found = []
    for e in body["errors"]:
        assert isinstance(e, dict), f"error entry is not an object: {e!r}"
        assert isinstance(e.get("code"), str) and e["code"], f"error entry lacks 'code': {e!r}"
        assert "message" in e and isinstance(e["message"], str), f"error entry lacks string 'message': {e!r}"
        found.append(e["code"])
    if codes is not None:
        codes = {codes} if isinstance(codes, str) else set(codes)
        assert codes & set(found), f"expected error code in {sorted(codes)}, got {found}: {body!r}"
    return found


def assert_error(resp, status, codes=None):
    """Assert `resp` has the given status (int or collection) and a spec-shaped error body
    containing one of `codes`.  HEAD responses have no body, so only the status is checked."""
    statuses = {status} if isinstance(status, int) else set(status)
    assert resp.status_code in statuses, \
        f"{resp.request.method} {resp.url}: expected {sorted(statuses)}, got {resp.status_code}: {resp.text[:500]}"
    if resp.request.method == "HEAD":
        return []
    return assert_error_body(resp.content, codes)


def assert_status(resp, *statuses):
    assert resp.status_code in statuses, \
        f"{resp.request.method} {resp.url}: expected {statuses}, got {resp.status_code}: {resp.text[:500]}"


def parse_range(value: str):
    """'0-99' or 'bytes=0-99' -> (0, 99)."""
    assert value, "missing Range header"
    m = re.fullmatch(r"(?:bytes=)?(\d+)-(\d+)", value.strip())
    assert m, f"malformed Range header {value!r}"
    return int(m.group(1)), int(m.group(2))


def parse_link(value: str):
    """Return the URL of the rel="next" link in a Link header, or None."""
    if not value:
        return None
    for part in value.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;\s*(.*)', part)
        if m and re.search(r'rel="?next"?', m.group(2)):
            return m.group(1)
    return None


# ---------------------------------------------------------------------------
# blob pushes

def start_upload(c: Client, repo: str, **params) -> str:
    """POST /v2/<repo>/blobs/uploads/ ; returns the absolute upload URL."""
    r = c.post(f"/v2/{repo}/blobs/uploads/", params=params or None)
    assert_status(r, 202)
    return c.location(r)


def with_query(url: str, **params) -> str:
    """Append query parameters to a (Location) URL that may already carry a query."""
    parts = urllib.parse.urlsplit(url)
    q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    q += list(params.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))


def push_blob(c: Client, repo: str, data: bytes, algorithm: str = "sha256") -> str:
    """Two-step monolithic push (POST, then PUT ?digest= with the whole body)."""
    d = digest(data, algorithm)
    params = {"digest-algorithm": algorithm} if algorithm != "sha256" else {}
    loc = start_upload(c, repo, **params)
    r = c.put(with_query(loc, digest=d), data=data,
              headers={"Content-Type": "application/octet-stream"})
    assert_status(r, 201)
    return d


def push_blob_post(c: Client, repo: str, data: bytes, algorithm: str = "sha256"):
    """Single-request monolithic push: POST ?digest= with the body."""
    d = digest(data, algorithm)
    return d, c.post(f"/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data,
                     headers={"Content-Type": "application/octet-stream"})


def push_blob_chunked(c: Client, repo: str, data: bytes, chunk: int = 1000, final_in_put: bool = True) -> str:
    """Chunked push with Content-Range on each PATCH; the last chunk goes in the PUT when
    final_in_put, otherwise PUT has an empty body."""
    d = sha256(data)
    loc = start_upload(c, repo)
    chunks = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    patch_chunks = chunks[:-1] if final_in_put else chunks
    offset = 0
    for ch in patch_chunks:
        r = c.patch(loc, data=ch, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(ch) - 1}",
        })
        assert_status(r, 202)
        offset += len(ch)
        assert parse_range(r.headers.get("Range")) == (0, offset - 1)
        loc = c.location(r)
    if final_in_put:
        last = chunks[-1]
        hdrs = {"Content-Type": "application/octet-stream"}
        if last:
            hdrs["Content-Range"] = f"{offset}-{offset + len(last) - 1}"
        r = c.put(with_query(loc, digest=d), data=last, headers=hdrs)
    else:
        r = c.put(with_query(loc, digest=d))
    assert_status(r, 201)
    return d


def blob_exists(c: Client, repo: str, d: str) -> bool:
    return c.head(f"/v2/{repo}/blobs/{d}").status_code == 200


# ---------------------------------------------------------------------------
# manifests

def put_manifest(c: Client, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST, params=None):
    return c.put(f"/v2/{repo}/manifests/{ref}", data=body,
                 headers={"Content-Type": media_type}, params=params)


def push_manifest(c: Client, repo: str, ref: str, body: bytes, media_type: str = OCI_MANIFEST) -> str:
    r = put_manifest(c, repo, ref, body, media_type)
    assert_status(r, 201)
    return sha256(body)


def image_manifest(config: bytes, layers, media_type=OCI_MANIFEST, config_type=None,
                   layer_type=None, **extra) -> bytes:
    docker = media_type == DOCKER_MANIFEST
    m = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type or (DOCKER_CONFIG if docker else OCI_CONFIG), config),
        "layers": [descriptor(layer_type or (DOCKER_LAYER if docker else OCI_LAYER), l) for l in layers],
    }
    m.update(extra)
    return canonical(m)


def push_image(c: Client, repo: str, ref: str = None, nlayers: int = 2, media_type=OCI_MANIFEST, **extra):
    """Push config + layers + manifest; returns dict(manifest=bytes, digest=, config=, layers=[...])."""
    cfg = config_bytes()
    layers = [random_bytes(512 + i) for i in range(nlayers)]
    push_blob(c, repo, cfg)
    for l in layers:
        push_blob(c, repo, l)
    body = image_manifest(cfg, layers, media_type=media_type, **extra)
    d = push_manifest(c, repo, ref or sha256(body), body, media_type)
    return {"manifest": body, "digest": d, "config": cfg, "layers": layers, "media_type": media_type}


def push_artifact(c: Client, repo: str, artifact_type=None, subject=None, annotations=None,
                  config_type=OCI_EMPTY, ref=None):
    """Push an OCI artifact manifest (empty config unless config_type says otherwise)."""
    push_blob(c, repo, EMPTY_JSON)
    layer = random_bytes(64)
    push_blob(c, repo, layer)
    m = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": sha256(EMPTY_JSON), "size": 2},
        "layers": [descriptor("application/octet-stream", layer)],
    }
    if artifact_type:
        m["artifactType"] = artifact_type
    if subject:
        m["subject"] = subject
    if annotations:
        m["annotations"] = annotations
    body = canonical(m)
    r = put_manifest(c, repo, ref or sha256(body), body, OCI_MANIFEST)
    assert_status(r, 201)
    return {"manifest": body, "digest": sha256(body), "response": r, "size": len(body)}


def index_manifest(children, media_type=OCI_INDEX, child_type=OCI_MANIFEST, **extra) -> bytes:
    m = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [dict(descriptor(child_type, ch),
                           platform={"architecture": "amd64", "os": "linux"}) for ch in children],
    }
    m.update(extra)
    return canonical(m)
