#!/usr/bin/env python3
"""Helpers for bench/production.sh (Python 3 standard library + the `openssl` command).

  prod_gen.py blob OUT SIZE
      OUT = SIZE bytes of fresh pseudo-random data (AES-128-CTR keystream under a random key, from
      `openssl enc`: ~1 GB/s, every 1 MiB different from any other run, so Garage's content-addressed
      block store cannot deduplicate one upload against an earlier one). Prints "sha256:<hex> <size>".
  prod_gen.py image OUT SIZE[,SIZE...]
      OCI image layout in OUT with one layer per SIZE (fresh random data as above, wrapped in a tar and
      in gzip *stored* blocks: a valid tar+gzip layer whose bytes stay incompressible, so skopeo pushes it
      as-is). Prints "<manifest digest> <total bytes of layers+config>".
  prod_gen.py tag BASE REPO SRC_TAG N [THREADS] [PREFIX]
      PUT the manifest of REPO:SRC_TAG under N tags PREFIX000000.. with THREADS (16) keep-alive
      connections. Prints "<tags created> <seconds>".
  prod_gen.py tagsql N PREFIX
      SQL (on stdout) inserting N tags PREFIX000000.. for the one repository/manifest in a Berth
      PostgreSQL database (fallback when the HTTP path is too slow; not used by default).
  prod_gen.py pct FILE           p50/p99/mean/n of a column of numbers (seconds) -> "p50_ms p99_ms mean_ms n"
"""
import concurrent.futures
import hashlib
import http.client
import json
import os
import struct
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import zlib

CHUNK = 4 << 20
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


def parse_size(s):
    s = s.strip().upper().rstrip("B").rstrip("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


class Keystream:
    """Exactly n bytes of AES-128-CTR keystream under a fresh random key (openssl enc on /dev/zero)."""

    def __init__(self, n):
        self.left = n
        self.p = subprocess.Popen(
            ["openssl", "enc", "-aes-128-ctr", "-nosalt", "-K", os.urandom(16).hex(),
             "-iv", os.urandom(16).hex(), "-in", "/dev/zero"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def chunks(self):
        f = self.p.stdout
        while self.left > 0:
            want = min(CHUNK, self.left)
            buf = bytearray(want)
            mv = memoryview(buf)
            got = 0
            while got < want:
                r = f.readinto(mv[got:])
                if not r:
                    raise SystemExit("openssl keystream ended early")
                got += r
            self.left -= want
            yield bytes(buf)
        self.p.kill()
        self.p.wait()


class Hasher:
    """sha256 in a worker thread (hashlib releases the GIL): overlaps hashing with generation."""

    def __init__(self, pool):
        self.h = hashlib.sha256()
        self.pool = pool
        self.last = None

    def update(self, data):
        if self.last is not None:
            self.last.result()
        self.last = self.pool.submit(self.h.update, data)

    def hexdigest(self):
        if self.last is not None:
            self.last.result()
        return self.h.hexdigest()


def cmd_blob(out, size):
    n = parse_size(size)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        h = Hasher(pool)
        with open(out + ".tmp", "wb") as f:
            for c in Keystream(n).chunks():
                h.update(c)
                f.write(c)
        d = h.hexdigest()
    os.replace(out + ".tmp", out)
    print("sha256:%s %d" % (d, n))


def tar_header(name, size, typ, mode, mtime):
    ti = tarfile.TarInfo(name)
    ti.size, ti.type, ti.mode, ti.mtime = size, typ, mode, mtime
    ti.uname = ti.gname = "root"
    return ti.tobuf(format=tarfile.USTAR_FORMAT)


def write_layer(blob_dir, idx, size, mtime, pool):
    """tar (dir + one file of random bytes) in gzip stored blocks; returns (digest, size, diff_id)."""
    payload = max(0, size - 512 * 4 - 64)
    tmp = os.path.join(blob_dir, ".tmp-%d-%d" % (os.getpid(), idx))
    h_blob, h_diff = Hasher(pool), Hasher(pool)
    crc = 0
    isize = 0
    nblob = 0
    with open(tmp, "wb") as f:
        def out(b):
            nonlocal nblob
            h_blob.update(b)
            f.write(b)
            nblob += len(b)

        out(b"\x1f\x8b\x08\x00" + struct.pack("<I", mtime) + b"\x00\xff")

        def emit(raw):   # raw tar bytes -> stored deflate blocks (<= 65535 bytes each, never final)
            nonlocal crc, isize
            h_diff.update(raw)
            crc = zlib.crc32(raw, crc)
            isize += len(raw)
            mv = memoryview(raw)
            parts = []
            for o in range(0, len(raw), 65535):
                blk = mv[o:o + 65535]
                parts.append(struct.pack("<BHH", 0, len(blk), 0xFFFF ^ len(blk)))
                parts.append(blk)
            out(b"".join(parts))

        emit(tar_header("data/", 0, tarfile.DIRTYPE, 0o755, mtime)
             + tar_header("data/layer-%03d.bin" % idx, payload, tarfile.REGTYPE, 0o644, mtime))
        for c in Keystream(payload).chunks():
            emit(c)
        emit(b"\0" * ((-payload) % 512 + 1024))
        # empty final stored block, then the gzip trailer
        out(struct.pack("<BHH", 1, 0, 0xFFFF) + struct.pack("<II", crc & 0xFFFFFFFF, isize & 0xFFFFFFFF))
    d = h_blob.hexdigest()
    os.replace(tmp, os.path.join(blob_dir, d))
    return "sha256:" + d, nblob, "sha256:" + h_diff.hexdigest()


def put_json(blob_dir, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blob_dir, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)


def cmd_image(out, sizes):
    blob_dir = os.path.join(out, "blobs", "sha256")
    os.makedirs(blob_dir, exist_ok=True)
    mtime = int(time.time())
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))
    layers, diff_ids = [], []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for i, s in enumerate(sizes.split(",")):
            dg, n, diff = write_layer(blob_dir, i, parse_size(s), mtime, pool)
            layers.append({"mediaType": MEDIA_LAYER, "digest": dg, "size": n})
            diff_ids.append(diff)
    config = {
        "created": created, "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Labels": {"bench.nonce": os.urandom(8).hex()}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": "prod_gen.py layer %d" % i} for i in range(len(layers))],
    }
    cdg, csz = put_json(blob_dir, config)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdg, "size": csz},
                "layers": layers}
    mdg, msz = put_json(blob_dir, manifest)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdg,
                            "size": msz, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    print("%s %d" % (mdg, sum(l["size"] for l in layers) + csz))


