"""Faults under a running registry: PostgreSQL stops and comes back, a replica's notification
connection drops, the object store goes away, a node of a three-node Garage cluster stops.
Requests fail cleanly (503 with a retryable OCI error and `Retry-After: 1`, never a 500 and never
corrupt state), no replica serves a stale tag, and service resumes by itself.

The PostgreSQL faults use a cluster of their own (`FAULT_PG`), so they disturb no other test."""
import os
import tempfile
import threading
import time

import requests

from conftest import (FAULT_PG, MIB, OCI_MANIFEST, REPLICA_BOUND, Cluster, PgProxy, absolute,
                      assert_served, cached_digests, own_garage, pull_image, push_blob, push_image,
                      served_digest, sha256, wait_until)
from services import Garage
from testkit import within

UNAVAILABLE = {"errors": [{"code": "UNAVAILABLE", "message": "service temporarily unavailable; retry",
                           "detail": None}]}


def assert_unavailable(r, what):
    """The README's answer of a registry whose database or object store cannot be reached."""
    assert r.status_code == 503, (what, r.status_code, r.text)
    assert r.headers.get("Retry-After") == "1", (what, dict(r.headers))
    assert r.json() == UNAVAILABLE, (what, r.text)


def test_a_database_outage_answers_503_with_retry_after_and_service_resumes(garage):
    c = Cluster(garage, 2, database_url=FAULT_PG.fresh_database_url())
    repo = "faults/pg"
    try:
        a, b = c.urls
        old, manifest = push_image(a, repo, "v1", [os.urandom(2 * MIB)])
        for url in (a, b):  # cached by both replicas
            for _ in range(3):
                assert served_digest(url, repo, "v1") == old
        stop = threading.Event()
        seen = []  # (replica, kind, status, Retry-After, body of a non-success)

        def traffic(url, k):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = requests.get(f"{url}/v2/{repo}/manifests/v1",
                                     headers={"Accept": OCI_MANIFEST}, timeout=30)
                    seen.append((url, "get", r.status_code, r.headers.get("Retry-After"),
                                 r.text if r.status_code != 200 else ""))
                    layer = f"layer {k} {i}".encode()
                    r = requests.post(f"{url}/v2/{repo}/blobs/uploads/",
                                      params={"digest": sha256(layer)}, data=layer, timeout=30)
                    seen.append((url, "push", r.status_code, r.headers.get("Retry-After"),
                                 r.text if r.status_code != 201 else ""))
                except requests.RequestException as e:  # the replica itself must stay up
                    seen.append((url, "connection", 0, None, str(e)))
                time.sleep(0.01)  # pacing, not synchronisation

        def count(url, kind, status):
            return sum(1 for u, k, s, _, _ in list(seen) if u == url and k == kind and s == status)

        ts = [threading.Thread(target=traffic, args=(u, k)) for k, u in enumerate((a, b))]
        for t in ts:
            t.start()
        try:
            wait_until(lambda: all(count(u, "push", 201) >= 3 for u in (a, b)), 30,
                       "traffic through both replicas")
            FAULT_PG.stop()
            try:
                # During the outage every replica answers, exactly: the process is up, it is not
                # ready, and reads (no replica may serve its cached tag: its notification
                # connection is down too) and writes are 503 UNAVAILABLE with Retry-After: 1.
                answers = {}

                def ask(url, name, method, path, **kw):
                    answers[(url, name)] = requests.request(method, url + path, timeout=60, **kw)

                blob = os.urandom(100)
                asks = []
                for url in (a, b):
                    asks += [(url, "healthz", "GET", "/healthz"),
                             (url, "readyz", "GET", "/readyz"),
                             (url, "get", "GET", f"/v2/{repo}/manifests/v1"),
                             (url, "head", "HEAD", f"/v2/{repo}/manifests/v1")]
                threads = [threading.Thread(target=ask, args=x) for x in asks]
                threads += [threading.Thread(target=ask, args=(url, "push", "POST",
                                                               f"/v2/{repo}/blobs/uploads/"),
                                             kwargs={"params": {"digest": sha256(blob)}, "data": blob})
                            for url in (a, b)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                for url in (a, b):
                    h = answers[(url, "healthz")]
                    assert (h.status_code, h.text) == (200, "ok"), (url, h.status_code, h.text)
                    rz = answers[(url, "readyz")]
                    assert (rz.status_code, rz.text) == (503, "metadata store unavailable"), rz.text
                    assert_unavailable(answers[(url, "get")], (url, "manifest GET"))
                    assert_unavailable(answers[(url, "push")], (url, "blob push"))
                    head = answers[(url, "head")]
                    assert head.status_code == 503 and head.headers.get("Retry-After") == "1", \
                        (url, head.status_code, dict(head.headers))
                # The background traffic hit the outage too.
                wait_until(lambda: all(count(u, k, 503) >= 1 for u in (a, b) for k in ("get", "push")),
                           60, "503s to the background traffic of both replicas")
            finally:
                FAULT_PG.start()
            # Service resumes by itself.
            for url in (a, b):
                wait_until(lambda: requests.get(f"{url}/readyz", timeout=30).status_code == 200, 30,
                           f"{url} to be ready again")
            mark = len(seen)
            wait_until(lambda: all(sum(1 for x in seen[mark:] if x[:3] == (u, "push", 201)) >= 2
                                   for u in (a, b)),
                       30, "the background traffic to succeed again")
        finally:
            stop.set()
            for t in ts:
                t.join()
        for url, kind, status, retry_after, text in seen:
            assert status in (200, 201, 503), (url, kind, status, text)
            if status == 503:
                assert retry_after == "1" and '"UNAVAILABLE"' in text, (url, kind, retry_after, text)
        # A tag moved through one replica after the outage is seen moved by the other, whose
        # notification connection was cut by the outage (its cache must not outlive that).
        new, new_manifest = push_image(a, repo, "v1", [os.urandom(1000)])
        moved = time.monotonic()
        within(REPLICA_BOUND, lambda: assert_served(b, repo, "v1", new), since=moved)
        assert pull_image(b, repo, "v1") == new_manifest
        assert pull_image(a, repo, old) == manifest
        push_image(b, repo, "v2", [os.urandom(1000)])
        assert pull_image(a, repo, "v2")
    finally:
        c.stop()


def test_a_replica_whose_notification_connection_drops_serves_no_stale_tag(garage):
    """Replica B talks to PostgreSQL through a proxy that can keep its LISTEN connection down
    (B's other connections work): B's listener is killed with pg_terminate_backend, a tag moves
    through A meanwhile, and B must serve the move, both while it cannot listen and after."""
    database_url = FAULT_PG.fresh_database_url()
    proxy = PgProxy(database_url)
    c = Cluster(garage, 1, database_url=database_url)
    repo = "faults/listener"
    try:
        a = c.urls[0]
        replica_b = c.new_replica(BERTH_METADATA__URL=proxy.url)
        c.replicas.append(replica_b)
        b = replica_b.url
        first, _ = push_image(a, repo, "t", [b"one" * 100])
        for _ in range(3):  # cached by B
            assert_served(b, repo, "t", first)
        listener = wait_until(lambda: list(proxy.listeners), 10, "B's notification connection")[-1]

        def backend_of(port):
            return c.psql(f"SELECT pid FROM pg_stat_activity WHERE client_port = {port} "
                          "AND query LIKE 'LISTEN%'")

        assert wait_until(lambda: backend_of(listener), 10, "B's LISTEN in pg_stat_activity")
        proxy.hold_listeners = True
        assert c.psql("SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                      f"WHERE client_port = {listener}") == "t"
        # B noticed: it has tried to listen again (and was refused), so its cache is off.
        wait_until(lambda: proxy.refused >= 1, 10, "B to try to listen again")
        second, _ = push_image(a, repo, "t", [b"two" * 100])
        for _ in range(3):  # at once, and every time: B reads the database meanwhile
            assert_served(b, repo, "t", second)
        # B listens again: what it cached before or during the drop is gone.
        before = len(proxy.listeners)
        proxy.hold_listeners = False
        again = wait_until(lambda: proxy.listeners[before:], 15, "B to listen again")[-1]
        wait_until(lambda: backend_of(again), 10, "B's new LISTEN in pg_stat_activity")
        for _ in range(3):
            assert_served(b, repo, "t", second)
        # And notifications flow again: a move through A reaches B's (refilled) cache.
        third, _ = push_image(a, repo, "t", [b"three" * 100])
        moved = time.monotonic()
        within(REPLICA_BOUND, lambda: assert_served(b, repo, "t", third), since=moved)
        for _ in range(3):
            assert_served(b, repo, "t", third)
    finally:
        c.stop()
        proxy.stop()


def test_an_unreachable_object_store_fails_uploads_cleanly_and_they_can_be_retried():
    d = tempfile.mkdtemp(prefix="berth-avail-s3down-")
    with own_garage(d, Garage.single) as g, Cluster(g, 1, cache=True) as c:
        url = c.urls[0]
        cache_dir = c.replicas[0].cache_dir
        repo = "faults/s3"
        # A blob pushed in one request is kept on the replica's disk (write-through).
        kept = os.urandom(3 * MIB)
        kept_digest = push_blob(url, repo, kept)
        wait_until(lambda: kept_digest in cached_digests(cache_dir), 10,
                   "the pushed blob in the replica's cache")
        data = os.urandom(24 * MIB)
        digest = sha256(data)
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/")
        path = r.headers["Location"]
        # The first chunk goes through; then the store disappears.
        r = requests.patch(absolute(url, path), data=data[:6 * MIB],
                           headers={"Content-Range": f"0-{6 * MIB - 1}",
                                    "Content-Type": "application/octet-stream"})
        assert r.status_code == 202
        path = r.headers["Location"]
        g.stop(kill=True)
        r = requests.patch(absolute(url, path), data=data[6 * MIB:],
                           headers={"Content-Range": f"{6 * MIB}-{len(data) - 1}",
                                    "Content-Type": "application/octet-stream"}, timeout=120)
        assert_unavailable(r, "PATCH with the object store down")
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": sha256(b"x")},
                          data=b"x", timeout=120)
        assert_unavailable(r, "monolithic push with the object store down")
        rz = requests.get(f"{url}/readyz")
        assert (rz.status_code, rz.text) == (503, "blob store unavailable"), rz.text
        h = requests.get(f"{url}/healthz")
        assert (h.status_code, h.text) == (200, "ok")
        # The blob on the replica's disk is still served, from there.
        got = requests.get(f"{url}/v2/{repo}/blobs/{kept_digest}", timeout=60)
        assert got.status_code == 200 and got.content == kept, (got.status_code, got.text[:200])
        # Nothing half-visible: the blob is unknown and the upload still stands at 6 MiB.
        assert requests.head(f"{url}/v2/{repo}/blobs/{digest}").status_code == 404
        st = requests.get(absolute(url, path))
        assert st.status_code == 204 and st.headers["Range"] == f"0-{6 * MIB - 1}"
        # The store comes back: the retry of the failed chunk completes the upload.
        Garage.single(d)
        wait_until(lambda: requests.get(f"{url}/readyz").status_code == 200, 30,
                   "berth to become ready again")
        r = requests.patch(absolute(url, path), data=data[6 * MIB:],
                           headers={"Content-Range": f"{6 * MIB}-{len(data) - 1}",
                                    "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        r = requests.put(absolute(url, r.headers["Location"]), params={"digest": digest})
        assert r.status_code == 201, r.text
        got = requests.get(f"{url}/v2/{repo}/blobs/{digest}")
        assert got.status_code == 200 and sha256(got.content) == digest
        # A download of the whole blob fills the cache with exactly its bytes; nothing else is
        # ever cached (not the first request's partial copy of the upload above).
        wait_until(lambda: digest in cached_digests(cache_dir), 10, "the downloaded blob cached")
        assert cached_digests(cache_dir) == {kept_digest, digest}


def test_pushes_and_pulls_continue_with_one_garage_node_down():
    d = tempfile.mkdtemp(prefix="berth-avail-cluster-")
    with own_garage(d, Garage.cluster) as g, Cluster(g, 2) as c:
        a, b = c.urls
        before, before_manifest = push_image(a, "faults/cluster", "before", [os.urandom(7 * MIB)])
        g.stop_node(3, kill=True)
        # With one of three nodes gone, quorum remains: pushes and pulls carry on.
        _, manifest = push_image(b, "faults/cluster", "during", [os.urandom(9 * MIB), b"x" * 100])
        assert pull_image(a, "faults/cluster", "during") == manifest
        assert pull_image(b, "faults/cluster", before) == before_manifest
        g.start_node(3)
        _, m2 = push_image(a, "faults/cluster", "after", [os.urandom(MIB)])
        assert pull_image(b, "faults/cluster", "after") == m2
