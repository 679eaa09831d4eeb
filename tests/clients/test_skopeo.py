"""skopeo against the registry: push an OCI layout, inspect, list-tags, pull back, v2s2
conversion, multi-arch index with --all, delete.

skopeo logs in once per session (`skopeo login`, fixture skopeo_login) into the session's
private REGISTRY_AUTH_FILE, which every skopeo command below reads."""
import json

import pytest

from conftest import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, run, sha256
from ocigen import make_layout, make_multiarch_layout, Layout

pytestmark = pytest.mark.usefixtures("skopeo_login")

TLS = "--tls-verify=false"


def skopeo(*args, **kw):
    return run(["skopeo", "--insecure-policy", *args], **kw)


def copy(src, dst, *extra):
    return skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", "-q", *extra, src, dst)


def assert_layout_matches_registry(api, repo, img):
    """The registry holds exactly the manifest/config/layer bytes of `img`."""
    body, ctype, dg = api.get_manifest(repo, img["digest"])
    assert body == img["manifest"]
    assert ctype == OCI_MANIFEST
    layout = img["layout"]
    for d in [img["config_digest"], *img["layers"]]:
        assert api.get_blob(repo, d) == layout.blob(d)


def test_push_inspect_listtags_pull_roundtrip(registry, api, repo, tmp_path):
    img = make_layout(str(tmp_path / "src"), tag="v1", layers=4)
    digestfile = tmp_path / "digest"
    copy(f"oci:{tmp_path}/src:v1", f"docker://{registry.hostport}/{repo}:v1",
         "--digestfile", str(digestfile))
    # skopeo reports the digest of what it pushed; nothing was converted, so it is the source's
    assert digestfile.read_text().strip() == img["digest"]
    assert api.head_manifest_digest(repo, "v1") == img["digest"]
    assert_layout_matches_registry(api, repo, img)

    # skopeo inspect: digest, layers and raw manifest bytes
    info = json.loads(skopeo("inspect", TLS, f"docker://{registry.hostport}/{repo}:v1").stdout)
    assert info["Digest"] == img["digest"]
    assert info["Layers"] == img["layers"]
    assert info["Architecture"] == "amd64"
    raw = skopeo("inspect", TLS, "--raw", f"docker://{registry.hostport}/{repo}:v1").stdout
    assert sha256(raw.encode()) == img["digest"]
    cfg = skopeo("inspect", TLS, "--config", "--raw", f"docker://{registry.hostport}/{repo}:v1").stdout
    assert sha256(cfg.encode()) == img["config_digest"]

    # more tags, then list-tags
    for t in ("v2", "latest"):
        copy(f"docker://{registry.hostport}/{repo}:v1", f"docker://{registry.hostport}/{repo}:{t}")
        assert api.head_manifest_digest(repo, t) == img["digest"]
    tags = json.loads(skopeo("list-tags", TLS, f"docker://{registry.hostport}/{repo}").stdout)
    assert tags["Repository"] == f"{registry.hostport}/{repo}"
    assert sorted(tags["Tags"]) == ["latest", "v1", "v2"]
    assert sorted(api.tags(repo)) == ["latest", "v1", "v2"]

    # pull back into a fresh layout, by tag and by digest: every blob byte-for-byte equal
    for ref in (":v2", "@" + img["digest"]):
        out = tmp_path / ("back" + ref.replace(":", "-").replace("@", "-"))
        copy(f"docker://{registry.hostport}/{repo}{ref}", f"oci:{out}:pulled")
        back = Layout(str(out))
        desc = back.ref("pulled")
        assert desc["digest"] == img["digest"]
        assert back.blob(img["digest"]) == img["manifest"]
        assert back.all_blob_digests() == img["layout"].all_blob_digests()
        for d in back.all_blob_digests():
            assert back.blob(d) == img["layout"].blob(d)
            assert sha256(back.blob(d)) == d


