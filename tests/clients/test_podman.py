"""podman push/pull round trips.

podman runs rootful here with its own throw-away storage per test: --root/--runroot in a
temp dir and the vfs storage driver (no overlay mounts needed, nothing left in
/var/lib/containers), cgroupfs + file events (no systemd/journald needed).

podman logs in once per session (`podman login`, fixture podman_login) into the session's
private REGISTRY_AUTH_FILE, which every podman command below reads."""
import json
import os
import shutil
import tarfile

import pytest

from conftest import podman_cmd, run, short_tempdir


@pytest.fixture
def podman(podman_login):
    # podman refuses a --runroot longer than 50 characters: keep it short (not under tmp_path)
    root = short_tempdir("bpm-")
    base = podman_cmd(root)

    def pm(*args, **kw):
        return run([*base, *args], **kw)

    yield pm
    pm("rm", "-a", "-f", check=False)
    pm("rmi", "-a", "-f", check=False)
    shutil.rmtree(root, ignore_errors=True)


def image_field(pm, ref, field):
    return pm("image", "inspect", "--format", "{{" + field + "}}", ref).stdout.strip()


def check_registry_image(api, repo, ref, image_id):
    """Manifest at ref hashes to its digest, config blob digest is podman's image id, every
    layer blob hashes to its digest. Returns (manifest dict, digest)."""
    body, ctype, dg = api.get_manifest(repo, ref)
    m = json.loads(body)
    assert m["config"]["digest"] == "sha256:" + image_id
    api.get_blob(repo, m["config"]["digest"])
    for l in m["layers"]:
        api.get_blob(repo, l["digest"])
    return m, dg


def test_build_push_rmi_pull(registry, api, repo, podman, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    payload = os.urandom(300 << 10)
    (ctx / "payload.bin").write_bytes(payload)
    (ctx / "notes.txt").write_text("berth podman test " + repo + "\n")
    (ctx / "Containerfile").write_text(
        "FROM scratch\nCOPY payload.bin /payload.bin\nCOPY notes.txt /etc/notes.txt\n"
        'LABEL org.berth.test="podman"\nCMD ["/payload.bin"]\n')
    local = f"localhost/{repo}:built"
    podman("build", "--format", "oci", "-t", local, "-f", str(ctx / "Containerfile"), str(ctx))
    image_id = image_field(podman, local, ".Id")

    remote = f"{registry.hostport}/{repo}:v1"
    digestfile = tmp_path / "digest"
    podman("push", "--tls-verify=false", "--digestfile", str(digestfile), local, remote)
    pushed = digestfile.read_text().strip()
    assert api.head_manifest_digest(repo, "v1") == pushed
    m, dg = check_registry_image(api, repo, "v1", image_id)
    assert dg == pushed
    assert len(m["layers"]) == 2

    # remove everything locally, pull, compare id and digest
    podman("rmi", "-a", "-f")
    assert podman("images", "-q").stdout.strip() == ""
    podman("pull", "--tls-verify=false", remote)
    assert image_field(podman, remote, ".Id") == image_id
    assert image_field(podman, remote, ".Digest") == pushed
    repo_digests = json.loads(podman("image", "inspect", "--format", "{{json .RepoDigests}}", remote).stdout)
    assert f"{registry.hostport}/{repo}@{pushed}" in repo_digests
    labels = json.loads(podman("image", "inspect", "--format", "{{json .Labels}}", remote).stdout)
    assert labels.get("org.berth.test") == "podman"

    # the pulled file bytes are the built ones
    podman("create", "--name", "berth-pm-cp", remote)
    podman("cp", "berth-pm-cp:/payload.bin", str(tmp_path / "out.bin"))
    podman("cp", "berth-pm-cp:/etc/notes.txt", str(tmp_path / "notes.txt"))
    assert (tmp_path / "out.bin").read_bytes() == payload
    assert (tmp_path / "notes.txt").read_text() == "berth podman test " + repo + "\n"

    # pull by digest as well
    podman("rmi", "-a", "-f")
    podman("pull", "--tls-verify=false", f"{registry.hostport}/{repo}@{pushed}")
    assert image_field(podman, f"{registry.hostport}/{repo}@{pushed}", ".Id") == image_id


def test_import_push_docker_format_and_tags(registry, api, repo, podman, tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "opt").mkdir(parents=True)
    data = os.urandom(200 << 10)
    (rootfs / "opt" / "data.bin").write_bytes(data)
    tar = tmp_path / "rootfs.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(rootfs / "opt", arcname="opt")
    local = f"localhost/{repo}:imported"
    podman("import", "--change", 'CMD ["/opt/data.bin"]', str(tar), local)
    image_id = image_field(podman, local, ".Id")

    # push as Docker schema 2 to two tags: same digest for both
    digests = []
    for tag in ("a", "b"):
        df = tmp_path / f"digest-{tag}"
        podman("push", "--tls-verify=false", "--format", "v2s2", "--digestfile", str(df),
               local, f"{registry.hostport}/{repo}:{tag}")
        digests.append(df.read_text().strip())
    assert digests[0] == digests[1]
    m, dg = check_registry_image(api, repo, "a", image_id)
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert dg == digests[0] == api.head_manifest_digest(repo, "b")
    assert sorted(api.tags(repo)) == ["a", "b"]

    # podman search/list-tags equivalent: skopeo-free check through podman's own client
    podman("rmi", "-a", "-f")
    podman("pull", "--tls-verify=false", f"{registry.hostport}/{repo}:b")
    assert image_field(podman, f"{registry.hostport}/{repo}:b", ".Id") == image_id
    assert image_field(podman, f"{registry.hostport}/{repo}:b", ".Digest") == dg
    podman("create", "--name", "berth-pm-imp", f"{registry.hostport}/{repo}:b")
    podman("cp", "berth-pm-imp:/opt/data.bin", str(tmp_path / "out.bin"))
    assert (tmp_path / "out.bin").read_bytes() == data
