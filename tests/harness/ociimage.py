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
    """A minimal OCI image: config blob + one layer + manifest, unique per seed."""

    def __init__(self, seed=None):
        seed = seed or uuid.uuid4().hex
        self.layer = f"layer {seed} ".encode() * 50
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(self.layer)]},
            "config": {"Labels": {"seed": seed}},
        }, sort_keys=True).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(self.config), "size": len(self.config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(self.layer), "size": len(self.layer)}],
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
        return [(self.config_digest, self.config), (self.layer_digest, self.layer)]
