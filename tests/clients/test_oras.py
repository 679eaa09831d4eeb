"""ORAS (the PyPI `oras` Python library) against the registry: artifacts with a custom
artifact type, monolithic and chunked uploads, and a referrer attached to an image through
the manifest `subject` field, listed by GET /v2/<name>/referrers/<digest>.

Each test's client logs in with oras's own `Registry.login` into a private docker config.
It uses oras's `basic` auth backend: the default `token` backend keeps the first bearer
token it gets and, on a 401 asking for more scope (error="insufficient_scope", as the token
spec has it), retries with that same token, so no push can work against a registry whose
tokens carry only the scope asked for (oras checks the blob with a pull-scoped token, then
its upload POST needs push). test_auth_clients.py covers oras's token flow where it works
(pulls)."""
import json
import os

import oras.oci
import oras.provider
import pytest

from conftest import OCI_INDEX, OCI_MANIFEST, registry_creds, sha256
from ocigen import make_image, Layout
from v2client import Client

ARTIFACT_TYPE = "application/vnd.berth.test.bundle.v1"
SBOM_TYPE = "application/vnd.berth.test.sbom.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"


def oras_login(client, registry, creds, config_path):
    """oras's login: through the Docker engine's /auth when it answers (the engine runs the
    registry's token flow), else oras writes the credentials to `config_path` unchecked."""
    user, password = creds
    res = client.login(username=user, password=password, hostname=registry.hostport,
                       tls_verify=False, config_path=str(config_path))
    assert res.get("Status") == "Login Succeeded", res
    return res


@pytest.fixture
def client(registry, tmp_path_factory, monkeypatch):
    # oras reads ~/.docker/config.json whatever DOCKER_CONFIG says: a private HOME keeps the
    # developer's logins out and this test's in
    home = tmp_path_factory.mktemp("oras-home")
    monkeypatch.setenv("HOME", str(home))
    c = oras.provider.Registry(hostname=registry.hostport, insecure=True, tls_verify=False,
                               auth_backend="basic")
    creds = registry_creds(registry)
    if creds:
        oras_login(c, registry, creds, home / ".docker" / "config.json")
    yield c
    if creds:
        c.logout(registry.hostport)


def push_image_with_requests(api, repo, tag, tmp_path):
    """Push a small OCI image with plain HTTP calls (monolithic POST+PUT); returns its dict."""
    layout = Layout(str(tmp_path / "img"))
    img = make_image(layout, layers=2)
    c = Client(api.url, api.s.auth)
    for d in [img["config_digest"], *img["layers"]]:
        assert c.push_blob(repo, layout.blob(d)) == d
    assert c.push_manifest(repo, tag, img["manifest"]) == img["digest"]
    return img


def test_push_pull_artifact_files(registry, api, repo, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = {"model.bin": os.urandom(400 << 10), "readme.md": b"# berth oras test\n" * 50,
             "params.json": json.dumps({"seed": os.urandom(4).hex()}).encode()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "config.json").write_bytes(b'{"kind":"bundle"}')
    target = f"{registry.hostport}/{repo}:v1"
    resp = client.push(target=target, files=list(files),
                       manifest_config=f"config.json:{ARTIFACT_TYPE}",
                       manifest_annotations={"org.opencontainers.image.title": "bundle"})
    assert resp.status_code == 201

    body, ctype, dg = api.get_manifest(repo, "v1")
    assert ctype == OCI_MANIFEST
    man = json.loads(body)
    assert man["config"]["mediaType"] == ARTIFACT_TYPE
    assert api.get_blob(repo, man["config"]["digest"]) == b'{"kind":"bundle"}'
    assert man["annotations"]["org.opencontainers.image.title"] == "bundle"
    by_title = {l["annotations"]["org.opencontainers.image.title"]: l for l in man["layers"]}
    assert set(by_title) == set(files)
    for name, data in files.items():
        assert by_title[name]["digest"] == sha256(data)
        assert by_title[name]["size"] == len(data)
        assert api.get_blob(repo, sha256(data)) == data

    # oras's own view: manifest and tags
    assert client.get_manifest(target) == man
    assert client.get_tags(f"{registry.hostport}/{repo}") == ["v1"]

    out = tmp_path / "out"
    out.mkdir()
    pulled = client.pull(target=target, outdir=str(out))
    assert sorted(os.path.basename(p) for p in pulled) == sorted(files)
    for name, data in files.items():
        assert (out / name).read_bytes() == data
    # pull by digest too
    out2 = tmp_path / "out2"
    out2.mkdir()
    client.pull(target=f"{registry.hostport}/{repo}@{dg}", outdir=str(out2))
    for name, data in files.items():
        assert (out2 / name).read_bytes() == data


def test_chunked_upload_artifact(registry, api, repo, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = os.urandom((3 << 20) + 12345)
    (tmp_path / "big.bin").write_bytes(data)
    target = f"{registry.hostport}/{repo}:chunked"
    resp = client.push(target=target, files=["big.bin"], do_chunked=True, chunk_size=1 << 20)
    assert resp.status_code == 201
    body, _, dg = api.get_manifest(repo, "chunked")
    assert resp.headers["Docker-Content-Digest"] == dg
    man = json.loads(body)
    assert [l["digest"] for l in man["layers"]] == [sha256(data)]
    assert api.get_blob(repo, sha256(data)) == data
    out = tmp_path / "out"
    out.mkdir()
    client.pull(target=target, outdir=str(out))
    assert (out / "big.bin").read_bytes() == data


def test_artifact_type_manifest(registry, api, repo, client, tmp_path):
    """An OCI 1.1 artifact manifest (artifactType + empty config) written with oras's
    upload_blob/upload_manifest, read back through oras."""
    container = client.get_container(f"{registry.hostport}/{repo}:typed")
    payload = os.urandom(50 << 10)
    p = tmp_path / "payload.dat"
    p.write_bytes(payload)
    layer = {"mediaType": "application/vnd.berth.test.payload", "digest": sha256(payload),
             "size": len(payload), "annotations": {"org.opencontainers.image.title": "payload.dat"}}
    # neither blob is in the (new) repository: oras uploads each (POST, then PUT), and the
    # PUT that completes an upload answers 201 Created
    assert api.blob_status(repo, layer["digest"]) == 404
    assert client.upload_blob(str(p), container, layer).status_code == 201
    assert api.get_blob(repo, layer["digest"]) == payload
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"{}")
    conf = {"mediaType": EMPTY_CONFIG, "digest": sha256(b"{}"), "size": 2}
    assert api.blob_status(repo, conf["digest"]) == 404
    assert client.upload_blob(str(empty), container, conf).status_code == 201
    assert api.get_blob(repo, conf["digest"]) == b"{}"
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": ARTIFACT_TYPE,
                "config": conf, "layers": [layer]}
    r = client.upload_manifest(manifest, container)
    assert r.status_code == 201, r.text
    body, _, dg = api.get_manifest(repo, "typed")
    assert r.headers["Docker-Content-Digest"] == dg
    assert json.loads(body) == manifest
    out = tmp_path / "out"
    out.mkdir()
    client.pull(target=f"{registry.hostport}/{repo}:typed", outdir=str(out))
    assert (out / "payload.dat").read_bytes() == payload