def cmd_tag(base, repo, src, n, threads=16, prefix="t"):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request("GET", "/v2/%s/manifests/%s" % (repo, src), headers={"Accept": ACCEPT})
    r = c.getresponse()
    body = r.read()
    if r.status != 200:
        sys.exit("GET manifest %s:%s -> %d %r" % (repo, src, r.status, body[:200]))
    ctype = r.headers.get("Content-Type")
    c.close()
    local = threading.local()
    errors = []

    def put(i):
        conn = getattr(local, "c", None)
        for attempt in range(3):
            try:
                if conn is None:
                    conn = local.c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
                conn.request("PUT", "/v2/%s/manifests/%s%06d" % (repo, prefix, i), body=body,
                             headers={"Content-Type": ctype})
                rr = conn.getresponse()
                rr.read()
                if rr.status != 201:
                    errors.append("%d: %d" % (i, rr.status))
                    return 0
                return 1
            except (http.client.HTTPException, OSError):
                conn = local.c = None
        errors.append("%d: connection errors" % i)
        return 0

    t = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        ok = sum(pool.map(put, range(n), chunksize=64))
    secs = time.perf_counter() - t
    if errors:
        print("tag errors (%d), first: %s" % (len(errors), errors[:3]), file=sys.stderr)
    print("%d %.3f" % (ok, secs))


def cmd_tagsql(n, prefix):
    print("BEGIN;")
    print("INSERT INTO tags (repository_id, name, manifest_digest, updated_at) "
          "SELECT t.repository_id, '%s' || lpad(g::text, 6, '0'), t.manifest_digest, t.updated_at "
          "FROM (SELECT repository_id, manifest_digest, updated_at FROM tags LIMIT 1) t, "
          "generate_series(0, %d) g ON CONFLICT DO NOTHING;" % (prefix, n - 1))
    print("COMMIT;")


def cmd_pct(path):
    xs = sorted(float(x) for x in open(path).read().split() if x.strip())
    if not xs:
        print("nan nan nan 0")
        return

    def q(p):   # nearest-rank percentile
        k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
        return xs[k]
    print("%.3f %.3f %.3f %d" % (q(50) * 1e3, q(99) * 1e3, sum(xs) / len(xs) * 1e3, len(xs)))


def main():
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "blob" and len(a) == 3:
        cmd_blob(a[1], a[2])
    elif a[0] == "image" and len(a) == 3:
        cmd_image(a[1], a[2])
    elif a[0] == "tag" and len(a) >= 5:
        cmd_tag(a[1], a[2], a[3], int(a[4]), int(a[5]) if len(a) > 5 else 16, a[6] if len(a) > 6 else "t")
    elif a[0] == "tagsql" and len(a) == 3:
        cmd_tagsql(int(a[1]), a[2])
    elif a[0] == "pct" and len(a) == 2:
        cmd_pct(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
