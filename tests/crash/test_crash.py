"""Crash consistency: kill -9 berth while uploads (and manifest/tag writes) are in flight,
restart it on the same data directory and check that

  * every committed image (acknowledged manifest PUT) pulls back byte-identical,
  * every upload that was cut off completes on retry, both as a new upload (POST ...) and,
    when the server still knows the old session (GET -> 204 + Range), by resuming it;
    an old session may also be forgotten (404 BLOB_UPLOAD_UNKNOWN),
  * nothing half-written is visible: blobs of interrupted uploads answer 404 before retry,
    tags/list and _catalog show only committed things.

Needs the berth binary (target/release/berth, target/debug/berth or BERTH_BIN); it does not
use REGISTRY_URL. CRASH_SERVER=distribution runs it against Debian's docker-registry instead,
only to check the test itself. In the production deployment (BERTH_TEST_DEPLOYMENT=production)
the server keeps a blob cache in its data directory (`storage.cache_dir`, write-through), and
every copy in it after the crash must be a whole committed blob. Sizes: CRASH_BLOB_MIB="50,200" (min,max per streamed blob),
CRASH_STREAMS=8. CRASH_SEED fixes the random choices (printed on failure).
"""
import hashlib
import json
import os
import random
import re
import shutil
import struct
import tempfile
import threading
import time
import uuid

import pytest
import requests

