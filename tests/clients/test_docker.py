"""docker push/pull round trips through the local Docker engine.

Docker treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so no daemon
configuration is needed. Images are built FROM scratch (no base image can be pulled here)
and every image/container this test creates is removed afterwards.

The CLI logs in once per session (`docker login --password-stdin`, fixture docker_login)
into a session-private DOCKER_CONFIG that every docker command below uses."""
import gzip
import io
import json
import os
import re
import tarfile
import uuid

import pytest

from conftest import DOCKER_MANIFEST, run

pytestmark = pytest.mark.usefixtures("docker_login")

def docker(*args, **kw):
    return run(["docker", *args], **kw)


@pytest.fixture
def cleanup():
    refs, containers = [], []
    yield refs, containers
    for c in containers:
        docker("rm", "-f", c, check=False)
    for r in refs:
        docker("rmi", "-f", r, check=False)


def layer_files(blob):
    """{path: bytes} of the regular files in a (gzip) tar layer blob."""
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for m in tf.getmembers():
            if m.isfile():
                out[m.name.lstrip("./")] = tf.extractfile(m).read()
    return out


def test_build_push_rmi_pull_cp(registry, api, repo, tmp_path, cleanup):
    refs, containers = cleanup
    payload = os.urandom(256 << 10)
    (tmp_path / "payload.bin").write_bytes(payload)
    (tmp_path / "hello.txt").write_text(f"hello from {repo}\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch\nCOPY payload.bin /payload.bin\nCOPY hello.txt /srv/hello.txt\n"
        'LABEL org.berth.test="docker"\nCMD ["/payload.bin"]\n')
    ref = f"{registry.hostport}/{repo}:v1"
    refs += [ref]
    docker("build", "-q", "-t", ref, str(tmp_path))
    image_id = docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    out = docker("push", ref).stdout
    m = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", out)
    assert m, out
    pushed, size = m.group(1), int(m.group(2))

    # registry side: the tag resolves to what docker pushed, the config is the image id,
    # and the layers carry the files we built in
    assert api.head_manifest_digest(repo, "v1") == pushed
    body, ctype, dg = api.get_manifest(repo, "v1")
    assert dg == pushed and len(body) == size and ctype == DOCKER_MANIFEST
    man = json.loads(body)
    assert man["config"]["digest"] == image_id
    api.get_blob(repo, image_id)
    files = {}
    for l in man["layers"]:
        files.update(layer_files(api.get_blob(repo, l["digest"])))
    assert files["payload.bin"] == payload
    assert files["srv/hello.txt"] == f"hello from {repo}\n".encode()
    repo_digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout)
    assert f"{registry.hostport}/{repo}@{pushed}" in repo_digests

    # a second tag of the same image has the same digest
    ref2 = f"{registry.hostport}/{repo}:v2"
    refs.append(ref2)
    docker("tag", ref, ref2)
    assert f"digest: {pushed}" in docker("push", ref2).stdout
    assert sorted(api.tags(repo)) == ["v1", "v2"]

    # remove locally, pull back, compare
    docker("rmi", "-f", ref, ref2)
    assert docker("image", "inspect", ref, check=False).returncode != 0
    pull = docker("pull", ref).stdout
    assert f"Digest: {pushed}" in pull, pull
    assert docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == image_id
    repo_digests = json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout)
    assert repo_digests == [f"{registry.hostport}/{repo}@{pushed}"]
    labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref).stdout)
    assert labels == {"org.berth.test": "docker"}

    # no static binary to run, so create a container and copy the files out
    name = f"berth-docker-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    docker("create", "--name", name, ref)
    docker("cp", f"{name}:/payload.bin", str(tmp_path / "out.bin"))
    docker("cp", f"{name}:/srv/hello.txt", str(tmp_path / "out.txt"))
    assert (tmp_path / "out.bin").read_bytes() == payload
    assert (tmp_path / "out.txt").read_text() == f"hello from {repo}\n"

    # pull by digest
    by_digest = f"{registry.hostport}/{repo}@{pushed}"
    refs.append(by_digest)
    docker("rm", "-f", name)
    docker("rmi", "-f", ref)
    docker("pull", by_digest)
    assert docker("image", "inspect", "--format", "{{.Id}}", by_digest).stdout.strip() == image_id


def test_multilayer_shared_layers_across_repos(registry, api, repo, tmp_path, cleanup):
    """Two images sharing base layers, pushed to two repositories (cross-repo mount or
    re-upload), both pull back identical."""
    refs, _ = cleanup
    for i in range(3):
        (tmp_path / f"f{i}.bin").write_bytes(os.urandom((64 << 10) * (i + 1)))
    (tmp_path / "Dockerfile.a").write_text(
        "FROM scratch\nCOPY f0.bin /a/f0.bin\nCOPY f1.bin /a/f1.bin\n")
    (tmp_path / "Dockerfile.b").write_text(
        "FROM scratch\nCOPY f0.bin /a/f0.bin\nCOPY f1.bin /a/f1.bin\nCOPY f2.bin /b/f2.bin\n")
    a = f"{registry.hostport}/{repo}-a:1"
    b = f"{registry.hostport}/{repo}-b:1"
    refs += [a, b]
    docker("build", "-q", "-t", a, "-f", str(tmp_path / "Dockerfile.a"), str(tmp_path))
    docker("build", "-q", "-t", b, "-f", str(tmp_path / "Dockerfile.b"), str(tmp_path))
    ids = {r: docker("image", "inspect", "--format", "{{.Id}}", r).stdout.strip() for r in (a, b)}
    digests = {}
    for r, name in ((a, f"{repo}-a"), (b, f"{repo}-b")):
        out = docker("push", r).stdout
        digests[r] = re.search(r"digest: (sha256:[0-9a-f]{64})", out).group(1)
        body, _, dg = api.get_manifest(name, "1")
        assert dg == digests[r]
        man = json.loads(body)
        for l in man["layers"]:
            api.get_blob(name, l["digest"])
    la = [l["digest"] for l in json.loads(api.get_manifest(f"{repo}-a", "1")[0])["layers"]]
    lb = [l["digest"] for l in json.loads(api.get_manifest(f"{repo}-b", "1")[0])["layers"]]
    assert lb[:2] == la and len(lb) == 3
    docker("rmi", "-f", a, b)
    for r in (a, b):
        docker("pull", r)
        assert docker("image", "inspect", "--format", "{{.Id}}", r).stdout.strip() == ids[r]
        assert json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}", r).stdout) == \
            [r.rsplit(":", 1)[0] + "@" + digests[r]]
