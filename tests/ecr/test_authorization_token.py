"""GetAuthorizationToken through boto3, the aws CLI and raw requests; the password it returns on
/v2 and in `docker login` (via `aws ecr get-login-password`), docker push and pull with it; a
principal without the permission; a principal allowed to log in but not to pull."""
import base64
import datetime
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid

import botocore.exceptions
import pytest
import requests

import ecrhelp as eh
from berth_server import BerthServer

TWELVE_HOURS = 12 * 3600


def decode_token(token):
    """base64("AWS:<password>") -> password, checking the shape docker and the CLI rely on."""
    assert re.fullmatch(r"\S+", token), f"token has whitespace: {token!r}"
    raw = base64.b64decode(token, validate=True).decode()
    user, sep, password = raw.partition(":")
    assert sep and user == "AWS", raw[:40]
    assert password and ":" not in password, "a ':' in the password breaks `aws ecr get-login-password`"
    assert re.fullmatch(r"\S+", password), f"password has whitespace: {password!r}"
    return password


def check_entry(server, entry, issued_at):
    assert set(entry) == {"authorizationToken", "expiresAt", "proxyEndpoint"}, entry
    password = decode_token(entry["authorizationToken"])
    expires = entry["expiresAt"]
    assert isinstance(expires, datetime.datetime) and expires.tzinfo is not None, repr(expires)
    delta = expires.timestamp() - issued_at
    assert TWELVE_HOURS - 120 <= delta <= TWELVE_HOURS + 120, f"expiresAt is now + {delta} s"
    assert entry["proxyEndpoint"] == f"http://127.0.0.1:{server.port}", entry["proxyEndpoint"]
    return password


