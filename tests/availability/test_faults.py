"""Faults under a running registry: PostgreSQL restarts, the object store goes away, a node of
a three-node Garage cluster stops. Requests fail cleanly (503 with a retryable OCI error, never
a 500 and never corrupt state) and service resumes by itself."""
import os
import tempfile
import threading
import time

import pytest
import requests

from conftest import MIB, Cluster, absolute, pull_image, push_image, sha256
from services import Garage, Postgres


def test_postgres_restart_under_traffic(garage):
    c = Cluster(garage, 2)
    try:
        a, b = c.urls
        digest, manifest = push_image(a, "faults/pg", "v1", [os.urandom(2 * MIB)])
        stop = threading.Event()
        seen = []

        def traffic(url, k):
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = requests.get(f"{url}/v2/faults/pg/manifests/v1",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                                     timeout=30)
                    seen.append(("get", r.status_code, r.text if r.status_code != 200 else ""))
                    layer = f"layer {k} {i}".encode()
                    r = requests.post(f"{url}/v2/faults/pg/blobs/uploads/",
                                      params={"digest": sha256(layer)}, data=layer, timeout=30)
                    seen.append(("push", r.status_code, r.text if r.status_code != 201 else ""))
                except requests.RequestException as e:  # a refused connection is not a 500
                    seen.append(("conn", 0, str(e)))
                time.sleep(0.01)

        ts = [threading.Thread(target=traffic, args=(u, k)) for k, u in enumerate((a, b))]
        for t in ts:
            t.start()
        time.sleep(1)
        started = Postgres.psql(c.database_url, "SELECT pg_postmaster_start_time()")
        Postgres.restart()
        time.sleep(3)
        stop.set()
        for t in ts:
            t.join()
        codes = {s for _, s, _ in seen}
        assert 500 not in codes, [x for x in seen if x[1] == 500][:3]
        for kind, status, text in seen:
            assert status in (200, 201, 503), (kind, status, text)
            if status == 503:
                assert '"UNAVAILABLE"' in text
        # Service resumed by itself: both replicas answer and the image is intact.
        deadline = time.time() + 30
        while True:
            try:
                for url in (a, b):
                    assert pull_image(url, "faults/pg", "v1") == manifest
                break
            except AssertionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        push_image(b, "faults/pg", "v2", [os.urandom(1000)])
        assert pull_image(a, "faults/pg", "v2")
        # The fault did happen: the server restarted under the traffic.
        assert Postgres.psql(c.database_url, "SELECT pg_postmaster_start_time()") != started
        assert len(seen) > 20
    finally:
        c.stop()


def test_an_unreachable_object_store_fails_uploads_cleanly_and_they_can_be_retried():
    d = tempfile.mkdtemp(prefix="berth-avail-s3down-")
    g = Garage.single(d)
    c = Cluster(g, 1)
    try:
        url = c.urls[0]
        repo = "faults/s3"
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
        g.stop()
        r = requests.patch(absolute(url, path), data=data[6 * MIB:],
                           headers={"Content-Range": f"{6 * MIB}-{len(data) - 1}",
                                    "Content-Type": "application/octet-stream"}, timeout=120)
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.json()["errors"][0]["code"] == "UNAVAILABLE"
        assert "Retry-After" in r.headers
        r = requests.get(f"{url}/readyz")
        assert r.status_code == 503
        # Nothing half-visible: the blob is unknown and the upload still stands at 6 MiB.
        assert requests.head(f"{url}/v2/{repo}/blobs/{digest}").status_code == 404
        st = requests.get(absolute(url, path))
        assert st.status_code == 204 and st.headers["Range"] == f"0-{6 * MIB - 1}"
        # The store comes back: the retry of the failed chunk completes the upload.
        Garage.single(d)
        deadline = time.time() + 30
        while requests.get(f"{url}/readyz").status_code != 200:
            assert time.time() < deadline, "berth did not become ready again"
            time.sleep(0.5)
        r = requests.patch(absolute(url, path), data=data[6 * MIB:],
                           headers={"Content-Range": f"{6 * MIB}-{len(data) - 1}",
                                    "Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        r = requests.put(absolute(url, r.headers["Location"]), params={"digest": digest})
        assert r.status_code == 201, r.text
        got = requests.get(f"{url}/v2/{repo}/blobs/{digest}")
        assert got.status_code == 200 and sha256(got.content) == digest
    finally:
        c.stop()
        g.stop()


def test_pushes_and_pulls_continue_with_one_garage_node_down():
    d = tempfile.mkdtemp(prefix="berth-avail-cluster-")
    g = Garage.cluster(d)
    c = Cluster(g, 2)
    try:
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
    finally:
        c.stop()
        g.stop()