def test_attach_referrer_and_list_referrers(registry, api, repo, client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    img = push_image_with_requests(api, repo, "app", tmp_path)

    # an SBOM-like artifact whose manifest has `subject` = the image, pushed by oras
    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": repo,
                       "packages": [{"name": "payload", "nonce": os.urandom(8).hex()}]}).encode()
    (tmp_path / "sbom.spdx.json").write_bytes(sbom)
    subject = oras.oci.Subject(mediaType=OCI_MANIFEST, digest=img["digest"], size=len(img["manifest"]))
    resp = client.push(target=f"{registry.hostport}/{repo}:sbom",
                       files=[f"sbom.spdx.json:{SBOM_TYPE}"],
                       manifest_config=f"sbom-config-missing.json:{SBOM_TYPE}",
                       subject=subject)
    assert resp.status_code == 201
    body, _, sbom_digest = api.get_manifest(repo, "sbom")
    sman = json.loads(body)
    assert sman["subject"]["digest"] == img["digest"]
    assert sman["config"]["mediaType"] == SBOM_TYPE

    # a second referrer with an explicit artifactType, written directly with requests
    sig = os.urandom(64)
    r = api.s.post(f"{api.url}/v2/{repo}/blobs/uploads/", params={"digest": sha256(sig)}, data=sig,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text  # a single-POST monolithic upload
    r = api.s.post(f"{api.url}/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text
    loc = r.headers["Location"]
    loc = loc if loc.startswith("http") else api.url + loc
    assert api.s.put(loc, params={"digest": sha256(b"{}")}, data=b"{}").status_code == 201
    sig_manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.berth.test.signature",
        "config": {"mediaType": EMPTY_CONFIG, "digest": sha256(b"{}"), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": sha256(sig), "size": len(sig)}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": img["digest"], "size": len(img["manifest"])},
        "annotations": {"org.berth.test": "sig"}}, separators=(",", ":")).encode()
    r = api.s.put(f"{api.url}/v2/{repo}/manifests/{sha256(sig_manifest)}", data=sig_manifest,
                  headers={"Content-Type": OCI_MANIFEST})
    assert r.status_code == 201, r.text

    # oras pulls the referrer back (by tag and by digest)
    out = tmp_path / "out"
    out.mkdir()
    client.pull(target=f"{registry.hostport}/{repo}@{sbom_digest}", outdir=str(out))
    assert (out / "sbom.spdx.json").read_bytes() == sbom
    assert client.get_manifest(f"{registry.hostport}/{repo}@{sha256(sig_manifest)}")["subject"]["digest"] == img["digest"]

    # the referrers API lists both, with their artifact types
    r = api.referrers(repo, img["digest"])
    assert r.status_code == 200, f"GET /v2/{repo}/referrers/{img['digest']} -> {r.status_code} {r.text[:300]}"
    assert r.headers.get("Content-Type", "").split(";")[0] == OCI_INDEX
    idx = r.json()
    assert idx["schemaVersion"] == 2 and idx["mediaType"] == OCI_INDEX
    by_digest = {m["digest"]: m for m in idx["manifests"]}
    assert set(by_digest) == {sbom_digest, sha256(sig_manifest)}
    assert by_digest[sbom_digest]["artifactType"] == SBOM_TYPE
    assert by_digest[sbom_digest]["size"] == len(body)
    assert by_digest[sha256(sig_manifest)]["artifactType"] == "application/vnd.berth.test.signature"
    assert by_digest[sha256(sig_manifest)]["annotations"] == {"org.berth.test": "sig"}
    # filtering by artifactType
    r = api.referrers(repo, img["digest"], artifact_type=SBOM_TYPE)
    assert r.status_code == 200
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom_digest]
    # a digest nobody refers to: 200 with an empty index
    r = api.referrers(repo, img["layers"][0])
    assert r.status_code == 200 and r.json()["manifests"] == []
