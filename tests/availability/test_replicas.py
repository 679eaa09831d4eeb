"""Replicas over one PostgreSQL and one Garage: any request may go to any replica."""
import json
import os
import random
import re
import threading
import time

import pytest
import requests

from conftest import MIB, Cluster, absolute, pull_image, push_image, sha256


@pytest.fixture(scope="module")
def cluster(garage):
    c = Cluster(garage, 3)
    yield c
    c.stop()


def test_a_chunked_upload_moves_between_replicas(cluster):
    a, b, c = cluster.urls
    data = os.urandom(13 * MIB + 4321)
    repo = "avail/chunked"
    r = requests.post(f"{a}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    path = r.headers["Location"]
    # Chunks of uneven sizes (some below S3's 5 MiB part minimum), each to another replica.
    cuts = [0, 1 * MIB, 7 * MIB, 7 * MIB + 10, 13 * MIB, len(data)]
    targets = [b, c, a, b, c]
    for (start, end), url in zip(zip(cuts, cuts[1:]), targets):
        r = requests.patch(absolute(url, path), data=data[start:end], headers={
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{end - 1}"})
        assert r.status_code == 202, (url, r.status_code, r.text)
        assert r.headers["Range"] == f"0-{end - 1}"
        path = r.headers["Location"]
        # Every replica sees the same progress.
        st = requests.get(absolute(random.choice(cluster.urls), path))
        assert st.status_code == 204 and st.headers["Range"] == f"0-{end - 1}"
    d = sha256(data)
    r = requests.put(absolute(a, path), params={"digest": d})
    assert r.status_code == 201, r.text
    for url in cluster.urls:
        got = requests.get(f"{url}/v2/{repo}/blobs/{d}")
        assert got.status_code == 200 and sha256(got.content) == d


def test_an_image_pushed_through_one_replica_pulls_through_the_others(cluster):
    a, b, c = cluster.urls
    layers = [os.urandom(6 * MIB), os.urandom(1000)]
    digest, manifest = push_image(a, "avail/app", "v1", layers)
    for url in (b, c):
        assert pull_image(url, "avail/app", "v1") == manifest
        assert pull_image(url, "avail/app", digest) == manifest
        tags = requests.get(f"{url}/v2/avail/app/tags/list").json()
        assert tags["tags"] == ["v1"]


def test_the_same_tag_pushed_through_two_replicas_at_once_has_one_winner(cluster):
    a, b, _ = cluster.urls
    repo = "avail/race"
    layer_a, layer_b = b"layer-a" * 1000, b"layer-b" * 1000
    for rnd in range(8):
        results = {}

        def push(name, url, layer):
            results[name] = push_image(url, repo, "latest", [layer + bytes([rnd])])

        ts = [threading.Thread(target=push, args=("a", a, layer_a)),
              threading.Thread(target=push, args=("b", b, layer_b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        # Every replica agrees on the winner (replica caches hear about the move at commit).
        winners = {tag_digest(url, repo, "latest") for url in cluster.urls}
        assert len(winners) == 1, winners
        assert winners.pop() in (results["a"][0], results["b"][0])
        # Both manifests are intact and pullable by digest, through either replica.
        for digest, manifest in results.values():
            assert pull_image(b, repo, digest) == manifest


def tag_digest(url, repo, tag, settle=2.0):
    """The digest `tag` names through `url`, once it has been stable for a moment."""
    last, deadline = None, time.time() + settle
    while True:
        r = requests.head(f"{url}/v2/{repo}/manifests/{tag}",
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 200
        d = r.headers["Docker-Content-Digest"]
        if d == last or time.time() > deadline:
            return d
        last = d
        time.sleep(0.05)


def test_a_tag_moved_through_one_replica_is_seen_moved_by_the_others(cluster):
    a, b, c = cluster.urls
    repo = "avail/moving"
    first, _ = push_image(a, repo, "stable", [b"one" * 100])
    for url in (b, c):  # read it often enough to be cached everywhere
        for _ in range(5):
            assert requests.get(f"{url}/v2/{repo}/manifests/stable").headers[
                "Docker-Content-Digest"] == first
    second, manifest = push_image(a, repo, "stable", [b"two" * 100])
    for url in (b, c):
        deadline = time.time() + 2
        while True:
            r = requests.get(f"{url}/v2/{repo}/manifests/stable")
            if r.headers["Docker-Content-Digest"] == second:
                assert r.content == manifest
                break
            assert time.time() < deadline, f"{url} still serves the old tag"
            time.sleep(0.01)
    # Deleting through one replica: the others stop serving it.
    assert requests.delete(f"{c}/v2/{repo}/manifests/{second}").status_code == 202
    for url in (a, b):
        deadline = time.time() + 2
        while requests.get(f"{url}/v2/{repo}/manifests/stable").status_code != 404:
            assert time.time() < deadline, f"{url} still serves a deleted manifest"
            time.sleep(0.01)


def test_the_same_blob_uploaded_twice_at_once_is_stored_once(cluster):
    a, b, c = cluster.urls
    data = os.urandom(11 * MIB)
    d = sha256(data)
    before = set(objects(cluster))
    statuses = []

    def upload(url, repo):
        r = requests.post(f"{url}/v2/{repo}/blobs/uploads/", params={"digest": d}, data=data)
        statuses.append(r.status_code)

    ts = [threading.Thread(target=upload, args=(u, f"avail/dup{i}"))
          for i, u in enumerate((a, b, c))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert statuses == [201, 201, 201]
    new = set(objects(cluster)) - before
    assert len(new) == 1, new
    for i, u in enumerate((a, b, c)):
        got = requests.get(f"{u}/v2/avail/dup{i}/blobs/{d}")
        assert got.status_code == 200 and sha256(got.content) == d


def objects(cluster):
    import boto3
    g = cluster.garage
    s3 = boto3.client("s3", endpoint_url=g.endpoint, region_name=g.region,
                      aws_access_key_id=g.access_key_id,
                      aws_secret_access_key=g.secret_access_key)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=g.bucket,
                                                             Prefix=cluster.prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_a_replica_killed_mid_push_is_replaced_by_a_retry_on_another(cluster):
    a, b, _ = cluster.urls
    repo = "avail/killed"
    size = 96 * MIB
    block = os.urandom(MIB)
    data_digest = sha256(block * (size // MIB))
    r = requests.post(f"{a}/v2/{repo}/blobs/uploads/")
    path = r.headers["Location"]
    sent = {"n": 0}

    def body():
        for _ in range(size // MIB):
            sent["n"] += MIB
            yield block

    def kill_when_half_sent():
        while sent["n"] < size // 2:
            time.sleep(0.01)
        cluster.replicas[0].kill9()

    killer = threading.Thread(target=kill_when_half_sent)
    killer.start()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.patch(absolute(a, path), data=body(),
                       headers={"Content-Type": "application/octet-stream"})
    killer.join()
    # Nothing of the interrupted request is visible.
    assert requests.head(f"{b}/v2/{repo}/blobs/{data_digest}").status_code == 404
    # The client asks another replica where the upload stands and resumes from there.
    st = requests.get(absolute(b, path))
    assert st.status_code == 204
    end = int(st.headers["Range"].split("-")[1])
    offset = end + 1 if end > 0 else 0  # "0-0" is an empty upload here (MiB-sized writes)
    assert offset % MIB == 0
    rest = (block * (size // MIB))[offset:]
    r = requests.patch(absolute(b, path), data=rest, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{offset}-{size - 1}"})
    assert r.status_code == 202, r.text
    r = requests.put(absolute(b, r.headers["Location"]), params={"digest": data_digest})
    assert r.status_code == 201, r.text
    # A new replica takes the dead one's place and serves the blob.
    fresh = cluster.replace(0)
    got = requests.get(f"{fresh.url}/v2/{repo}/blobs/{data_digest}")
    assert got.status_code == 200 and sha256(got.content) == data_digest


def test_a_replica_can_redirect_blob_downloads_to_the_object_store(cluster):
    from berth_server import BerthServer
    a = cluster.urls[0]
    data = os.urandom(3 * MIB + 5)
    d = sha256(data)
    requests.post(f"{a}/v2/avail/redirect/blobs/uploads/", params={"digest": d}, data=data)
    env = dict(cluster.env(), BERTH_STORAGE__REDIRECT="true", BERTH_STORAGE__REDIRECT_TTL_SECS="60")
    r2 = BerthServer(env=env, admin=cluster.admin).start()
    try:
        r = requests.get(f"{r2.url}/v2/avail/redirect/blobs/{d}", allow_redirects=False)
        assert r.status_code == 307, r.text
        assert r.headers["Docker-Content-Digest"] == d
        target = r.headers["Location"]
        assert target.startswith(cluster.garage.endpoint) and "X-Amz-Signature=" in target
        # The client follows it, with or without a Range.
        assert sha256(requests.get(target).content) == d
        part = requests.get(target, headers={"Range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == data[10:20]
        # HEAD is still answered by Berth itself; unknown blobs are still 404 from Berth.
        h = requests.head(f"{r2.url}/v2/avail/redirect/blobs/{d}")
        assert h.status_code == 200 and int(h.headers["Content-Length"]) == len(data)
        missing = requests.get(f"{r2.url}/v2/avail/redirect/blobs/{sha256(b'nope')}",
                               allow_redirects=False)
        assert missing.status_code == 404
    finally:
        r2.cleanup()


def eventually(check, timeout=5.0):
    """Poll `check` until it returns true (identity changes reach replicas within a second)."""
    deadline = time.time() + timeout
    while True:
        if check():
            return
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_identities_and_tokens_are_shared_by_replicas(cluster):
    a, b, c = cluster.urls[:3]
    # A principal created (with the CLI, against the shared database) on no replica in
    # particular authenticates on all of them.
    out = cluster.replicas[0].cli("principal", "create", "avail-ci", "--robot", "--with-key").stdout
    akid = re.search(r"access_key_id = (\S+)", out).group(1)
    secret = re.search(r"secret_access_key = (\S+)", out).group(1)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:*",
        "Resource": "arn:aws:ecr:us-east-1:000000000000:repository/avail/ci/*"}]})
    cluster.replicas[0].cli("policy", "attach", "avail-ci", "all", "-", input=policy)
    for url in (a, b, c):
        eventually(lambda: requests.get(f"{url}/v2/avail/ci/x/tags/list",
                                        auth=(akid, secret)).status_code == 404)
    # A token from one replica's token service works on another.
    t = requests.get(f"{a}/token", params={"service": "berth", "scope": "repository:avail/ci/x:pull,push"},
                     auth=(akid, secret)).json()["token"]
    data = os.urandom(1000)
    r = requests.post(f"{b}/v2/avail/ci/x/blobs/uploads/", params={"digest": sha256(data)}, data=data,
                      headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 201, r.text
    r = requests.get(f"{c}/v2/avail/ci/x/blobs/{sha256(data)}", headers={"Authorization": f"Bearer {t}"})
    assert r.status_code == 200 and r.content == data
    # Disabling the key (through any replica's database) ends its token everywhere.
    cluster.replicas[0].cli("key", "disable", akid)
    for url in (a, b, c):
        eventually(lambda: requests.get(f"{url}/v2/avail/ci/x/blobs/{sha256(data)}",
                                        headers={"Authorization": f"Bearer {t}"}).status_code == 401)
        assert requests.get(f"{url}/v2/", auth=(akid, secret)).status_code == 401
