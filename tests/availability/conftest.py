"""Availability and fault tests: Berth replicas over one PostgreSQL and one Garage.

Each module owns its services: a fresh database from the shared PostgreSQL test cluster
(scripts/postgres.sh), or from a cluster of its own when it stops PostgreSQL (`FAULT_PG`), and
its own Garage deployment (scripts/garage.sh) in a temporary directory, so that stopping them
hurts no other test.
"""
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import threading
import urllib.parse
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))

import base64  # noqa: E402

from berth_server import BerthServer, auto_auth  # noqa: E402
from testkit import SHARED_ENV, wait_until  # noqa: E402,F401  (wait_until: used by the tests)
from services import Garage, Postgres  # noqa: E402
from ociimage import OCI_MANIFEST, Image, sha256  # noqa: E402
from v2client import admin_client  # noqa: E402

auto_auth()

MIB = 1024 * 1024

# The PostgreSQL cluster of the tests that stop or restart PostgreSQL (not the shared one).
FAULT_PG = Postgres.cluster("berth-faults")

# What the README promises within "about a second" (a tag moved, an identity changed, on every
# replica), asserted with margin for a loaded CI machine.
REPLICA_BOUND = 2.0


class Cluster:
    """N Berth replicas sharing one database and one bucket prefix. `env`: settings of every
    replica; `cache`: each replica gets a blob cache directory of its own
    (`storage.cache_dir`, `replica.cache_dir`)."""

    def __init__(self, garage, n, database_url=None, env=None, cache=False):
        self.garage = garage
        self.database_url = database_url or Postgres.fresh_database_url()
        self.prefix = f"t-{uuid.uuid4().hex}/"
        # Replicas share the server key; the first one's first start makes the administrator.
        self.server_key = base64.b64encode(os.urandom(32)).decode()
        self.extra_env = dict(env or {})
        self.cache = cache
        self.admin = None
        self.dirs = []
        self.replicas = []
        try:
            for _ in range(n):
                self.replicas.append(self.new_replica())
        except BaseException:
            self.stop()
            raise

    def env(self):
        return dict(self.garage.env,
                    BERTH_METADATA__BACKEND="postgres",
                    BERTH_METADATA__URL=self.database_url,
                    BERTH_STORAGE__BACKEND="s3",
                    BERTH_STORAGE__PREFIX=self.prefix,
                    BERTH_AUTH__SERVER_KEY=self.server_key,
                    # Tests poll for a change to reach every replica; each poll before it has
                    # arrived is a failed authentication, which must not lock the test out.
                    BERTH_LOG__FILTER="info") | SHARED_ENV | self.extra_env

    def new_replica(self, **env):
        """Start one more replica (not added to `replicas`); `env` overrides settings."""
        data_dir = tempfile.mkdtemp(prefix="berth-avail-replica-")
        self.dirs.append(data_dir)
        settings = self.env()
        cache_dir = None
        if self.cache:
            cache_dir = settings["BERTH_STORAGE__CACHE_DIR"] = os.path.join(data_dir, "blob-cache")
        settings.update(env)
        r = BerthServer(data_dir=data_dir, env=settings, admin=self.admin)
        r.cache_dir = cache_dir
        try:
            r.start()
        except BaseException:
            r.cleanup()
            raise
        if self.admin is None:
            self.admin = r.admin
        return r

    def replace(self, i):
        """Start a new replica in place of replica i (which was killed)."""
        self.replicas[i] = self.new_replica()
        return self.replicas[i]

    def restart_all(self):
        """Stop every replica, then start as many new ones (a full restart of the registry)."""
        n = len(self.replicas)
        for r in self.replicas:
            r.stop()
        self.replicas = []
        for _ in range(n):
            self.replicas.append(self.new_replica())

    @property
    def urls(self):
        return [r.url for r in self.replicas]

    def psql(self, sql):
        return Postgres.psql(self.database_url, sql)

    def tag_in_database(self, repo, tag):
        """The digest `tag` names in the shared database (the truth every replica must serve)."""
        return self.psql(
            "SELECT t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id "
            f"WHERE r.name = '{repo}' AND t.name = '{tag}'")

    def stop(self):
        for r in self.replicas:
            r.cleanup()
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(scope="module")
def garage():
    d = tempfile.mkdtemp(prefix="berth-avail-garage-")
    with own_garage(d, Garage.single) as g:
        yield g