def test_boto3_get_authorization_token(server, ecr):
    t0 = time.time()
    resp = ecr.get_authorization_token()
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["RequestId"]
    data = resp["authorizationData"]
    assert len(data) == 1, data
    password = check_entry(server, data[0], t0)
    # The password works on /v2 as Basic credentials of the user AWS.
    r = requests.get(server.url + "/v2/", auth=("AWS", password), timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    # And the token itself is the Basic credential.
    r = requests.get(server.url + "/v2/", auth=eh.HeaderAuth("Basic " + data[0]["authorizationToken"]),
                     timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    # A wrong password does not.
    r = requests.get(server.url + "/v2/", auth=("AWS", password[:-2]), timeout=30)
    assert r.status_code == 401, f"{r.status_code} {r.text}"


def test_password_pulls_what_the_caller_may_pull(server, ecr, repo):
    name, img = repo
    password = decode_token(ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"])
    r = eh.get_manifest(server, eh.basic("AWS", password), name, "v1")
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    assert r.content == img.manifest


def test_proxy_endpoint_follows_the_host_and_ignores_untrusted_forwarded_proto(server, admin_key):
    # This server does not trust X-Forwarded-Proto (auth.trust_forwarded_proto is off): a
    # client cannot make it advertise https.
    for extra in ({"X-Forwarded-Proto": "https"}, {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}):
        body = eh.assert_ok(eh.call(server, admin_key, "GetAuthorizationToken", extra=extra))
        assert body["authorizationData"][0]["proxyEndpoint"] == f"http://127.0.0.1:{server.port}", body
    # The signed Host is what the client reached the server as.
    r = eh.call(server, admin_key, "GetAuthorizationToken", extra={"Host": f"localhost:{server.port}"})
    body = eh.assert_ok(r)
    assert body["authorizationData"][0]["proxyEndpoint"] == f"http://localhost:{server.port}", body


def test_registry_ids(server, ecr):
    t0 = time.time()
    data = ecr.get_authorization_token(registryIds=["000000000000", "000000000000"])["authorizationData"]
    assert len(data) == 2, data
    for entry in data:
        check_entry(server, entry, t0)
    data = ecr.get_authorization_token(registryIds=["000000000000"])["authorizationData"]
    assert len(data) == 1, data


@pytest.mark.parametrize("ids", [["abc"], ["00000000000"], ["0000000000000"], ["000000000000", "12345678901a"],
                                 ["000000000000"] * 11, []])
def test_bad_registry_ids(server, admin_key, ids):
    # Raw, since botocore checks the list's minimum length itself.
    r = eh.call(server, admin_key, "GetAuthorizationToken", {"registryIds": ids})
    eh.assert_error(r, "InvalidParameterException", startswith="Invalid parameter at 'registryIds'")


def test_boto3_bad_registry_id(server, ecr):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.get_authorization_token(registryIds=["abc"])
    eh.client_error(ei.value, "InvalidParameterException")


def test_cli_get_authorization_token(server, admin_key):
    t0 = time.time()
    out = eh.aws(server, admin_key, "get-authorization-token")
    data = out["authorizationData"]
    assert len(data) == 1, out
    entry = data[0]
    password = decode_token(entry["authorizationToken"])
    # awscli prints the timestamp either as epoch seconds or as ISO 8601.
    exp = entry["expiresAt"]
    exp = float(exp) if isinstance(exp, (int, float)) else datetime.datetime.fromisoformat(exp).timestamp()
    assert TWELVE_HOURS - 120 <= exp - t0 <= TWELVE_HOURS + 120, entry
    assert entry["proxyEndpoint"] == f"http://127.0.0.1:{server.port}"
    r = requests.get(server.url + "/v2/", auth=("AWS", password), timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    # The CLI with a bad registry id.
    out = eh.aws(server, admin_key, "get-authorization-token", "--registry-ids", "abc", check=False)
    eh.assert_cli_error(out, "InvalidParameterException", "GetAuthorizationToken")


def test_expired_password_and_what_it_was_exchanged_for():
    """On a server whose login passwords live 4 s: expiresAt says so, the password stops
    working at that time, and so does the refresh token (docker's stored "identity token")
    obtained with it: a 12-hour ECR password must not turn into a longer-lived credential."""
    ttl = 4
    srv = BerthServer(env=dict(eh.SHARED_ENV, BERTH_AUTH__LOGIN_TOKEN_TTL_SECS=str(ttl))).start()
    try:
        admin = eh.basic(*srv.admin)
        name = eh.unique("ecr") + "/short"
        eh.push_image(srv, admin, name, "v1")
        t0 = time.time()
        entry = eh.boto_client(srv, srv.admin).get_authorization_token()["authorizationData"][0]
        assert -2 <= entry["expiresAt"].timestamp() - (t0 + ttl) <= 2, entry
        password = decode_token(entry["authorizationToken"])
        aws = eh.basic("AWS", password)
        assert requests.get(srv.url + "/v2/", auth=aws, timeout=30).status_code == 200
        scope = f"repository:{name}:pull"
        # A refresh token is issued to every authenticated caller asking with offline_token.
        r = requests.get(srv.url + "/token", params={"service": "berth", "scope": scope,
                                                      "offline_token": "true"}, auth=aws, timeout=30)
        assert r.status_code == 200, r.text
        refresh = r.json()["refresh_token"]
        form = {"grant_type": "refresh_token", "refresh_token": refresh, "service": "berth",
                "scope": scope}
        # While the password lives, the refresh token works.
        r = requests.post(srv.url + "/token", data=form, auth=eh.ANON, timeout=30)
        assert r.status_code == 200, f"a fresh refresh token is refused: {r.status_code} {r.text}"
        assert r.json()["token"], r.text

        def expired():
            r = requests.get(srv.url + "/v2/", auth=aws, timeout=30)
            assert r.status_code == 401, f"{r.status_code} {r.text}"
        eh.eventually(expired, timeout=ttl + 6)
        r = requests.get(srv.url + "/token", params={"service": "berth", "scope": scope}, auth=aws, timeout=30)
        assert r.status_code == 401, f"expired password still gets tokens: {r.status_code} {r.text}"
        r = requests.post(srv.url + "/token", data=form, auth=eh.ANON, timeout=30)
        assert r.status_code == 401, (
            f"the refresh token obtained with a login password outlives the password "
            f"(expired at {entry['expiresAt']}): POST /token grant_type=refresh_token -> "
            f"{r.status_code} {r.text[:300]}")
        assert (r.json()["error"], r.json()["error_description"]) == (
            "invalid_grant", "the refresh token is not valid"), r.text
    finally:
        srv.cleanup()


# ---- principals -----------------------------------------------------------------------------


def test_principal_without_policy_is_denied(server, make_principal):
    p = make_principal()
    expected = (f"User: arn:aws:iam::000000000000:user/{p.name} is not authorized to perform: "
                f"ecr:GetAuthorizationToken on resource: * because no identity-based policy "
                f"allows the ecr:GetAuthorizationToken action")
    eh.assert_error(eh.call(server, p.key, "GetAuthorizationToken"), "AccessDeniedException",
                    message=expected)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        eh.boto_client(server, p.key).get_authorization_token()
    assert eh.client_error(ei.value, "AccessDeniedException") == expected
    out = eh.aws(server, p.key, "get-authorization-token", check=False)
    eh.assert_cli_error(out, "AccessDeniedException", "GetAuthorizationToken", message=expected)


def test_login_only_principal(server, make_principal, repo):
    name, _ = repo
    p = make_principal(("login", eh.identity_policy(["ecr:GetAuthorizationToken"])))
    resp = eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, "GetAuthorizationToken")))
    password = decode_token(resp["authorizationData"][0]["authorizationToken"])
    # The password authenticates, but grants nothing the principal's policies do not.
    r = requests.get(server.url + "/v2/", auth=("AWS", password), timeout=30)
    assert r.status_code == 200, f"{r.status_code} {r.text}"
    r = eh.get_manifest(server, eh.basic("AWS", password), name, "v1")
    assert r.status_code == 403, f"{r.status_code} {r.text}"
    assert r.json()["errors"][0]["code"] == "DENIED", r.text
    assert r.json()["errors"][0]["message"] == (
        f"User: {p.arn} is not authorized to perform: ecr:BatchGetImage on resource: "
        f"{eh.repo_arn(name)} because no identity-based policy allows the ecr:BatchGetImage action"), r.text
    # Nor any other ECR operation.
    r = eh.call(server, p.key, "GetRegistryPolicy")
    eh.assert_error(r, "AccessDeniedException", message=(
        f"User: {p.arn} is not authorized to perform: ecr:GetRegistryPolicy on resource: * "
        f"because no identity-based policy allows the ecr:GetRegistryPolicy action"))


# ---- docker ---------------------------------------------------------------------------------


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 180)
    return subprocess.run(args, **kw)


