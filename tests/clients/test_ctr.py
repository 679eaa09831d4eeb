"""containerd's `ctr` push/pull against the registry (--plain-http).

The test starts its own containerd (temp root/state, a socket in a temp dir, CRI plugin off,
content_sharing_policy = "isolated" so that a pull into a second namespace really downloads
every blob instead of reusing the bytes the push namespace already has). If that daemon
cannot start it falls back to an already running containerd (/run/containerd or Docker's
/var/run/docker/containerd) with namespaces of its own. If no containerd can be reached the
test FAILS: it never skips.

ctr has no login command: every push/pull passes `--user akid:secret` (fixture ctr_user), and
ctr runs the token flow (challenge, POST/GET /token) itself."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import OCI_INDEX, OCI_MANIFEST, run
from ocigen import make_layout, make_multiarch_layout, tar_layout

EXISTING_SOCKETS = ["/run/containerd/containerd.sock", "/var/run/docker/containerd/containerd.sock"]

CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
"""


def _ctr_ok(sock):
    try:
        return subprocess.run(["ctr", "--address", sock, "version"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def containerd():
    """Yields the socket address of a usable containerd."""
    errors = []
    if shutil.which("ctr") is None:
        pytest.fail("ctr not installed (apt-get install containerd; scripts/install-deps.sh)")
    proc, d = None, None
    if shutil.which("containerd"):
        # short path: unix socket paths are limited to ~108 bytes
        d = tempfile.mkdtemp(prefix="bctrd-", dir="/tmp")
        with open(os.path.join(d, "config.toml"), "w") as f:
            f.write(CONFIG.format(d=d))
        log = open(os.path.join(d, "containerd.log"), "wb")
        proc = subprocess.Popen(["containerd", "--config", os.path.join(d, "config.toml")],
                                stdout=log, stderr=subprocess.STDOUT)
        sock = os.path.join(d, "containerd.sock")
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(sock) and _ctr_ok(sock):
                break
            time.sleep(0.2)
        if proc.poll() is None and _ctr_ok(sock):
            try:
                yield {"address": sock, "own": True}
            finally:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                shutil.rmtree(d, ignore_errors=True)
            return
        with open(os.path.join(d, "containerd.log"), errors="replace") as f:
            errors.append(f"own containerd did not come up: {f.read()[-2000:]}")
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    else:
        errors.append("containerd binary not found")
    for sock in EXISTING_SOCKETS:
        if os.path.exists(sock) and _ctr_ok(sock):
            yield {"address": sock, "own": False}
            return
        errors.append(f"{sock}: not usable")
    pytest.fail("no containerd can run or be reached here:\n" + "\n".join(errors))


@pytest.fixture
def ctr(containerd):
    """ctr bound to the daemon; call as ctr(namespace, *args). Namespaces are unique per test
    and removed (with their images and content) afterwards."""
    suffix = uuid.uuid4().hex[:8]
    used = set()

    def c(ns, *args, **kw):
        ns = f"berthtest-{ns}-{suffix}"
        used.add(ns)
        return run(["ctr", "--address", containerd["address"], "-n", ns, *args], **kw)

    yield c
    for ns in used:
        base = ["ctr", "--address", containerd["address"], "-n", ns]
        imgs = run([*base, "images", "ls", "-q"], check=False).stdout.split()
        if imgs:
            run([*base, "images", "rm", "--sync", *imgs], check=False)
        blobs = [l.split()[0] for l in run([*base, "content", "ls", "-q"], check=False).stdout.splitlines() if l.strip()]
        if blobs:
            run([*base, "content", "rm", *blobs], check=False)
        for snap in run([*base, "snapshots", "--snapshotter", "native", "ls"], check=False).stdout.splitlines()[1:]:
            run([*base, "snapshots", "--snapshotter", "native", "rm", snap.split()[0]], check=False)
        run(["ctr", "--address", containerd["address"], "namespaces", "rm", ns], check=False)


def image_digest(ctr, ns, ref):
    for line in ctr(ns, "images", "ls").stdout.splitlines()[1:]:
        cols = line.split()
        if cols and cols[0] == ref:
            return cols[2]
    raise AssertionError(f"{ref} not in `ctr -n {ns} images ls`")


def test_import_push_pull_roundtrip(registry, api, repo, ctr, ctr_user, tmp_path):
    ref = f"{registry.hostport}/{repo}:v1"
    # ref.name annotation = full reference, so `ctr images import` names the image after it
    img = make_layout(str(tmp_path / "layout"), tag=ref, layers=3)
    archive = tar_layout(str(tmp_path / "layout"), str(tmp_path / "image.tar"))
    ctr("push", "images", "import", "--snapshotter", "native", archive)
    assert image_digest(ctr, "push", ref) == img["digest"]

    ctr("push", "images", "push", "--plain-http", *ctr_user, ref)
    # ctr pushes the manifest bytes it imported: the digest survives
    assert api.head_manifest_digest(repo, "v1") == img["digest"]
    body, ctype, _ = api.get_manifest(repo, "v1")
    assert body == img["manifest"] and ctype == OCI_MANIFEST
    for d in [img["config_digest"], *img["layers"]]:
        assert api.get_blob(repo, d) == img["layout"].blob(d)

    # pull into a second namespace (isolated content: everything is downloaded)
    ctr("pull", "images", "pull", "--plain-http", *ctr_user, "--snapshotter", "native", ref)
    assert image_digest(ctr, "pull", ref) == img["digest"]
    have = {l.split()[0] for l in ctr("pull", "content", "ls", "-q").stdout.splitlines() if l.strip()}
    assert {img["digest"], img["config_digest"], *img["layers"]} <= have
    for d in [img["digest"], img["config_digest"], *img["layers"]]:
        assert content_get(ctr, "pull", d) == img["layout"].blob(d), d

    # and by digest, into a third namespace
    ctr("pull2", "images", "pull", "--plain-http", *ctr_user, "--snapshotter", "native",
        f"{registry.hostport}/{repo}@{img['digest']}")
    assert content_get(ctr, "pull2", img["digest"]) == img["manifest"]
    for d in img["layers"]:
        assert content_get(ctr, "pull2", d) == img["layout"].blob(d)


def test_multiarch_index_push_pull_all_platforms(registry, api, repo, ctr, ctr_user, tmp_path):
    ref = f"{registry.hostport}/{repo}:multi"
    ma = make_multiarch_layout(str(tmp_path / "layout"), tag=ref, arches=("amd64", "arm64"))
    archive = tar_layout(str(tmp_path / "layout"), str(tmp_path / "image.tar"))
    ctr("push", "images", "import", "--all-platforms", "--no-unpack", archive)
    assert image_digest(ctr, "push", ref) == ma["digest"]
    ctr("push", "images", "push", "--plain-http", *ctr_user, ref)
    body, ctype, dg = api.get_manifest(repo, "multi")
    assert dg == ma["digest"] and body == ma["index"] and ctype == OCI_INDEX
    for img in ma["images"].values():
        assert api.get_manifest(repo, img["digest"])[0] == img["manifest"]
        for d in [img["config_digest"], *img["layers"]]:
            assert api.get_blob(repo, d) == ma["layout"].blob(d)

    ctr("pull", "images", "pull", "--plain-http", *ctr_user, "--all-platforms", "--snapshotter", "native", ref)
    assert image_digest(ctr, "pull", ref) == ma["digest"]
    assert content_get(ctr, "pull", ma["digest"]) == ma["index"]
    for img in ma["images"].values():
        assert content_get(ctr, "pull", img["digest"]) == img["manifest"]
        for d in [img["config_digest"], *img["layers"]]:
            assert content_get(ctr, "pull", d) == ma["layout"].blob(d)


def test_docker_save_archive_push_pull(registry, api, repo, ctr, ctr_user, tmp_path):
    """An image tar produced by skopeo's docker-archive: transport (Docker `save` format)."""
    img = make_layout(str(tmp_path / "layout"), tag="src", layers=2)
    ref = f"{registry.hostport}/{repo}:from-archive"
    run(["skopeo", "--insecure-policy", "copy", "-q", f"oci:{tmp_path}/layout:src",
         f"docker-archive:{tmp_path}/docker.tar:{ref}"])
    ctr("push", "images", "import", "--snapshotter", "native", str(tmp_path / "docker.tar"))
    local = image_digest(ctr, "push", ref)
    ctr("push", "images", "push", "--plain-http", *ctr_user, ref)
    assert api.head_manifest_digest(repo, "from-archive") == local
    body, _, _ = api.get_manifest(repo, "from-archive")
    man = json.loads(body)
    assert man["config"]["digest"] == img["config_digest"]
    assert api.get_blob(repo, img["config_digest"]) == img["layout"].blob(img["config_digest"])
    for l in man["layers"]:
        blob = api.get_blob(repo, l["digest"])
        assert content_get(ctr, "push", l["digest"]) == blob
    ctr("pull", "images", "pull", "--plain-http", *ctr_user, "--snapshotter", "native", ref)
    assert image_digest(ctr, "pull", ref) == local
    for l in man["layers"]:
        assert content_get(ctr, "pull", l["digest"]) == content_get(ctr, "push", l["digest"])


def content_get(ctr, ns, digest):
    return ctr(ns, "content", "get", digest, text=False).stdout