def test_copy_as_docker_v2s2(registry, api, repo, tmp_path):
    img = make_layout(str(tmp_path / "src"), tag="v1", layers=3)
    digestfile = tmp_path / "digest"
    copy(f"oci:{tmp_path}/src:v1", f"docker://{registry.hostport}/{repo}:v2s2",
         "--format", "v2s2", "--digestfile", str(digestfile))
    body, ctype, dg = api.get_manifest(repo, "v2s2")
    assert ctype == DOCKER_MANIFEST
    assert dg == digestfile.read_text().strip()
    assert dg != img["digest"]  # converted manifest
    m = json.loads(body)
    assert m["mediaType"] == DOCKER_MANIFEST
    assert m["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    # layers are not recompressed by the conversion: same blobs, docker media types
    assert [l["digest"] for l in m["layers"]] == img["layers"]
    assert {l["mediaType"] for l in m["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    for l in m["layers"]:
        assert api.get_blob(repo, l["digest"]) == img["layout"].blob(l["digest"])
    cfg = api.get_blob(repo, m["config"]["digest"])
    assert json.loads(cfg)["rootfs"] == json.loads(img["layout"].blob(img["config_digest"]))["rootfs"]

    info = json.loads(skopeo("inspect", TLS, f"docker://{registry.hostport}/{repo}:v2s2").stdout)
    assert info["Digest"] == dg
    assert info["Layers"] == img["layers"]

    # pull the v2s2 image back as-is (docker-archive keeps the layer bytes) and as OCI
    out = tmp_path / "back"
    copy(f"docker://{registry.hostport}/{repo}:v2s2", f"oci:{out}:pulled")
    back = Layout(str(out))
    pulled = json.loads(back.blob(back.ref("pulled")["digest"]))
    assert [l["digest"] for l in pulled["layers"]] == img["layers"]
    for d in img["layers"]:
        assert back.blob(d) == img["layout"].blob(d)
    # --preserve-digests copy of the v2s2 manifest into another tag keeps its digest
    copy(f"docker://{registry.hostport}/{repo}:v2s2", f"docker://{registry.hostport}/{repo}:again",
         "--preserve-digests")
    assert api.head_manifest_digest(repo, "again", accept=DOCKER_MANIFEST) == dg


def test_multiarch_index_copy_all(registry, api, repo, tmp_path):
    ma = make_multiarch_layout(str(tmp_path / "src"), tag="multi", arches=("amd64", "arm64", "s390x"))
    digestfile = tmp_path / "digest"
    copy(f"oci:{tmp_path}/src:multi", f"docker://{registry.hostport}/{repo}:multi",
         "--all", "--digestfile", str(digestfile))
    assert digestfile.read_text().strip() == ma["digest"]
    body, ctype, dg = api.get_manifest(repo, "multi")
    assert ctype == OCI_INDEX
    assert body == ma["index"] and dg == ma["digest"]
    layout = ma["layout"]
    for arch, img in ma["images"].items():
        mb, mctype, _ = api.get_manifest(repo, img["digest"])
        assert mb == img["manifest"] and mctype == OCI_MANIFEST
        for d in [img["config_digest"], *img["layers"]]:
            assert api.get_blob(repo, d) == layout.blob(d)
        # skopeo resolves the platform through the index
        info = json.loads(skopeo("inspect", TLS, "--override-arch", arch, "--override-os", "linux",
                                 f"docker://{registry.hostport}/{repo}:multi").stdout)
        # (skopeo reports the digest of the reference itself, i.e. the index)
        assert info["Digest"] == ma["digest"], arch
        assert info["Architecture"] == arch
        assert info["Layers"] == img["layers"], arch
    raw = skopeo("inspect", TLS, "--raw", f"docker://{registry.hostport}/{repo}:multi").stdout
    assert raw.encode() == ma["index"]

    # pull everything back with --all
    out = tmp_path / "back"
    copy(f"docker://{registry.hostport}/{repo}:multi", f"oci:{out}:multi", "--all")
    back = Layout(str(out))
    assert back.ref("multi")["digest"] == ma["digest"]
    assert back.all_blob_digests() == layout.all_blob_digests()
    for d in back.all_blob_digests():
        assert back.blob(d) == layout.blob(d)


def test_delete(registry, api, repo, tmp_path):
    img = make_layout(str(tmp_path / "src"), tag="v1", layers=2)
    copy(f"oci:{tmp_path}/src:v1", f"docker://{registry.hostport}/{repo}:doomed")
    copy(f"oci:{tmp_path}/src:v1", f"docker://{registry.hostport}/{repo}:keep-blobs-ref")
    assert api.manifest_status(repo, "doomed") == 200
    assert api.manifest_status(repo, img["digest"]) == 200
    # skopeo delete resolves the tag to the manifest digest and DELETEs the manifest
    skopeo("delete", TLS, f"docker://{registry.hostport}/{repo}:doomed")
    assert api.manifest_status(repo, img["digest"]) == 404
    assert api.manifest_status(repo, "doomed") == 404
    assert api.manifest_status(repo, "keep-blobs-ref") == 404  # same manifest, also gone
    p = skopeo("inspect", TLS, f"docker://{registry.hostport}/{repo}:doomed", check=False)
    assert p.returncode != 0
    # the repository stays (its blobs are still there), without a tag
    r = api.s.get(f"{api.url}/v2/{repo}/tags/list", timeout=60)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": repo, "tags": []}
    for d in [img["config_digest"], *img["layers"]]:
        assert api.blob_status(repo, d) == 200

    # the repository still accepts a fresh push of the same content afterwards
    copy(f"oci:{tmp_path}/src:v1", f"docker://{registry.hostport}/{repo}:again")
    assert api.head_manifest_digest(repo, "again") == img["digest"]
    assert api.get_manifest(repo, "again")[0] == img["manifest"]
