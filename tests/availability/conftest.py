"""Availability and fault tests: Berth replicas over one PostgreSQL and one Garage.

Each module owns its services: a fresh database from the shared PostgreSQL test cluster
(scripts/postgres.sh) and its own Garage deployment (scripts/garage.sh) in a temporary
directory, so that stopping them hurts no other test.
"""
import hashlib
import json
import os
import sys
import tempfile
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))

import base64  # noqa: E402

from berth_server import BerthServer, auto_auth  # noqa: E402
from services import Garage, Postgres  # noqa: E402

auto_auth()

MIB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Cluster:
    """N Berth replicas sharing one database and one bucket prefix."""

    def __init__(self, garage, n, database_url=None):
        self.garage = garage
        self.database_url = database_url or Postgres.fresh_database_url()
        self.prefix = f"t-{uuid.uuid4().hex}/"
        # Replicas share the server key; the first one's first start makes the administrator.
        self.server_key = base64.b64encode(os.urandom(32)).decode()
        self.admin = None
        self.replicas = [self.new_replica() for _ in range(n)]

    def env(self):
        return dict(self.garage.env,
                    BERTH_METADATA__BACKEND="postgres",
                    BERTH_METADATA__URL=self.database_url,
                    BERTH_STORAGE__BACKEND="s3",
                    BERTH_STORAGE__PREFIX=self.prefix,
                    BERTH_AUTH__SERVER_KEY=self.server_key,
                    BERTH_LOG__FILTER="info")

    def new_replica(self):
        r = BerthServer(env=self.env(), admin=self.admin).start()
        if self.admin is None:
            self.admin = r.admin
        return r

    def replace(self, i):
        """Start a new replica in place of replica i (which was killed)."""
        self.replicas[i] = self.new_replica()
        return self.replicas[i]

    @property
    def urls(self):
        return [r.url for r in self.replicas]

    def stop(self):
        for r in self.replicas:
            r.cleanup()


@pytest.fixture(scope="module")
def garage():
    d = tempfile.mkdtemp(prefix="berth-avail-garage-")
    g = Garage.single(d)
    yield g
    g.stop()


def absolute(url, location):
    return location if location.startswith("http") else url + location


def push_blob(url, repo, data):
    d = sha256(data)
    r = requests.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data)
    assert r.status_code == 201, (r.status_code, r.text)
    return d


def push_image(url, repo, tag, layers):
    """Push config + layers + manifest; returns (manifest digest, manifest bytes)."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "tag": tag,
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    descs = []
    for layer in layers:
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar",
                      "digest": push_blob(url, repo, layer), "size": len(layer)})
    cd = push_blob(url, repo, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cd, "size": len(config)},
                           "layers": descs}).encode()
    r = requests.put(f"{url}/v2/{repo}/manifests/{tag}", data=manifest,
                     headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, (r.status_code, r.text)
    return r.headers["Docker-Content-Digest"], manifest


def pull_image(url, repo, ref):
    """Fetch a manifest and every blob it names, checking each digest; returns the manifest."""
    r = requests.get(f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, (r.status_code, r.text)
    m = r.json()
    for desc in [m["config"]] + m["layers"]:
        b = requests.get(f"{url}/v2/{repo}/blobs/{desc['digest']}")
        assert b.status_code == 200, (b.status_code, b.text)
        assert sha256(b.content) == desc["digest"]
        assert len(b.content) == desc["size"]
    return r.content