from berth_server import BerthServer, deployment
from ociimage import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
ACCEPT = ", ".join([OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json"])
MIB = 1 << 20
CHUNK = 1 * MIB
TIMEOUT = (5, 120)

BLOB_MIB = [int(x) for x in os.environ.get("CRASH_BLOB_MIB", "50,200").split(",")]
STREAMS = int(os.environ.get("CRASH_STREAMS", "8"))
SEED = int(os.environ.get("CRASH_SEED", str(random.randrange(1 << 30))))


def new_server(data_dir=None, port=None, env=None):
    if os.environ.get("CRASH_SERVER") == "distribution":
        from refserver import DistributionServer
        return DistributionServer(data_dir=data_dir or tempfile.mkdtemp(prefix="crash-ref-"), port=port)
    if env is None and deployment() == "production":
        data_dir = data_dir or tempfile.mkdtemp(prefix="berth-test-")
        env = {"BERTH_STORAGE__CACHE_DIR": os.path.join(data_dir, "blob-cache")}
    return BerthServer(data_dir=data_dir, port=port, env=env)


def restart(old):
    """kill -9 is done; start a new server on the same data dir, port and settings (the
    harness waits while the port is still busy)."""
    return new_server(data_dir=old.data_dir, port=old.port,
                      env=getattr(old, "config_env", None)).start(timeout=60)


def cache_dir(srv):
    """The server's blob cache directory, if it has one."""
    return (getattr(srv, "config_env", None) or {}).get("BERTH_STORAGE__CACHE_DIR")


def cached_digests(srv):
    """The digests of the whole copies in the server's blob cache (unfinished ones end in .tmp)."""
    d, out = cache_dir(srv), set()
    for name in os.listdir(d) if d and os.path.isdir(d) else []:
        path = os.path.join(d, name)
        if name.endswith(".tmp") or not os.path.isfile(path):
            continue
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(MIB), b""):
                h.update(chunk)
        out.add("sha256:" + h.hexdigest())
    return out


@pytest.fixture
def server():
    srv = new_server().start()
    holder = {"srv": srv, "dir": srv.data_dir}
    yield holder
    holder["srv"].kill9()
    shutil.rmtree(holder["dir"], ignore_errors=True)


def absolute(url, loc):
    return loc if loc.startswith("http") else url + loc


# ---------------------------------------------------------------- deterministic blob data

class BlobData:
    """A reproducible large blob: CHUNK-sized pieces, each a 16-byte (seed, index) header +
    a random block. Cheap to regenerate (for retries) and not deduplicable."""

    def __init__(self, seed, size):
        self.seed, self.size = seed, size
        self.block = random.Random(seed).randbytes(CHUNK)
        self._digest = None

    def piece(self, k):
        n = min(CHUNK, self.size - k * CHUNK)
        return (struct.pack("<QQ", self.seed, k) + self.block[16:])[:n]

    def iter_from(self, offset, counter=None):
        k, skip = divmod(offset, CHUNK)
        while k * CHUNK < self.size:
            p = self.piece(k)[skip:]
            skip = 0
            k += 1
            if counter:
                counter(len(p))
            yield p

    def range_bytes(self, start, end):
        """bytes [start, end)"""
        out = bytearray()
        for p in self.iter_from(start):
            out += p
            if len(out) >= end - start:
                break
        return bytes(out[: end - start])

    @property
    def digest(self):
        if self._digest is None:
            h = hashlib.sha256()
            for p in self.iter_from(0):
                h.update(p)
            self._digest = "sha256:" + h.hexdigest()
        return self._digest


# ---------------------------------------------------------------- small HTTP helpers

def put_blob(s, url, repo, data):
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, f"POST upload {repo}: {r.status_code} {r.text[:300]}"
    d = sha256(data)
    r = s.put(absolute(url, r.headers["Location"]), params={"digest": d}, data=data,
              headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    assert r.status_code == 201, f"PUT blob {repo}: {r.status_code} {r.text[:300]}"
    return d


def put_blob_chunked(s, url, repo, data, chunk=4 * MIB):
    r = s.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202
    loc = absolute(url, r.headers["Location"])
    for off in range(0, len(data), chunk):
        part = data[off:off + chunk]
        r = s.patch(loc, data=part, timeout=TIMEOUT, headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{off}-{off + len(part) - 1}", "Content-Length": str(len(part))})
        assert r.status_code == 202, f"PATCH: {r.status_code} {r.text[:300]}"
        loc = absolute(url, r.headers["Location"])
    d = sha256(data)
    r = s.put(loc, params={"digest": d}, timeout=TIMEOUT)
    assert r.status_code == 201, f"PUT (close) {r.status_code} {r.text[:300]}"
    return d


def make_manifest(config_bytes, layers):
    """layers: list of (digest, size)"""
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": n} for d, n in layers],
    }, separators=(",", ":")).encode()


def make_config(tag):
    return json.dumps({"architecture": "amd64", "os": "linux",
                       "config": {"Labels": {"t": tag, "n": uuid.uuid4().hex}},
                       "rootfs": {"type": "layers", "diff_ids": []}}).encode()


def put_manifest(s, url, repo, ref, body):
    return s.put(f"{url}/v2/{repo}/manifests/{ref}", data=body,
                 headers={"Content-Type": OCI_MANIFEST}, timeout=TIMEOUT)


def push_committed_image(s, url, repo, tag, rng, big=False):
    blobs = {}
    for i in range(3):
        data = rng.randbytes(rng.randrange(1024, 512 << 10))
        blobs[put_blob(s, url, repo, data)] = data
    if big:  # one layer through the chunked PATCH path
        data = rng.randbytes(12 * MIB + 17)
        blobs[put_blob_chunked(s, url, repo, data)] = data
    cfg = make_config(tag)
    blobs[put_blob(s, url, repo, cfg)] = cfg
    layers = [(d, len(b)) for d, b in blobs.items() if d != sha256(cfg)]
    man = make_manifest(cfg, layers)
    r = put_manifest(s, url, repo, tag, man)
    assert r.status_code == 201, f"PUT manifest {repo}:{tag}: {r.status_code} {r.text[:300]}"
    assert r.headers.get("Docker-Content-Digest") == sha256(man)
    return {"repo": repo, "tag": tag, "manifest": man, "digest": sha256(man), "blobs": blobs}


def get_blob_digest(s, url, repo, digest):
    """(status, sha256 of the body streamed)"""
    with s.get(f"{url}/v2/{repo}/blobs/{digest}", stream=True, timeout=TIMEOUT) as r:
        if r.status_code != 200:
            return r.status_code, None
        h = hashlib.sha256()
        for c in r.iter_content(MIB):
            h.update(c)
        return 200, "sha256:" + h.hexdigest()


def verify_image(s, url, img):
    for ref in (img["tag"], img["digest"]):
        r = s.get(f"{url}/v2/{img['repo']}/manifests/{ref}", headers={"Accept": ACCEPT}, timeout=TIMEOUT)
        assert r.status_code == 200, f"committed manifest {img['repo']}:{ref} lost: {r.status_code} {r.text[:200]}"
        assert r.content == img["manifest"], f"committed manifest {img['repo']}:{ref} changed"
        assert r.headers.get("Docker-Content-Digest") == img["digest"]
    for d, data in img["blobs"].items():
        r = s.get(f"{url}/v2/{img['repo']}/blobs/{d}", timeout=TIMEOUT)
        assert r.status_code == 200, f"committed blob {img['repo']}@{d} lost: {r.status_code}"
        assert r.content == data and sha256(r.content) == d, f"committed blob {d} corrupted"


def catalog(s, url):
    repos, nxt = [], f"{url}/v2/_catalog?n=1000"
    while nxt:
        r = s.get(nxt, timeout=TIMEOUT)
        assert r.status_code == 200, f"_catalog: {r.status_code}"
        repos += r.json().get("repositories") or []
        link = r.headers.get("Link")
        nxt = absolute(url, link.split(";")[0].strip("<> ")) if link else None
    return repos


def tags(s, url, repo):
    r = s.get(f"{url}/v2/{repo}/tags/list", timeout=TIMEOUT)
    if r.status_code == 404:
        return None
    assert r.status_code == 200, f"tags/list {repo}: {r.status_code}"
    return sorted(r.json().get("tags") or [])


# ---------------------------------------------------------------- streaming uploads

class Stream(threading.Thread):
    """One large blob upload. mode "stream": a single PATCH whose body is a generator
    (chunked transfer encoding); mode "chunks": 8 MiB PATCHes with Content-Range."""

    def __init__(self, url, repo, blob, mode, counter):
        super().__init__(daemon=True)
        self.url, self.repo, self.blob, self.mode, self.counter = url, repo, blob, mode, counter
        self.location = None
        self.phase = "post"  # post -> patch -> put -> done
        self.error = None

    def run(self):
        s = requests.Session()
        try:
            r = s.post(f"{self.url}/v2/{self.repo}/blobs/uploads/", timeout=TIMEOUT)
            assert r.status_code == 202, r.text
            self.location = absolute(self.url, r.headers["Location"])
            self.phase = "patch"
            h = hashlib.sha256()  # hashed while sending, so the closing PUT follows at once

            def hashed():
                for p in self.blob.iter_from(0, self.counter):
                    h.update(p)
                    yield p

            if self.mode == "stream":
                r = s.patch(self.location, data=hashed(), timeout=TIMEOUT,
                            headers={"Content-Type": "application/octet-stream"})
                assert r.status_code == 202, r.text
                self.location = absolute(self.url, r.headers["Location"])
            else:
                step = 8 * MIB
                for off in range(0, self.blob.size, step):
                    end = min(off + step, self.blob.size)
                    part = self.blob.range_bytes(off, end)
                    h.update(part)
                    r = s.patch(self.location, data=part, timeout=TIMEOUT, headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{off}-{end - 1}", "Content-Length": str(end - off)})
                    assert r.status_code == 202, r.text
                    self.location = absolute(self.url, r.headers["Location"])
                    self.counter(end - off)
            self.blob._digest = digest = "sha256:" + h.hexdigest()
            self.phase = "put"
            r = s.put(self.location, params={"digest": digest}, timeout=TIMEOUT)
            assert r.status_code == 201, r.text
            self.phase = "done"
        except Exception as e:  # the kill cuts the connection: expected
            self.error = repr(e)


class Counter:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def __call__(self, k):
        with self.lock:
            self.n += k


class SizedBody:
    """An iterable request body with a known length: requests sends it with Content-Length
    (a bare generator would go out with Transfer-Encoding: chunked)."""

    def __init__(self, it, length):
        self.it, self.length = it, length

    def __iter__(self):
        return iter(self.it)

    def __len__(self):
        return self.length


def resume_old_session(s, url, st):
    """GET the old upload's status; 404 (forgotten) or 204 + Range -> continue and close.
    Returns "forgotten" or "resumed"."""
    r = s.get(st.location, timeout=TIMEOUT)
    if r.status_code == 404:
        codes = [e.get("code") for e in r.json().get("errors", [])]
        ok = {"BLOB_UPLOAD_UNKNOWN"}
        if os.environ.get("CRASH_SERVER") == "distribution":
            ok.add("BLOB_UPLOAD_INVALID")  # distribution's _state HMAC no longer matches
        assert ok & set(codes), f"404 for old upload with body {r.text[:300]}"
        return "forgotten"
    assert r.status_code == 204, f"GET old upload session: {r.status_code} {r.text[:300]}"
    rng = r.headers.get("Range")
    m = re.fullmatch(r"(?:bytes=)?0-(\d+)", rng or "")
    assert m, f"204 for old upload session without a valid Range: {rng!r}"
    loc = absolute(url, r.headers.get("Location") or st.location)
    offset = int(m.group(1)) + 1  # Range is inclusive; "0-0" may also mean "nothing yet"
    assert offset <= st.blob.size, f"server claims {offset} bytes of a {st.blob.size}-byte upload"
    if offset < st.blob.size:
        r = s.patch(loc, data=SizedBody(st.blob.iter_from(offset), st.blob.size - offset),
                    timeout=TIMEOUT, headers={"Content-Type": "application/octet-stream",
                                              "Content-Range": f"{offset}-{st.blob.size - 1}"})
        if r.status_code == 416 and offset == 1:
            r = s.patch(loc, data=SizedBody(st.blob.iter_from(0), st.blob.size), timeout=TIMEOUT,
                        headers={"Content-Type": "application/octet-stream",
                                 "Content-Range": f"0-{st.blob.size - 1}"})
        assert r.status_code == 202, f"PATCH resuming at {offset}: {r.status_code} {r.text[:300]}"
        loc = absolute(url, r.headers["Location"])
    r = s.put(loc, params={"digest": st.blob.digest}, timeout=TIMEOUT)
    assert r.status_code == 201, f"closing resumed upload (offset {offset}): {r.status_code} {r.text[:300]}"
    assert r.headers.get("Docker-Content-Digest") == st.blob.digest
    return "resumed"


def fresh_upload(s, url, st):
    r = s.post(f"{url}/v2/{st.repo}/blobs/uploads/", timeout=TIMEOUT)
    assert r.status_code == 202, f"POST retry: {r.status_code} {r.text[:300]}"
    r = s.patch(absolute(url, r.headers["Location"]), data=st.blob.iter_from(0), timeout=TIMEOUT,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 202, f"PATCH retry: {r.status_code} {r.text[:300]}"
    r = s.put(absolute(url, r.headers["Location"]), params={"digest": st.blob.digest}, timeout=TIMEOUT)
    assert r.status_code == 201, f"PUT retry: {r.status_code} {r.text[:300]}"


def commit_manifest_for(s, url, st, tag):
    cfg = make_config(tag)
    put_blob(s, url, st.repo, cfg)
    man = make_manifest(cfg, [(st.blob.digest, st.blob.size)])
    r = put_manifest(s, url, st.repo, tag, man)
    assert r.status_code == 201, f"manifest after retry: {r.status_code} {r.text[:300]}"
    return sha256(man)


# kill when this fraction of all streamed bytes has been sent (a random point in the range)
MOMENTS = {"early": (0.01, 0.08), "middle": (0.25, 0.45), "late": (0.6, 0.85)}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_kill9_during_blob_uploads(server, moment):
    rng = random.Random(f"{SEED}-{moment}")
    srv = server["srv"]
    url = srv.url
    s = requests.Session()
    uid = uuid.uuid4().hex[:6]
    print(f"CRASH_SEED={SEED} moment={moment} data_dir={srv.data_dir}")

    committed = [push_committed_image(s, url, f"crash/{uid}/app{i % 2}", f"v{i}", rng, big=(i == 0))
                 for i in range(4)]
    for img in committed:
        verify_image(s, url, img)
    committed_blobs = {d for img in committed for d in img["blobs"]}
    if cache_dir(srv):  # the pushes were kept on disk (write-through) before the crash
        deadline = time.monotonic() + 30
        while not committed_blobs <= cached_digests(srv):
            assert time.monotonic() < deadline, "the committed blobs were not cached"
            time.sleep(0.05)

    counter = Counter()
    streams = []
    for i in range(STREAMS):
        size = rng.randrange(BLOB_MIB[0] * MIB, BLOB_MIB[1] * MIB + 1) + rng.randrange(CHUNK)
        blob = BlobData(rng.randrange(1 << 62), size)
        streams.append(Stream(url, f"crash/{uid}/stream{i}", blob, "stream" if i % 2 == 0 else "chunks", counter))
    total = sum(st.blob.size for st in streams)
    lo, hi = MOMENTS[moment]
    threshold = int(total * rng.uniform(lo, hi))
    for st in streams:
        st.start()
    deadline = time.time() + 600
    while counter.n < threshold and time.time() < deadline and any(st.is_alive() for st in streams):
        time.sleep(0.002)
    assert counter.n >= threshold, f"uploads stalled at {counter.n} of {threshold} bytes"
    srv.kill9()
    for st in streams:
        st.join(60)
        assert not st.is_alive(), "upload thread hung after the kill"
    phases = {st.repo: st.phase for st in streams}
    print(f"killed after {counter.n} of {total} bytes; phases {phases}")
    assert any(st.phase == "patch" for st in streams), "the kill hit no upload mid-stream"

    srv = server["srv"] = restart(srv)
    url = srv.url
    s = requests.Session()

    # 0. the blob cache survives the crash: the copies made before it are intact, it holds
    #    only whole committed blobs (nothing the kill cut off, no upload's partial copy), and
    #    no unfinished copy survives the restart
    if cache_dir(srv):
        names = os.listdir(cache_dir(srv))
        assert not [n for n in names if n.endswith(".tmp")], names
        whole = committed_blobs | {st.blob.digest for st in streams if st.phase in ("done", "put")}
        cached = cached_digests(srv)
        assert cached <= whole, f"cached copies of no committed blob: {sorted(cached - whole)}"
        assert committed_blobs <= cached, sorted(committed_blobs - cached)

    # 1. committed images survive byte for byte
    for img in committed:
        verify_image(s, url, img)

    # 2. finished uploads exist; cut-off uploads are invisible; undecided ones (killed
    #    during the closing PUT) are either absent or complete
    done = [st for st in streams if st.phase == "done"]
    cut = [st for st in streams if st.phase in ("post", "patch")]
    undecided = [st for st in streams if st.phase == "put"]
    for st in done:
        assert get_blob_digest(s, url, st.repo, st.blob.digest) == (200, st.blob.digest)
    for st in cut:
        status = s.head(f"{url}/v2/{st.repo}/blobs/{st.blob.digest}", timeout=TIMEOUT).status_code
        assert status == 404, f"interrupted upload's blob visible in {st.repo}: {status}"
    for st in undecided:
        status, dg = get_blob_digest(s, url, st.repo, st.blob.digest)
        assert status == 404 or dg == st.blob.digest, f"half-closed upload {st.repo}: {status} {dg}"

    # 3. no orphan in tags/catalog
    committed_repos = {img["repo"] for img in committed}
    for repo in committed_repos:
        assert tags(s, url, repo) == sorted(img["tag"] for img in committed if img["repo"] == repo)
    for st in streams:
        assert tags(s, url, st.repo) in (None, []), f"tags appeared in {st.repo}"
    mine = {r for r in catalog(s, url) if r.startswith(f"crash/{uid}/")}
    assert committed_repos <= mine
    allowed = committed_repos | {st.repo for st in done + undecided}
    assert mine <= allowed, f"catalog lists repositories with nothing committed: {sorted(mine - allowed)}"

    # 4. every interrupted upload completes on retry: resume the old session (if the server
    #    kept it) and redo it from scratch, alternating which goes first
    outcomes = {}
    for i, st in enumerate(cut + undecided):
        if st.location is None:  # killed before the POST answered: only a fresh upload
            fresh_upload(s, url, st)
            outcomes[st.repo] = "fresh-only"
        elif i % 2 == 0:
            outcomes[st.repo] = resume_old_session(s, url, st)
            if outcomes[st.repo] == "resumed":
                assert get_blob_digest(s, url, st.repo, st.blob.digest) == (200, st.blob.digest)
            fresh_upload(s, url, st)
        else:
            fresh_upload(s, url, st)
            assert get_blob_digest(s, url, st.repo, st.blob.digest) == (200, st.blob.digest)
            outcomes[st.repo] = resume_old_session(s, url, st)
        assert get_blob_digest(s, url, st.repo, st.blob.digest) == (200, st.blob.digest)
        mdg = commit_manifest_for(s, url, st, "retried")
        assert tags(s, url, st.repo) == ["retried"]
        r = s.get(f"{url}/v2/{st.repo}/manifests/retried", headers={"Accept": ACCEPT}, timeout=TIMEOUT)
        assert r.status_code == 200 and sha256(r.content) == mdg
    print(f"retry outcomes: {outcomes}")

    # and the server is still fully usable; earlier images untouched
    extra = push_committed_image(s, url, f"crash/{uid}/after", "v1", rng)
    verify_image(s, url, extra)
    for img in committed:
        verify_image(s, url, img)


# ---------------------------------------------------------------- manifests and tags

class ManifestWriter(threading.Thread):
    """Pushes small images in a loop: blobs, then the manifest under a rotating set of tags
    (tags get overwritten), in its own repository and in one shared repository."""

    def __init__(self, url, idx, own_repo, shared_repo, seed, stop):
        super().__init__(daemon=True)
        self.url, self.idx, self.own, self.shared, self.stop = url, idx, own_repo, shared_repo, stop
        self.rng = random.Random(seed)
        self.acked = {}        # (repo, tag) -> manifest digest, last acknowledged
        self.manifests = {}    # digest -> (repo, body, {blob digest: data})
        self.acked_digests = set()
        self.inflight = None   # (repo, tag, digest) of the PUT being sent
        self.count = 0
        self.error = None

    def run(self):
        s = requests.Session()
        try:
            i = 0
            while not self.stop.is_set():
                repo = self.own if i % 3 else self.shared
                tag = f"w{self.idx}-t{i % 4}" if repo == self.shared else f"t{i % 3}"
                blobs = {}
                for _ in range(2):
                    data = self.rng.randbytes(self.rng.randrange(512, 64 << 10))
                    blobs[put_blob(s, self.url, repo, data)] = data
                cfg = make_config(tag)
                blobs[put_blob(s, self.url, repo, cfg)] = cfg
                man = make_manifest(cfg, [(d, len(b)) for d, b in blobs.items() if d != sha256(cfg)])
                dg = sha256(man)
                self.manifests[dg] = (repo, man, blobs)
                self.inflight = (repo, tag, dg)
                r = put_manifest(s, self.url, repo, tag, man)
                assert r.status_code == 201, r.text
                self.acked[(repo, tag)] = dg
                self.acked_digests.add(dg)
                self.inflight = None
                self.count += 1
                i += 1
        except Exception as e:
            self.error = repr(e)


def test_kill9_during_manifest_and_tag_writes(server):
    rng = random.Random(f"{SEED}-manifests")
    srv = server["srv"]
    url = srv.url
    s = requests.Session()
    uid = uuid.uuid4().hex[:6]
    print(f"CRASH_SEED={SEED} data_dir={srv.data_dir}")
    committed = [push_committed_image(s, url, f"crash/{uid}/base", f"v{i}", rng) for i in range(3)]

    stop = threading.Event()
    shared = f"crash/{uid}/shared"
    writers = [ManifestWriter(url, i, f"crash/{uid}/mf{i}", shared, rng.randrange(1 << 30), stop)
               for i in range(6)]
    # and one big upload in flight at the same time
    big = Stream(url, f"crash/{uid}/bigblob", BlobData(rng.randrange(1 << 62), 64 * MIB), "stream", Counter())
    for w in writers:
        w.start()
    big.start()
    deadline = time.monotonic() + 60
    while sum(w.count for w in writers) == 0:
        assert time.monotonic() < deadline, f"no manifest written: {[w.error for w in writers]}"
        time.sleep(0.01)
    time.sleep(rng.uniform(0.2, 1.5))  # a random kill moment (not synchronisation)
    srv.kill9()
    stop.set()
    for w in writers + [big]:
        w.join(60)
        assert not w.is_alive()
    print(f"killed after {sum(w.count for w in writers)} manifests; inflight "
          f"{[w.inflight for w in writers]}")

    srv = server["srv"] = restart(srv)
    url = srv.url
    s = requests.Session()
    for img in committed:
        verify_image(s, url, img)

    inflight = {(w.inflight[0], w.inflight[1]): w.inflight[2] for w in writers if w.inflight}
    expected_tags = {}
    for w in writers:
        for (repo, tag), dg in w.acked.items():
            expected_tags.setdefault(repo, {})[tag] = dg
        for dg in w.acked_digests:  # every acknowledged manifest is there by digest, with its blobs
            repo, body, blobs = w.manifests[dg]
            r = s.get(f"{url}/v2/{repo}/manifests/{dg}", headers={"Accept": ACCEPT}, timeout=TIMEOUT)
            assert r.status_code == 200 and r.content == body, f"acked manifest {repo}@{dg}: {r.status_code}"
            for bd, data in blobs.items():
                rb = s.get(f"{url}/v2/{repo}/blobs/{bd}", timeout=TIMEOUT)
                assert rb.status_code == 200 and rb.content == data
        if w.inflight:  # a manifest PUT cut off by the kill: absent, or complete
            repo, tag, dg = w.inflight
            r = s.get(f"{url}/v2/{repo}/manifests/{dg}", headers={"Accept": ACCEPT}, timeout=TIMEOUT)
            assert r.status_code in (200, 404)
            if r.status_code == 200:
                assert r.content == w.manifests[dg][1]

    for repo, tagmap in expected_tags.items():
        listed = tags(s, url, repo) or []
        for tag, dg in tagmap.items():
            r = s.head(f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT}, timeout=TIMEOUT)
            assert r.status_code == 200, f"acked tag {repo}:{tag} lost"
            got = r.headers["Docker-Content-Digest"]
            ok = {dg}
            if (repo, tag) in inflight:
                ok.add(inflight[(repo, tag)])
            assert got in ok, f"tag {repo}:{tag} -> {got}, expected one of {ok}"
            assert tag in listed
        unexpected = set(listed) - set(tagmap) - {t for (r_, t) in inflight if r_ == repo}
        assert not unexpected, f"tags nobody committed in {repo}: {unexpected}"
    assert tags(s, url, f"crash/{uid}/base") == ["v0", "v1", "v2"]
    assert s.head(f"{url}/v2/{big.repo}/blobs/{big.blob.digest}", timeout=TIMEOUT).status_code == \
        (200 if big.phase == "done" else 404) or big.phase == "put"
    mine = {r for r in catalog(s, url) if r.startswith(f"crash/{uid}/")}
    touched = {f"crash/{uid}/base", shared, big.repo} | {w.own for w in writers}
    assert f"crash/{uid}/base" in mine and mine <= touched

    # the writers' in-flight manifests go through on retry; the server keeps working
    for w in writers:
        if w.inflight:
            repo, tag, dg = w.inflight
            r = put_manifest(s, url, repo, tag, w.manifests[dg][1])
            assert r.status_code == 201, f"retry manifest {repo}:{tag}: {r.status_code} {r.text[:300]}"
            assert s.head(f"{url}/v2/{repo}/manifests/{tag}", headers={"Accept": ACCEPT},
                          timeout=TIMEOUT).headers.get("Docker-Content-Digest") == dg
    for img in committed:
        verify_image(s, url, img)
