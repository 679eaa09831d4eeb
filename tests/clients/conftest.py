"""Shared fixtures for the real-client tests (skopeo, podman, docker, ctr, oras).

Run against a running registry:  REGISTRY_URL=http://127.0.0.1:5000 python -m pytest tests/clients -q
or let the harness start the berth binary (target/release/berth or BERTH_BIN).
"""
import hashlib
import os
import re
import subprocess
import sys
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
sys.path.insert(0, HERE)

from berth_server import registry_from_env  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ALL_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(cmd, timeout=300, check=True, **kw):
    """Run a command, returning CompletedProcess; on failure raise with its full output."""
    kw.setdefault("text", True)
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n"
                             f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}")
    return p


class Api:
    """Thin client for the distribution HTTP API, used to check what the clients did."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.s = requests.Session()

    def get_manifest(self, repo, ref, accept=ALL_MANIFESTS):
        """GET a manifest; asserts 200 and that the body hashes to Docker-Content-Digest.
        Returns (bytes, content_type, digest)."""
        r = self.s.get(f"{self.url}/v2/{repo}/manifests/{ref}", headers={"Accept": accept}, timeout=60)
        assert r.status_code == 200, f"GET manifest {repo}:{ref} -> {r.status_code} {r.text[:500]}"
        dg = r.headers.get("Docker-Content-Digest")
        assert dg == sha256(r.content), f"Docker-Content-Digest {dg} != sha256(body) {sha256(r.content)}"
        if ref.startswith("sha256:"):
            assert dg == ref
        return r.content, r.headers.get("Content-Type", "").split(";")[0].strip(), dg

    def head_manifest_digest(self, repo, ref, accept=ALL_MANIFESTS):
        r = self.s.head(f"{self.url}/v2/{repo}/manifests/{ref}", headers={"Accept": accept}, timeout=60)
        assert r.status_code == 200, f"HEAD manifest {repo}:{ref} -> {r.status_code}"
        return r.headers["Docker-Content-Digest"]

    def manifest_status(self, repo, ref):
        return self.s.get(f"{self.url}/v2/{repo}/manifests/{ref}",
                          headers={"Accept": ALL_MANIFESTS}, timeout=60).status_code

    def get_blob(self, repo, digest):
        """GET a blob (following redirects); asserts 200 and that it hashes to `digest`."""
        r = self.s.get(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=120)
        assert r.status_code == 200, f"GET blob {repo}@{digest} -> {r.status_code} {r.text[:300]}"
        assert sha256(r.content) == digest, f"blob {digest} content hashes to {sha256(r.content)}"
        return r.content

    def blob_status(self, repo, digest):
        return self.s.head(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=60).status_code

    def tags(self, repo):
        r = self.s.get(f"{self.url}/v2/{repo}/tags/list", timeout=60)
        assert r.status_code == 200, f"tags/list {repo} -> {r.status_code} {r.text[:300]}"
        return r.json().get("tags") or []

    def referrers(self, repo, digest, artifact_type=None):
        params = {"artifactType": artifact_type} if artifact_type else None
        return self.s.get(f"{self.url}/v2/{repo}/referrers/{digest}", params=params,
                          headers={"Accept": OCI_INDEX}, timeout=60)


@pytest.fixture(scope="session")
def registry():
    reg = registry_from_env()
    try:
        r = requests.get(reg.url + "/v2/", timeout=10)
        assert r.status_code == 200, f"{reg.url}/v2/ -> {r.status_code}"
        yield reg
    finally:
        reg.cleanup()


@pytest.fixture
def api(registry):
    return Api(registry.url)


@pytest.fixture
def repo(request):
    """A repository name unique to this test (and this run)."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    mod = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.split(".")[-1].lower()).strip("-")
    return f"clients/{mod}/{base}-{uuid.uuid4().hex[:8]}"
