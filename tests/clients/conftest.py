"""Shared fixtures for the real-client tests (skopeo, podman, docker, ctr, oras).

Run against a running registry:  REGISTRY_URL=http://127.0.0.1:5000 python -m pytest tests/clients -q
(with REGISTRY_USER/REGISTRY_PASSWORD when it needs credentials), or let the harness start
the berth binary (BERTH_BIN, else the newer of target/release/berth and target/debug/berth).

Authentication is on: every client logs in through its own login mechanism, once per session
(`docker_login`, `podman_login`, `skopeo_login`; ctr passes `--user`, oras logs in per client).
Their credentials go to session-private files only: DOCKER_CONFIG and REGISTRY_AUTH_FILE are
pointed into a temporary directory for the whole session (`client_config`), so no login here
writes to the developer's ~/.docker/config.json or containers auth file.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
sys.path.insert(0, HERE)

from berth_server import registry_from_env  # noqa: E402
from ociimage import sha256  # noqa: E402,F401  (re-exported to the client tests)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ALL_MANIFESTS = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


def run(cmd, timeout=300, check=True, input=None, **kw):
    """Run a command, returning CompletedProcess; on failure raise with its full output.
    `input` is written to its standard input (otherwise it gets /dev/null)."""
    kw.setdefault("text", True)
    if input is None:
        kw["stdin"] = subprocess.DEVNULL
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, input=input, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed ({p.returncode}): {' '.join(map(str, cmd))}\n"
                             f"--- stdout ---\n{p.stdout}\n--- stderr ---\n{p.stderr}")
    return p


class Api:
    """Thin client for the distribution HTTP API, used to check what the clients did."""

    def __init__(self, url, auth=None):
        """`auth`: (user, password) sent as Basic credentials with every request."""
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.s.auth = auth

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


def registry_creds(registry):
    """The (user, password) the clients log in with: a started Berth server's administrator
    (access key id, secret access key), or REGISTRY_USER/REGISTRY_PASSWORD for REGISTRY_URL;
    None for a registry that takes no credentials."""
    return getattr(registry, "auth", None)


@pytest.fixture(scope="session")
def registry():
    reg = registry_from_env()
    try:
        r = requests.get(reg.url + "/v2/", auth=registry_creds(reg), timeout=10)
        assert r.status_code == 200, f"{reg.url}/v2/ -> {r.status_code} {r.text[:300]}"
        yield reg
    finally:
        reg.cleanup()


@pytest.fixture
def api(registry):
    return Api(registry.url, auth=registry_creds(registry))


CLIENT_ENV = ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE")


@pytest.fixture(scope="session")
def client_config(tmp_path_factory):
    """Session-private client configuration, for every client this session runs (they all
    inherit os.environ): DOCKER_CONFIG (docker's config.json with its logins) and
    REGISTRY_AUTH_FILE (the auth file podman, buildah and skopeo share). Restored afterwards."""
    d = tmp_path_factory.mktemp("client-config")
    saved = {k: os.environ.get(k) for k in CLIENT_ENV}
    os.environ["DOCKER_CONFIG"] = str(d / "docker")
    os.environ["REGISTRY_AUTH_FILE"] = str(d / "containers-auth.json")
    (d / "no-docker-config").mkdir()
    try:
        yield d
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def containers_login_env(client_config):
    """The environment for podman/skopeo login and logout: the session's auth file, and a
    DOCKER_CONFIG without docker's login. containers/common refuses to log in ("currently
    logged in, auth file contains an Identity token") when the credentials it finds for the
    registry are an identity token, which is what `docker login` stores for Berth (the
    refresh token its token service hands out). After the login the auth file holds the
    entry, and the containers tools read REGISTRY_AUTH_FILE before DOCKER_CONFIG."""
    return dict(os.environ, DOCKER_CONFIG=str(client_config / "no-docker-config"))


@pytest.fixture(scope="session")
def docker_login(registry, client_config):
    """`docker login` (password on stdin) into the session's DOCKER_CONFIG; logout at the end."""
    creds = registry_creds(registry)
    if creds:
        user, password = creds
        run(["docker", "login", registry.hostport, "-u", user, "--password-stdin"], input=password)
    yield creds
    if creds:
        run(["docker", "logout", registry.hostport], check=False)


def podman_cmd(root):
    """podman with throw-away storage under `root` (rootful, vfs, no systemd/journald)."""
    return ["podman", "--root", os.path.join(root, "root"), "--runroot", os.path.join(root, "run"),
            "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
            "--tmpdir", root]


def short_tempdir(prefix):
    """A temp dir with a short path (podman refuses a --runroot longer than 50 characters)."""
    root = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.makedirs(os.path.join(root, "root"))
    os.makedirs(os.path.join(root, "run"))
    return root


@pytest.fixture(scope="session")
def podman_login(registry, client_config):
    """`podman login --tls-verify=false` into the session's REGISTRY_AUTH_FILE (which skopeo and
    buildah read too); logout at the end."""
    creds = registry_creds(registry)
    root = short_tempdir("bpl-")
    pm = podman_cmd(root)
    env = containers_login_env(client_config)
    try:
        if creds:
            user, password = creds
            run([*pm, "login", "--tls-verify=false", "-u", user, "--password-stdin", registry.hostport],
                input=password, env=env)
        yield creds
        if creds:
            run([*pm, "logout", registry.hostport], check=False, env=env)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def skopeo_login(registry, client_config):
    """`skopeo login --tls-verify=false` into the session's REGISTRY_AUTH_FILE; logout at the end."""
    creds = registry_creds(registry)
    env = containers_login_env(client_config)
    if creds:
        user, password = creds
        run(["skopeo", "login", "--tls-verify=false", "-u", user, "--password-stdin", registry.hostport],
            input=password, env=env)
    yield creds
    if creds:
        run(["skopeo", "logout", registry.hostport], check=False, env=env)


@pytest.fixture(scope="session")
def ctr_user(registry):
    """ctr's credential flags (`--user akid:secret`: ctr runs the token flow itself)."""
    creds = registry_creds(registry)
    return ["--user", f"{creds[0]}:{creds[1]}"] if creds else []


@pytest.fixture
def repo(request):
    """A repository name unique to this test (and this run)."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    mod = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.split(".")[-1].lower()).strip("-")
    return f"clients/{mod}/{base}-{uuid.uuid4().hex[:8]}"
