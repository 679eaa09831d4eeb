"""Replicas over one PostgreSQL and one Garage: any request may go to any replica. Each replica
of the module's cluster has a blob cache directory of its own (`storage.cache_dir`)."""
import base64
import json
import os
import random
import re
import threading
import time

import pytest
import requests

from conftest import (MIB, REPLICA_BOUND, Cluster, absolute, assert_served, cached_digests,
                      pull_image, push_blob, push_image, sha256, wait_until)
from testkit import within


@pytest.fixture(scope="module")
def cluster(garage):
    c = Cluster(garage, 3, cache=True)
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
        done = time.monotonic()
        # One winner: the tag names one of the two manifests in the database, and every replica
        # serves that one within the bound (replica caches hear about the move at commit).
        winner = cluster.tag_in_database(repo, "latest")
        assert winner in (results["a"][0], results["b"][0]), (winner, results)
        for url in cluster.urls:
            within(REPLICA_BOUND, lambda: assert_served(url, repo, "latest", winner), since=done)
        # Both manifests are intact and pullable by digest, through either replica.
        for digest, manifest in results.values():
            assert pull_image(b, repo, digest) == manifest


def test_a_tag_moved_through_one_replica_is_seen_moved_by_the_others(cluster):
    a, b, c = cluster.urls
    repo = "avail/moving"
    first, _ = push_image(a, repo, "stable", [b"one" * 100])
    for url in (b, c):  # read it often enough to be cached everywhere
        for _ in range(5):
            assert_served(url, repo, "stable", first)
    second, manifest = push_image(a, repo, "stable", [b"two" * 100])
    moved = time.monotonic()
    for url in (b, c):
        within(REPLICA_BOUND, lambda: assert_served(url, repo, "stable", second), since=moved)
        r = requests.get(f"{url}/v2/{repo}/manifests/stable")
        assert r.status_code == 200 and r.content == manifest
    # Deleting through one replica: the others stop serving it.
    assert requests.delete(f"{c}/v2/{repo}/manifests/{second}").status_code == 202
    deleted = time.monotonic()

    def gone(url):
        r = requests.get(f"{url}/v2/{repo}/manifests/stable")
        assert r.status_code == 404, f"{url} still serves a deleted manifest: {r.status_code}"

    for url in (a, b):
        within(REPLICA_BOUND, lambda: gone(url), since=deleted)


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
        deadline = time.monotonic() + 120
        while sent["n"] < size // 2 and time.monotonic() < deadline:
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
    d = push_blob(a, "avail/redirect", data)
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
    attached = time.monotonic()

    def status(url, path, expected, **kw):
        r = requests.get(f"{url}{path}", **kw)
        assert r.status_code == expected, (url, path, r.status_code, r.text[:200])

    # "applies on every replica within a second": measured from the command's return.
    for url in (a, b, c):
        within(REPLICA_BOUND, lambda: status(url, "/v2/avail/ci/x/tags/list", 404,
                                             auth=(akid, secret)), since=attached)
        print(f"policy applied on {url} {time.monotonic() - attached:.2f} s after the command")
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
    disabled = time.monotonic()
    for url in (a, b, c):
        within(REPLICA_BOUND, lambda: status(url, f"/v2/avail/ci/x/blobs/{sha256(data)}", 401,
                                             headers={"Authorization": f"Bearer {t}"}),
               since=disabled)
        print(f"key disabled on {url} {time.monotonic() - disabled:.2f} s after the command")
        assert requests.get(f"{url}/v2/", auth=(akid, secret)).status_code == 401