@pytest.fixture
def docker_env():
    """A private DOCKER_CONFIG; the docker engine must be reachable."""
    d = tempfile.mkdtemp(prefix="berth-ecr-docker-")
    env = dict(os.environ, DOCKER_CONFIG=d)
    info = run(["docker", "version", "--format", "{{.Server.Version}}"], env=env)
    assert info.returncode == 0, f"no docker engine: {info.stderr}"
    try:
        yield env
    finally:
        shutil.rmtree(d, ignore_errors=True)


def containerd_image_store(env):
    """Whether the docker engine keeps images in containerd's store (its image ids are then
    manifest digests)."""
    out = run(["docker", "info", "--format", "{{json .DriverStatus}}"], env=env)
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout) or []
    return any(value == "io.containerd.snapshotter.v1" for _, value in status)


def docker_login_with_cli(server, key, env):
    """`aws ecr get-login-password | docker login --username AWS --password-stdin host`."""
    aws = " ".join(eh.aws_args(server, "get-login-password")[:-2])  # without --output json
    script = f"set -o pipefail; {aws} | docker login --username AWS --password-stdin {server.hostport}"
    return run(["bash", "-c", script], env=eh.cli_env(key, {"DOCKER_CONFIG": env["DOCKER_CONFIG"]}))


def tiny_image_tar(path, content):
    with tarfile.open(path, "w") as tf:
        data = content.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        info.mtime = 1700000000
        info.mode = 0o644
        tf.addfile(info, io.BytesIO(data))


