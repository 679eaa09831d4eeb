"""One HTTP client for the distribution API (/v2) that every suite shares, and the image pushes
and pulls built on it.

`Client(url, auth)` sends every request with exactly the credentials it was given (`auth` is a
requests auth object or a (user, password) tuple; `None` means anonymous), never following
redirects, so that a monkeypatched `requests.Session.request` (the harness's `auto_auth`) never
adds administrator credentials to what is meant to be anonymous or signed by hand. Each push
helper asserts that every step succeeded with the status the specification names."""
import requests

from berth_server import server_for
from ociimage import OCI_MANIFEST, Image, sha256
from testkit import ANON

TIMEOUT = 30


class Client:
    """A registry client with one fixed kind of credentials."""

    def __init__(self, url, auth=None, headers=None):
        self.url = url.rstrip("/")
        self.auth = auth if auth is not None else ANON
        self.headers = dict(headers or {})
        self.s = requests.Session()

    def req(self, method, path, **kw):
        headers = dict(self.headers, **kw.pop("headers", {}))
        kw.setdefault("timeout", TIMEOUT)
        return self.s.request(method, self.absolute(path), auth=self.auth, headers=headers,
                              allow_redirects=False, **kw)

    def absolute(self, path_or_url):
        return path_or_url if path_or_url.startswith("http") else self.url + path_or_url

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def head(self, path, **kw):
        return self.req("HEAD", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def put(self, path, **kw):
        return self.req("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def patch(self, path, **kw):
        return self.req("PATCH", path, **kw)

    # ---- pushes and pulls ----------------------------------------------------------------

    def push_blob(self, repo, data):
        """POST + PUT (the two-step monolithic upload); returns the digest."""
        d = sha256(data)
        r = self.post(f"/v2/{repo}/blobs/uploads/")
        assert r.status_code == 202, f"POST upload {repo}: {r.status_code} {r.headers} {r.text}"
        loc = self.absolute(r.headers["Location"])
        sep = "&" if "?" in loc else "?"
        r = self.put(f"{loc}{sep}digest={d}", data=data,
                     headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, f"PUT upload {repo}: {r.status_code} {r.text}"
        assert r.headers.get("Docker-Content-Digest") == d, r.headers
        return d

    def push_blobs(self, repo, img):
        """The blobs of `img` that the repository does not have yet (no manifest)."""
        for d, data in img.blobs():
            r = self.head(f"/v2/{repo}/blobs/{d}")
            assert r.status_code in (200, 404), f"HEAD blob {repo}@{d}: {r.status_code} {r.headers}"
            if r.status_code == 404:
                self.push_blob(repo, data)

    def put_manifest(self, repo, ref, body, media_type=OCI_MANIFEST):
        """PUT a manifest; returns the response unchecked (for tests of refusals)."""
        return self.put(f"/v2/{repo}/manifests/{ref}", data=body, headers={"Content-Type": media_type})

    def push_manifest(self, repo, ref, body, media_type=OCI_MANIFEST):
        """PUT a manifest that must be accepted; returns its digest."""
        r = self.put_manifest(repo, ref, body, media_type)
        assert r.status_code == 201, f"PUT manifest {repo}:{ref}: {r.status_code} {r.text}"
        assert r.headers.get("Docker-Content-Digest") == sha256(body), r.headers
        return r.headers["Docker-Content-Digest"]

    def push_image(self, repo, tag="latest", img=None):
        """Push `img` (by default a fresh minimal image) as `repo:tag`; returns the image."""
        img = img or Image()
        self.push_blobs(repo, img)
        self.push_manifest(repo, tag, img.manifest)
        return img

    def pull_image(self, repo, ref, img):
        """Pull `img` back and check every byte."""
        r = self.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
        assert r.status_code == 200, f"GET manifest {repo}:{ref}: {r.status_code} {r.text}"
        assert r.content == img.manifest
        assert r.headers.get("Docker-Content-Digest") == img.digest
        for d, data in img.blobs():
            r = self.get(f"/v2/{repo}/blobs/{d}")
            assert r.status_code == 200, f"GET blob {repo}@{d}: {r.status_code} {r.text}"
            assert r.content == data
            r = self.head(f"/v2/{repo}/blobs/{d}")
            assert r.status_code == 200, f"HEAD blob {repo}@{d}: {r.status_code}"


def client(server, auth=None):
    """A client for a started server, with its administrator's credentials by default."""
    return Client(server.url, auth if auth is not None else server.admin)


def admin_client(url):
    """A client for `url` (a server this process started), with its administrator's credentials."""
    srv = server_for(url)
    assert srv is not None, f"no server started by this process serves {url}"
    return Client(url, srv.admin)