def test_blob_caches_fill_per_replica_and_never_serve_a_blob_deleted_elsewhere(cluster):
    ra, rb, rc = cluster.replicas[:3]
    a, b, c = ra.url, rb.url, rc.url
    repo = "avail/cached"
    data = os.urandom(2 * MIB + 7)
    # Pushed in one request from its first byte: the replica that took it keeps a copy.
    d = push_blob(a, repo, data)
    wait_until(lambda: d in cached_digests(ra.cache_dir), 10, "A's write-through copy")
    # Downloaded whole through another replica: that one keeps a copy too.
    got = requests.get(f"{b}/v2/{repo}/blobs/{d}")
    assert got.status_code == 200 and got.content == data
    wait_until(lambda: d in cached_digests(rb.cache_dir), 10, "B's copy from the download")
    for url in (a, b):  # and serves it
        got = requests.get(f"{url}/v2/{repo}/blobs/{d}")
        assert got.status_code == 200 and got.content == data
        part = requests.get(f"{url}/v2/{repo}/blobs/{d}", headers={"Range": "bytes=5-9"})
        assert part.status_code == 206 and part.content == data[5:10]
    # A ranged download through a third replica is served, and keeps no copy of a part.
    part = requests.get(f"{c}/v2/{repo}/blobs/{d}", headers={"Range": "bytes=5-9"})
    assert part.status_code == 206 and part.content == data[5:10]
    # Deleted through that replica: no replica serves it any more, cached or not.
    r = requests.delete(f"{c}/v2/{repo}/blobs/{d}")
    assert r.status_code == 202, r.text
    for url in (a, b, c):
        r = requests.get(f"{url}/v2/{repo}/blobs/{d}")
        assert r.status_code == 404, (url, r.status_code)
        assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"
        assert requests.head(f"{url}/v2/{repo}/blobs/{d}").status_code == 404
        assert requests.get(f"{url}/v2/{repo}/blobs/{d}",
                            headers={"Range": "bytes=0-9"}).status_code == 404
    # Every copy any replica holds is a whole blob the registry stored (never a partial upload:
    # the chunked upload that moved between replicas above was never cached from its parts).
    stored = set(cluster.psql("SELECT digest FROM blobs").splitlines())
    assert d in stored
    for r in cluster.replicas:
        copies = cached_digests(r.cache_dir)
        assert copies <= stored, (r.url, copies - stored)


def jwt_kid(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


def test_signing_keys_rotate_across_replicas_and_restarts(garage):
    """auth.key_rotation_secs = 4: the running registry makes a new signing key once the current
    one is due, with no restart; every replica signs with it within the bound; tokens signed with
    older keys still verify everywhere, and a restart of every replica loses no key."""
    rotation = 4
    c = Cluster(garage, 2, env={"BERTH_AUTH__KEY_ROTATION_SECS": str(rotation)})
    repo = "keys/app"
    try:
        a, b = c.urls
        data = os.urandom(1000)
        d = push_blob(a, repo, data)

        def token(url):
            r = requests.get(f"{url}/token", params={"service": "berth",
                                                     "scope": f"repository:{repo}:pull"})
            assert r.status_code == 200, r.text
            return r.json()["token"]

        def pulls(url, t):
            r = requests.get(f"{url}/v2/{repo}/blobs/{d}", headers={"Authorization": f"Bearer {t}"})
            assert r.status_code == 200 and r.content == data, (url, r.status_code, r.text[:200])

        def keys():
            rows = c.psql("SELECT kid, created_at FROM signing_keys").splitlines()
            return {kid: int(at) for kid, at in (row.split("|") for row in rows)}

        def signs_with(url, kid):
            assert jwt_kid(token(url)) == kid

        t1 = token(a)
        k1 = jwt_kid(t1)
        assert list(keys()) == [k1]
        # The running replicas rotate by themselves once k1 is `rotation` seconds old (checked
        # every `rotation` seconds at most, so within two rotations).
        wait_until(lambda: len(keys()) > 1, 2 * rotation + REPLICA_BOUND, "a rotation while running")
        rotated = time.monotonic()

        def newest():
            # The key a replica signs with: the newest, the smallest kid among equals. Both
            # replicas may have rotated at once; the newest key is the one they agree on.
            return min(keys().items(), key=lambda kv: (-kv[1], kv[0]))[0]

        def all_sign_with_newest():
            k = newest()
            assert k != k1
            for url in (a, b):
                signs_with(url, k)
            return k
        # Every replica signs with the new key within the bound (long before it is due again) ...
        k2 = within(REPLICA_BOUND, all_sign_with_newest, since=rotated)
        t2 = token(b)
        # ... and every token verifies on every replica, whichever key signed it.
        for url in (a, b):
            pulls(url, t1)
            pulls(url, t2)
        # Every replica restarts: every token issued so far still verifies on every replica,
        # and the new replicas' tokens verify on each other.
        c.restart_all()
        restarted = time.monotonic()
        assert {k1, k2} <= set(keys()), keys()
        fresh = [token(url) for url in c.urls]
        for url in c.urls:
            pulls(url, t1)
            pulls(url, t2)
            for t in fresh:
                within(REPLICA_BOUND, lambda: pulls(url, t), since=restarted)
    finally:
        c.stop()