def test_docker_login_push_pull(server, admin_key, admin_basic, docker_env, tmp_path):
    host = server.hostport
    ref = f"{host}/ecr/app:v1"
    tar = tmp_path / "rootfs.tar"
    tiny_image_tar(tar, f"hello {uuid.uuid4().hex}\n")
    try:
        out = docker_login_with_cli(server, admin_key, docker_env)
        assert out.returncode == 0, f"login: {out.stdout} {out.stderr}"
        assert "Login Succeeded" in out.stdout, out.stdout
        cfg = json.load(open(os.path.join(docker_env["DOCKER_CONFIG"], "config.json")))
        assert host in cfg.get("auths", {}), cfg

        out = run(["docker", "import", str(tar), ref], env=docker_env)
        assert out.returncode == 0, out.stderr
        out = run(["docker", "push", ref], env=docker_env)
        assert out.returncode == 0, f"push: {out.stdout} {out.stderr}"
        m = re.search(r"v1: digest: (sha256:[0-9a-f]{64}) size: (\d+)", out.stdout)
        assert m, out.stdout
        pushed = m.group(1)
        # The registry holds it under that digest.
        r = eh.v2(server, "HEAD", "/v2/ecr/app/manifests/v1", admin_basic, headers={"Accept": ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json", eh.OCI_MANIFEST])})
        assert r.status_code == 200 and r.headers.get("Docker-Content-Digest") == pushed, r.headers

        out = run(["docker", "rmi", ref], env=docker_env)
        assert out.returncode == 0, out.stderr
        out = run(["docker", "pull", ref], env=docker_env)
        assert out.returncode == 0, f"pull: {out.stdout} {out.stderr}"
        m = re.search(r"Digest: (sha256:[0-9a-f]{64})", out.stdout)
        assert m and m.group(1) == pushed, out.stdout
        repo_digests = json.loads(run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", ref],
                                      env=docker_env).stdout)
        assert f"{host}/ecr/app@{pushed}" in repo_digests, repo_digests
        # What docker pushed reads back through the ECR API.
        ecr = eh.boto_client(server, admin_key)
        got = ecr.batch_get_image(repositoryName="ecr/app", imageIds=[{"imageTag": "v1"}])
        assert got["failures"] == [] and got["images"][0]["imageId"]["imageDigest"] == pushed
        detail = ecr.describe_images(repositoryName="ecr/app",
                                     imageIds=[{"imageDigest": pushed}])["imageDetails"][0]
        manifest = json.loads(got["images"][0]["imageManifest"])
        blobs = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
        assert (detail["imageTags"], detail["imageSizeInBytes"]) == (["v1"], blobs), detail
    finally:
        run(["docker", "rmi", "-f", ref], env=docker_env)
        out = run(["docker", "logout", host], env=docker_env)
    assert out.returncode == 0, out.stderr
    cfg = json.load(open(os.path.join(docker_env["DOCKER_CONFIG"], "config.json")))
    assert host not in cfg.get("auths", {}), cfg


def test_docker_login_without_pull_permission(server, make_principal, admin_basic, docker_env):
    name = eh.unique("ecr") + "/private"
    eh.push_image(server, admin_basic, name, "v1")
    p = make_principal(("login", eh.identity_policy(["ecr:GetAuthorizationToken"])))
    eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, "GetAuthorizationToken")))
    ref = f"{server.hostport}/{name}:v1"
    try:
        out = docker_login_with_cli(server, p.key, docker_env)
        assert out.returncode == 0, f"login: {out.stdout} {out.stderr}"
        assert "Login Succeeded" in out.stdout, out.stdout
        out = run(["docker", "pull", ref], env=docker_env)
        assert out.returncode != 0, f"pull without permission succeeded: {out.stdout}"
        assert "denied" in out.stderr.lower(), out.stderr
        assert run(["docker", "image", "inspect", ref], env=docker_env).returncode != 0
    finally:
        run(["docker", "rmi", "-f", ref], env=docker_env)
        run(["docker", "logout", server.hostport], env=docker_env)


def test_layer_upload_api_push_pulls_with_docker(server, admin_key, docker_env):
    """An image pushed only through the ECR API (InitiateLayerUpload, UploadLayerPart,
    CompleteLayerUpload, PutImage) is pulled by docker, which verifies every digest."""
    import gzip
    ecr = eh.boto_client(server, admin_key)
    repo = eh.unique("ecr") + "/api-pushed"
    ecr.create_repository(repositoryName=repo)
    raw_tar = io.BytesIO()
    with tarfile.open(fileobj=raw_tar, mode="w") as tf:
        data = f"pushed through the API {uuid.uuid4().hex}\n".encode()
        info = tarfile.TarInfo("api.txt")
        info.size, info.mtime, info.mode = len(data), 1700000000, 0o644
        tf.addfile(info, io.BytesIO(data))
    layer = gzip.compress(raw_tar.getvalue(), mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [eh.sha256(raw_tar.getvalue())]},
    }).encode()
    for blob, part in ((config, None), (layer, 300)):
        up = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
        part = part or len(blob)
        for start in range(0, len(blob), part):
            chunk = blob[start:start + part]
            ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=start,
                                  partLastByte=start + len(chunk) - 1, layerPartBlob=chunk)
        ecr.complete_layer_upload(repositoryName=repo, uploadId=up, layerDigests=[eh.sha256(blob)])
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": eh.sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": eh.sha256(layer), "size": len(layer)}],
    })
    put = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="api")
    digest = put["image"]["imageId"]["imageDigest"]
    assert digest == eh.sha256(manifest.encode())
    ref = f"{server.hostport}/{repo}:api"
    try:
        out = docker_login_with_cli(server, admin_key, docker_env)
        assert out.returncode == 0, f"login: {out.stdout} {out.stderr}"
        out = run(["docker", "pull", ref], env=docker_env)
        assert out.returncode == 0, f"pull: {out.stdout} {out.stderr}"
        assert f"Digest: {digest}" in out.stdout, out.stdout
        image_id = run(["docker", "image", "inspect", "--format", "{{.Id}}", ref],
                       env=docker_env).stdout.strip()
        # The engine's image id is the config digest; with the containerd image store, the
        # manifest digest.
        assert image_id == (digest if containerd_image_store(docker_env) else eh.sha256(config)), image_id
    finally:
        run(["docker", "rmi", "-f", ref], env=docker_env)
        run(["docker", "logout", server.hostport], env=docker_env)
