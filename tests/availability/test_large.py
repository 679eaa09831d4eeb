"""A layer larger than 5 GiB (S3's largest single PUT) streams through Berth into Garage and
back out, verified end to end."""
import hashlib

import requests

from conftest import MIB, Cluster, absolute

SIZE = 5 * 1024 * MIB + 3 * MIB + 17  # over 5 GiB, not a whole number of parts


def test_a_layer_over_5_gib_round_trips(garage):
    c = Cluster(garage, 1)
    try:
        url = c.urls[0]
        block = bytes(range(256)) * 4096  # 1 MiB
        h = hashlib.sha256()
        full, rest = divmod(SIZE, MIB)
        for _ in range(full):
            h.update(block)
        h.update(block[:rest])
        digest = "sha256:" + h.hexdigest()

        def body():
            for _ in range(full):
                yield block
            yield block[:rest]

        r = requests.post(f"{url}/v2/big/layer/blobs/uploads/")
        assert r.status_code == 202
        r = requests.patch(absolute(url, r.headers["Location"]), data=body(),
                           headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 202, r.text
        r = requests.put(absolute(url, r.headers["Location"]), params={"digest": digest})
        assert r.status_code == 201, r.text
        head = requests.head(f"{url}/v2/big/layer/blobs/{digest}")
        assert int(head.headers["Content-Length"]) == SIZE
        # Stream it back and hash it; also a range across a part boundary.
        got = hashlib.sha256()
        n = 0
        with requests.get(f"{url}/v2/big/layer/blobs/{digest}", stream=True) as g:
            assert g.status_code == 200
            for chunk in g.iter_content(MIB):
                got.update(chunk)
                n += len(chunk)
        assert n == SIZE and "sha256:" + got.hexdigest() == digest
        start = 8 * MIB - 5
        r = requests.get(f"{url}/v2/big/layer/blobs/{digest}",
                         headers={"Range": f"bytes={start}-{start + 9}"})
        assert r.status_code == 206
        assert r.content == (block * 9)[start:start + 10]
    finally:
        c.stop()
