"""A minimal OCI image (config blob + one layer + manifest) for tests that push through the API."""
import hashlib
import json
import uuid

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Image:
    """A minimal OCI image: config blob + layers + manifest, unique per seed. `layers`: the
    layers' bytes (default: one small layer made from the seed)."""

    def __init__(self, seed=None, layers=None):
        seed = seed or uuid.uuid4().hex
        self.layers = list(layers) if layers is not None else [f"layer {seed} ".encode() * 50]
        self.layer = self.layers[0] if self.layers else None
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(x) for x in self.layers]},
            "config": {"Labels": {"seed": seed}},
        }, sort_keys=True).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(self.config), "size": len(self.config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)} for x in self.layers],
        }, sort_keys=True).encode()

    @property
    def config_digest(self):
        return sha256(self.config)

    @property
    def layer_digest(self):
        return sha256(self.layer)

    @property
    def digest(self):
        return sha256(self.manifest)

    def blobs(self):
        return [(self.config_digest, self.config)] + [(sha256(x), x) for x in self.layers]
