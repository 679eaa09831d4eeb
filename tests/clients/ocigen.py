"""Generate small OCI image layouts (the `oci:` transport of skopeo) for the client tests.

Adapted from shared/bench/make_image.py. Each layer is a real tar (a directory entry and one
file of random bytes) wrapped in gzip at level 0, so the blob is a valid
application/vnd.oci.image.layer.v1.tar+gzip that clients neither recompress nor reject, and
every image is unique (random payload + nonce label). Standard library only.
"""
import io
import json
import os
import tarfile
import time
import zlib

from ociimage import sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def _dump(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class Layout:
    """An OCI image layout directory."""

    def __init__(self, root):
        self.root = root
        self.blob_dir = os.path.join(root, "blobs", "sha256")
        os.makedirs(self.blob_dir, exist_ok=True)
        with open(os.path.join(root, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.index_path = os.path.join(root, "index.json")
        if not os.path.exists(self.index_path):
            self._write_index({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})

    def _write_index(self, index):
        with open(self.index_path, "w") as f:
            json.dump(index, f)

    def index(self):
        with open(self.index_path) as f:
            return json.load(f)

    def put(self, data):
        d = sha256(data)
        with open(os.path.join(self.blob_dir, d.split(":", 1)[1]), "wb") as f:
            f.write(data)
        return d

    def blob(self, digest):
        with open(os.path.join(self.blob_dir, digest.split(":", 1)[1]), "rb") as f:
            return f.read()

    def has(self, digest):
        return os.path.exists(os.path.join(self.blob_dir, digest.split(":", 1)[1]))

    def add_ref(self, media_type, digest, size, ref):
        index = self.index()
        index["manifests"] = [m for m in index["manifests"]
                              if (m.get("annotations") or {}).get(REF_NAME) != ref]
        index["manifests"].append({"mediaType": media_type, "digest": digest, "size": size,
                                   "annotations": {REF_NAME: ref}})
        self._write_index(index)

    def ref(self, ref):
        """Descriptor in index.json for a ref name (tag)."""
        for m in self.index()["manifests"]:
            if (m.get("annotations") or {}).get(REF_NAME) == ref:
                return m
        raise KeyError(f"{ref} not in {self.index_path}")

    def all_blob_digests(self):
        return sorted("sha256:" + n for n in os.listdir(self.blob_dir) if not n.startswith("."))


def make_layer_bytes(idx, size, mtime):
    """(gzip-level-0 tar blob, diff_id, payload bytes)"""
    payload = os.urandom(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        d = tarfile.TarInfo("data/")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, mtime
        tf.addfile(d)
        fi = tarfile.TarInfo("data/layer-%03d.bin" % idx)
        fi.size, fi.mode, fi.mtime = len(payload), 0o644, mtime
        tf.addfile(fi, io.BytesIO(payload))
    tar = raw.getvalue()
    comp = zlib.compressobj(0, zlib.DEFLATED, 31)
    blob = comp.compress(tar) + comp.flush()
    return blob, sha256(tar), payload


def make_image(layout, layers=3, sizes=(96 << 10, 160 << 10, 256 << 10), arch="amd64"):
    """Write the blobs of one image into `layout` (no index entry). Returns a dict:
    manifest (bytes), digest, config_digest, layers (list of digests), payloads {digest: bytes}."""
    mtime = int(time.time())
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))
    descs, diff_ids, payloads = [], [], {}
    for i in range(layers):
        blob, diff_id, payload = make_layer_bytes(i, sizes[i % len(sizes)], mtime)
        d = layout.put(blob)
        descs.append({"mediaType": OCI_LAYER_GZIP, "digest": d, "size": len(blob)})
        diff_ids.append(diff_id)
        payloads[d] = payload
    config = {
        "created": created, "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/data/layer-000.bin"],
                   "Labels": {"berth.test.nonce": os.urandom(8).hex()}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": "ocigen layer %d" % i} for i in range(layers)],
    }
    cbytes = _dump(config)
    cdg = layout.put(cbytes)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": cdg, "size": len(cbytes)},
                "layers": descs}
    mbytes = _dump(manifest)
    mdg = layout.put(mbytes)
    return {"manifest": mbytes, "digest": mdg, "config_digest": cdg,
            "layers": [l["digest"] for l in descs], "payloads": payloads, "arch": arch}


def make_layout(root, tag="latest", **kw):
    """A layout with one image tagged `tag`. Returns make_image()'s dict plus 'layout'."""
    layout = Layout(root)
    img = make_image(layout, **kw)
    layout.add_ref(OCI_MANIFEST, img["digest"], len(img["manifest"]), tag)
    img["layout"] = layout
    return img


def make_multiarch_layout(root, tag="latest", arches=("amd64", "arm64"), layers=2):
    """A layout whose `tag` is an image index over one image per architecture.
    Returns {'layout', 'index' (bytes), 'digest', 'images': {arch: image dict}}."""
    layout = Layout(root)
    images, entries = {}, []
    for arch in arches:
        img = make_image(layout, layers=layers, sizes=(64 << 10, 128 << 10), arch=arch)
        images[arch] = img
        entries.append({"mediaType": OCI_MANIFEST, "digest": img["digest"],
                        "size": len(img["manifest"]),
                        "platform": {"architecture": arch, "os": "linux"}})
    ibytes = _dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
    idg = layout.put(ibytes)
    layout.add_ref(OCI_INDEX, idg, len(ibytes), tag)
    return {"layout": layout, "index": ibytes, "digest": idg, "images": images}


def tar_layout(root, out_tar):
    """Tar an OCI layout directory into an OCI archive (e.g. for `ctr images import`)."""
    with tarfile.open(out_tar, "w") as tf:
        for name in ("oci-layout", "index.json", "blobs"):
            tf.add(os.path.join(root, name), arcname=name)
    return out_tar