class own_garage:
    """`with own_garage(dir, Garage.single) as g:` a Garage deployment in `dir`, stopped
    (SIGKILL: its data is thrown away) and removed on the way out."""

    def __init__(self, dir, make):
        self.dir, self.make = dir, make

    def __enter__(self):
        try:
            self.g = self.make(self.dir)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self.g

    def __exit__(self, *exc):
        try:
            self.g.stop(kill=True)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def cached_digests(cache_dir):
    """The digests of the complete blob copies in a replica's cache directory (staging and
    unfinished copies end in `.tmp`)."""
    out = set()
    if not os.path.isdir(cache_dir):
        return out
    for name in os.listdir(cache_dir):
        path = os.path.join(cache_dir, name)
        if name.endswith(".tmp") or not os.path.isfile(path):
            continue
        h = hashlib.sha256()
        try:
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(MIB), b""):
                    h.update(chunk)
        except FileNotFoundError:  # evicted meanwhile
            continue
        out.add("sha256:" + h.hexdigest())
    return out


class PgProxy:
    """A TCP proxy between one replica and PostgreSQL that can keep the replica's notification
    connection (`LISTEN "berth_cache"`) down while its other connections work.

    `url`: the database URL through the proxy. `listeners`: the local ports of the upstream
    connections that went on to LISTEN (PostgreSQL's `client_port` of that backend).
    `hold_listeners = True`: a connection that sends LISTEN is cut instead (`refused` counts
    them), so the replica cannot listen again until it is set back to False."""

    LISTEN = b'LISTEN "berth_cache"'

    def __init__(self, database_url):
        u = urllib.parse.urlsplit(database_url)
        self.upstream = (u.hostname, u.port or 5432)
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        port = self.server.getsockname()[1]
        netloc = u.netloc.rsplit("@", 1)
        netloc = (netloc[0] + "@" if len(netloc) == 2 else "") + f"127.0.0.1:{port}"
        self.url = urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment))
        self.hold_listeners = False
        self.listeners = []
        self.refused = 0
        self.lock = threading.Lock()
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(self.upstream)
        except OSError:
            client.close()
            return
        with self.lock:
            self.sockets += [client, upstream]
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                if self.LISTEN in data:
                    with self.lock:
                        if self.hold_listeners:
                            self.refused += 1
                            break
                        self.listeners.append(upstream.getsockname()[1])
                upstream.sendall(data)
        except OSError:
            pass
        self._close(client, upstream)

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        self._close(src, dst)

    @staticmethod
    def _close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def stop(self):
        self.server.close()
        with self.lock:
            socks, self.sockets = self.sockets, []
        self._close(*socks)


def absolute(url, location):
    return location if location.startswith("http") else url + location


def push_blob(url, repo, data):
    return admin_client(url).push_blob(repo, data)


def push_image(url, repo, tag, layers):
    """Push config + layers + manifest; returns (manifest digest, manifest bytes)."""
    img = admin_client(url).push_image(repo, tag, Image(seed=tag, layers=layers))
    return img.digest, img.manifest


def served_digest(url, repo, ref, method="GET"):
    """The digest `url` serves for repo:ref (asserting it serves one)."""
    r = admin_client(url).req(method, f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, (url, r.status_code, r.text)
    return r.headers["Docker-Content-Digest"]


def assert_served(url, repo, ref, digest):
    got = served_digest(url, repo, ref)
    assert got == digest, f"{url} serves {repo}:{ref} as {got}, not {digest}"


def pull_image(url, repo, ref):
    """Fetch a manifest and every blob it names, checking each digest; returns the manifest."""
    c = admin_client(url)
    r = c.get(f"/v2/{repo}/manifests/{ref}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, (r.status_code, r.text)
    m = r.json()
    for desc in [m["config"]] + m["layers"]:
        b = c.get(f"/v2/{repo}/blobs/{desc['digest']}")
        assert b.status_code == 200, (b.status_code, b.text)
        assert sha256(b.content) == desc["digest"]
        assert len(b.content) == desc["size"]
    return r.content
