"""Authentication through the real clients: docker, podman, skopeo and oras log in through
their own login mechanism (the registry answers /v2/ with a Bearer challenge, so they all go
through the token service), push, pull back and compare digests; principals whose policies
allow less (read-only, one repository) are refused the rest; docker's `AWS` login password
and its identity (refresh) token, which `berth token revoke` revokes.

Every client instance has configuration of its own (docker: a DOCKER_CONFIG directory;
podman and skopeo: a REGISTRY_AUTH_FILE, and podman its own storage; oras: a docker config
file and a private HOME), so two identities never share a login.

This module runs its own Berth server whatever REGISTRY_URL says: it creates principals and
keys with the `berth` CLI on that server's database, and it presents wrong passwords on
purpose, so the failed-authentication limit is raised (it counts per source address, and
every client here is 127.0.0.1)."""
import base64
import contextlib
import json
import logging
import os
import re
import shutil
import uuid

import oras.provider
import pytest
import requests

from berth_server import BerthServer
from conftest import OCI_MANIFEST, Api, podman_cmd, run, sha256, short_tempdir
from ocigen import Layout, make_layout
from principals import create_principal
from testkit import ANON, SHARED_ENV, eventually, repo_arn

READ_ONLY = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
             "ecr:ListImages"]
# How a client reports that the registry refused it ("not authorized": the registry's own
# AccessDenied wording, which oras passes on)
REFUSED = re.compile(r"denied|unauthorized|insufficient[_ ]scope|not authorized", re.I)


@pytest.fixture(scope="module")
def berth():
    with BerthServer(env=SHARED_ENV) as srv:
        yield srv


@pytest.fixture
def admin_api(berth):
    return Api(berth.url, auth=berth.auth)


# ---- principals -----------------------------------------------------------------------------


def granted(berth, creds, repo):
    """The actions the token service grants `creds` on `repo` (asking for pull and push)."""
    r = requests.get(f"{berth.url}/token", auth=creds, timeout=10,
                     params={"service": "berth", "scope": f"repository:{repo}:pull,push"})
    assert r.status_code == 200, f"GET /token as {creds[0]} -> {r.status_code} {r.text[:300]}"
    for entry in r.json().get("scope", "").split():
        kind, name, actions = entry.split(":")
        if kind == "repository" and name == repo:
            return set(actions.split(","))
    return set()


def new_principal(berth, grants):
    """A principal with an access key and one identity policy: `grants` is
    {repository: [ecr actions]}. Returns once the server authenticates the key and its token
    service grants what the policy allows."""
    statements = [{"Effect": "Allow", "Action": actions, "Resource": repo_arn(r)}
                  for r, actions in grants.items()]
    p = create_principal(berth, [("access", json.dumps({"Version": "2012-10-17", "Statement": statements}))],
                         name=f"cl-{uuid.uuid4().hex[:12]}", wait=False)
    expect = {r: ({"pull"} if set(actions) <= set(READ_ONLY) else {"pull", "push"})
              for r, actions in grants.items()}

    def effective():
        got = {r: granted(berth, p.key, r) for r in grants}
        assert got == expect, f"token service grants {got}, policy says {expect}"
    eventually(effective)
    return p


# ---- the clients ----------------------------------------------------------------------------


class Result:
    def __init__(self, ok, output, digest=None):
        self.ok, self.output, self.digest = ok, output, digest

    def __repr__(self):
        return f"Result(ok={self.ok}, digest={self.digest}, output={self.output[-1500:]!r})"


def proc_result(p, digest=None):
    return Result(p.returncode == 0, f"{p.stdout}\n{p.stderr}", digest if p.returncode == 0 else None)


class Client:
    """One client program with a configuration of its own. prepare() makes a new local image
    (unique content); push(ref) pushes the current local image; pull(ref) fetches ref into a
    place where nothing of it is present yet and makes it the current local image."""
    name = None
    login_verifies = True  # a wrong password makes login itself fail

    def __init__(self, berth, workdir):
        self.host = berth.hostport
        self.dir = workdir
        os.makedirs(workdir)

    def close(self):
        pass


class Docker(Client):
    name = "docker"

    def __init__(self, berth, workdir):
        super().__init__(berth, workdir)
        self.config = os.path.join(workdir, "docker-config")
        self.env = dict(os.environ, DOCKER_CONFIG=self.config)
        self.image = None
        self.images = set()
        self.refs = set()

    def docker(self, *args, check=False, input=None):
        return run(["docker", *args], env=self.env, check=check, input=input)

    def login(self, user, password):
        return proc_result(self.docker("login", self.host, "-u", user, "--password-stdin", input=password))

    def logout(self):
        self.docker("logout", self.host)

    def auth_entry(self):
        """What docker keeps for the registry in its config.json."""
        with open(os.path.join(self.config, "config.json")) as f:
            return json.load(f).get("auths", {}).get(self.host)

    def assert_used_token_service(self, login, user, repo):
        # docker stores the refresh token the token service issued (offline_token=true) as
        # its identity token, and no password
        entry = self.auth_entry()
        assert entry and entry.get("identitytoken"), f"docker stored {entry} for {self.host}"
        assert base64.b64decode(entry["auth"]).decode() == f"{user}:", "docker kept the secret"

    def prepare(self):
        ctx = os.path.join(self.dir, f"ctx-{uuid.uuid4().hex[:8]}")
        os.makedirs(ctx)
        with open(os.path.join(ctx, "payload.bin"), "wb") as f:
            f.write(os.urandom(128 << 10))
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM scratch\nCOPY payload.bin /payload.bin\nCMD [\"/payload.bin\"]\n")
        tag = f"berth-auth-test/{uuid.uuid4().hex[:12]}:src"
        self.refs.add(tag)
        self.docker("build", "-q", "-t", tag, ctx, check=True)
        self.image = self.docker("image", "inspect", "--format", "{{.Id}}", tag, check=True).stdout.strip()
        self.images.add(self.image)

    def push(self, ref):
        self.refs.add(ref)
        self.docker("tag", self.image, ref, check=True)
        p = self.docker("push", ref)
        m = re.search(r"digest: (sha256:[0-9a-f]{64})", p.stdout)
        return proc_result(p, m and m.group(1))

    def pull(self, ref):
        # the daemon is shared: drop every local copy of the image so that all of it is fetched
        have = self.docker("image", "inspect", "--format", "{{.Id}}", ref)
        if have.returncode == 0:
            self.docker("rmi", "-f", have.stdout.strip(), check=True)
        self.refs.add(ref)
        p = self.docker("pull", ref)
        m = re.search(r"Digest: (sha256:[0-9a-f]{64})", p.stdout)
        if p.returncode == 0:
            self.image = self.docker("image", "inspect", "--format", "{{.Id}}", ref, check=True).stdout.strip()
            self.images.add(self.image)
        return proc_result(p, m and m.group(1))

    def close(self):
        for r in self.refs:
            self.docker("rmi", "-f", r)
        for i in self.images:
            self.docker("rmi", "-f", i)
        self.logout()


class Containers(Client):
    """What podman and skopeo share: a REGISTRY_AUTH_FILE of their own, and a DOCKER_CONFIG
    that holds nothing (c/image reads docker's config too)."""

    def __init__(self, berth, workdir):
        super().__init__(berth, workdir)
        self.auth_file = os.path.join(workdir, "auth.json")
        with open(self.auth_file, "w") as f:  # podman insists that REGISTRY_AUTH_FILE exists
            json.dump({"auths": {}}, f)
        os.makedirs(os.path.join(workdir, "no-docker-config"))
        self.env = dict(os.environ, REGISTRY_AUTH_FILE=self.auth_file,
                        DOCKER_CONFIG=os.path.join(workdir, "no-docker-config"))
        self.layout_n = 0

    def new_layout_dir(self):
        self.layout_n += 1
        return os.path.join(self.dir, f"layout-{self.layout_n}")

    def assert_used_token_service(self, login, user, repo):
        # their debug log shows the token request that followed the challenge
        assert f"GET http://{self.host}/token?" in login.output, login.output[-3000:]
        with open(self.auth_file) as f:
            entry = json.load(f)["auths"][self.host]
        assert base64.b64decode(entry["auth"]).decode().startswith(f"{user}:")


class Podman(Containers):
    name = "podman"

    def __init__(self, berth, workdir):
        super().__init__(berth, workdir)
        self.roots = []
        self.pm = self.new_storage()
        self.local = None

    def new_storage(self):
        root = short_tempdir("bpa-")
        self.roots.append(root)
        return podman_cmd(root)

    def podman(self, *args, pm=None, check=False, input=None):
        return run([*(pm or self.pm), *args], env=self.env, check=check, input=input)

    def login(self, user, password):
        return proc_result(self.podman("--log-level=debug", "login", "--tls-verify=false", "-u", user,
                                       "--password-stdin", self.host, input=password))

    def logout(self):
        self.podman("logout", self.host)

    def prepare(self):
        d = self.new_layout_dir()
        make_layout(d, tag="v1", layers=2)
        self.local = f"localhost/berth-auth-test/{uuid.uuid4().hex[:12]}:src"
        # `pull oci:` names the image after the layout directory; give it a name of our own
        img = self.podman("pull", "-q", f"oci:{d}:v1", check=True).stdout.split()[-1]
        self.podman("tag", img, self.local, check=True)

    def push(self, ref):
        df = os.path.join(self.dir, f"digest-{uuid.uuid4().hex[:8]}")
        p = self.podman("push", "--tls-verify=false", "--digestfile", df, self.local, ref)
        return proc_result(p, open(df).read().strip() if p.returncode == 0 else None)

    def pull(self, ref):
        pm = self.new_storage()  # nothing of the image is present there
        p = self.podman("pull", "--tls-verify=false", ref, pm=pm)
        if p.returncode != 0:
            return proc_result(p)
        self.pm, self.local = pm, ref
        digest = self.podman("image", "inspect", "--format", "{{.Digest}}", ref, check=True).stdout.strip()
        return proc_result(p, digest)

    def close(self):
        self.logout()
        for root in self.roots:
            run([*podman_cmd(root), "rmi", "-a", "-f"], check=False, env=self.env)
            shutil.rmtree(root, ignore_errors=True)


class Skopeo(Containers):
    name = "skopeo"

    def __init__(self, berth, workdir):
        super().__init__(berth, workdir)
        self.local = None

    def skopeo(self, *args, check=False, input=None):
        return run(["skopeo", "--insecure-policy", *args], env=self.env, check=check, input=input)

    def login(self, user, password):
        return proc_result(self.skopeo("--debug", "login", "--tls-verify=false", "-u", user,
                                       "--password-stdin", self.host, input=password))

    def logout(self):
        self.skopeo("logout", self.host)

    def prepare(self):
        d = self.new_layout_dir()
        make_layout(d, tag="v1", layers=2)
        self.local = f"oci:{d}:v1"

    def push(self, ref):
        df = os.path.join(self.dir, f"digest-{uuid.uuid4().hex[:8]}")
        p = self.skopeo("copy", "-q", "--dest-tls-verify=false", "--digestfile", df, self.local,
                        f"docker://{ref}")
        return proc_result(p, open(df).read().strip() if p.returncode == 0 else None)

    def pull(self, ref):
        d = self.new_layout_dir()
        p = self.skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{ref}", f"oci:{d}:pulled")
        if p.returncode != 0:
            return proc_result(p)
        self.local = f"oci:{d}:pulled"
        layout = Layout(d)
        digest = layout.ref("pulled")["digest"]
        for blob in layout.all_blob_digests():
            assert sha256(layout.blob(blob)) == blob
        return proc_result(p, digest)

    def close(self):
        self.logout()


@contextlib.contextmanager
def oras_errors():
    """oras logs the registry's error messages and raises exceptions without them: collect
    what it logs, to report the refusal as the client saw it."""
    lines = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    h = Collect(logging.WARNING)
    log = logging.getLogger("oras.logger")
    log.addHandler(h)
    try:
        yield lines
    finally:
        log.removeHandler(h)


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class Oras(Client):
    """The oras Python library. Its login (Registry.login) goes through the Docker engine's
    /auth, which runs the registry's token flow and returns the identity token; if the engine
    refuses, oras writes the credentials to its config unchecked and still reports success
    (so a wrong password only shows at first use). Pushes use oras's `basic` backend (Basic
    credentials on /v2, which Berth accepts): its `token` backend keeps its first token and,
    on a 401 asking for more scope, retries with the same one, so a push (blob check with
    pull scope, then an upload that needs push) never works against a registry that scopes
    its tokens. Pulls use the `token` backend, one fresh client per pull (the same reason:
    its token would not follow to another repository)."""
    name = "oras"
    login_verifies = False

    def __init__(self, berth, workdir):
        super().__init__(berth, workdir)
        self.config = os.path.join(workdir, "oras-config.json")
        self.creds = None
        self.pusher = self.registry("basic")
        self.files = None
        self.last_puller = None

    def registry(self, backend):
        return oras.provider.Registry(hostname=self.host, insecure=True, tls_verify=False,
                                      auth_backend=backend)

    def oras_login(self, client):
        user, password = self.creds
        return client.login(username=user, password=password, hostname=self.host, tls_verify=False,
                            config_path=self.config)

    def login(self, user, password):
        self.creds = (user, password)
        try:
            res = self.oras_login(self.pusher)
        except Exception as e:  # noqa: BLE001 - reported as the login's outcome
            return Result(False, repr(e))
        self.login_response = res
        return Result(res.get("Status") == "Login Succeeded", json.dumps(res))

    def logout(self):
        self.pusher.logout(self.host)

    def assert_used_token_service(self, login, user, repo):
        # the engine's login ran the token flow and got a refresh token (identity token) ...
        assert self.login_response.get("IdentityToken"), self.login_response
        # ... and oras's own pulls went through the token service too (a JWT scoped to the repo)
        token = self.last_puller.auth.token
        assert token and token.count(".") == 2, token
        access = jwt_claims(token).get("access") or []
        assert any(a.get("name") == repo and "pull" in a.get("actions", []) for a in access), access

    def prepare(self):
        d = os.path.join(self.dir, f"files-{uuid.uuid4().hex[:8]}")
        os.makedirs(d)
        self.files = {"payload.bin": os.urandom(200 << 10), "notes.txt": f"{uuid.uuid4()}\n".encode()}
        for n, data in self.files.items():
            with open(os.path.join(d, n), "wb") as f:
                f.write(data)
        self.paths = [os.path.join(d, n) for n in self.files]

    def push(self, ref):
        try:
            with oras_errors() as logged:
                resp = self.pusher.push(target=ref, files=self.paths, config_path=self.config,
                                        disable_path_validation=True)
        except Exception as e:  # noqa: BLE001 - oras reports refusals as exceptions
            return Result(False, "\n".join([repr(e), *logged]))
        ok = resp.status_code == 201
        return Result(ok, f"{resp.status_code} {resp.text}", resp.headers.get("Docker-Content-Digest") if ok else None)

    def pull(self, ref):
        client = self.registry("token")
        self.last_puller = client
        out = os.path.join(self.dir, f"out-{uuid.uuid4().hex[:8]}")
        os.makedirs(out)
        try:
            with oras_errors() as logged:
                self.oras_login(client)
                paths = client.pull(target=ref, outdir=out, config_path=self.config)
                container = client.get_container(ref)
                r = client.do_request(f"http://{container.manifest_url()}", "GET",
                                      headers={"Accept": OCI_MANIFEST})
        except Exception as e:  # noqa: BLE001 - oras reports refusals as exceptions
            return Result(False, "\n".join([repr(e), *logged]))
        if r.status_code != 200:
            return Result(False, f"GET manifest {r.status_code} {r.text}")
        self.files = {os.path.basename(p): open(p, "rb").read() for p in paths}
        self.paths = paths
        return Result(True, f"pulled {sorted(self.files)}", sha256(r.content))

    def close(self):
        self.logout()


CLIENTS = {c.name: c for c in (Docker, Podman, Skopeo, Oras)}


@pytest.fixture(params=list(CLIENTS))
def new_client(request, berth, tmp_path, monkeypatch):
    """Makes clients of one kind, each with a configuration of its own."""
    # oras reads ~/.docker/config.json whatever DOCKER_CONFIG says: keep the developer's out
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    made = []

    def make():
        c = CLIENTS[request.param](berth, str(tmp_path / f"{request.param}-{len(made)}"))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def logged_in(new_client, creds):
    c = new_client()
    res = c.login(*creds)
    assert res.ok, f"{c.name} login as {creds[0]}: {res}"
    return c


def assert_refused(res, what):
    assert not res.ok, f"{what} succeeded: {res}"
    print(f"{what}: refused with: {res.output.strip()[-600:]}")
    assert REFUSED.search(res.output), f"{what} failed, but not for lack of permission: {res}"


# ---- every client ---------------------------------------------------------------------------


def test_login_token_flow_push_pull(berth, new_client, repo, admin_api):
    r = requests.get(f"{berth.url}/v2/", auth=ANON, timeout=10)
    assert r.status_code == 401, r.text
    challenge = r.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer ") and f'realm="{berth.url}/token"' in challenge \
        and 'service="berth"' in challenge, challenge

    writer = new_principal(berth, {repo: ["ecr:*"]})

    # the wrong secret: refused by the token service
    wrong = new_client()
    res = wrong.login(writer.key_id, writer.secret[::-1])
    if wrong.login_verifies:
        assert not res.ok, f"{wrong.name} login with a wrong secret succeeded: {res}"
    else:
        assert not getattr(wrong, "login_response", {}).get("IdentityToken"), res
    wrong.prepare()
    assert_refused(wrong.push(f"{berth.hostport}/{repo}:wrong"), "push after a failed login")
    assert admin_api.manifest_status(repo, "wrong") == 404

    c = new_client()
    login = c.login(*writer.key)
    assert login.ok, login
    c.prepare()
    ref = f"{berth.hostport}/{repo}:v1"
    pushed = c.push(ref)
    assert pushed.ok and pushed.digest, pushed
    assert admin_api.head_manifest_digest(repo, "v1") == pushed.digest
    admin_api.get_manifest(repo, pushed.digest)
    pulled = c.pull(ref)
    assert pulled.ok, pulled
    assert pulled.digest == pushed.digest
    c.assert_used_token_service(login, writer.key_id, repo)
    # and by digest
    by_digest = c.pull(f"{berth.hostport}/{repo}@{pushed.digest}")
    assert by_digest.ok and by_digest.digest == pushed.digest, by_digest


def test_read_only_principal_pulls_but_cannot_push(berth, new_client, repo, admin_api):
    owner = logged_in(new_client, berth.admin)
    owner.prepare()
    pushed = owner.push(f"{berth.hostport}/{repo}:v1")
    assert pushed.ok, pushed

    reader = new_principal(berth, {repo: READ_ONLY})
    c = logged_in(new_client, reader.key)
    pulled = c.pull(f"{berth.hostport}/{repo}:v1")
    assert pulled.ok and pulled.digest == pushed.digest, pulled

    # neither new content nor a new tag for what it pulled
    assert_refused(c.push(f"{berth.hostport}/{repo}:retag"), "read-only push of a pulled image")
    c.prepare()
    assert_refused(c.push(f"{berth.hostport}/{repo}:new"), "read-only push of a new image")
    assert sorted(admin_api.tags(repo)) == ["v1"]
    assert admin_api.head_manifest_digest(repo, "v1") == pushed.digest


def test_repository_scoped_principal(berth, new_client, repo, admin_api):
    a, b = f"{repo}/a", f"{repo}/b"
    owner = logged_in(new_client, berth.admin)
    owner.prepare()
    in_b = owner.push(f"{berth.hostport}/{b}:v1")
    assert in_b.ok, in_b

    scoped = new_principal(berth, {a: ["ecr:*"]})
    c = logged_in(new_client, scoped.key)
    c.prepare()
    pushed = c.push(f"{berth.hostport}/{a}:v1")
    assert pushed.ok, pushed
    assert admin_api.head_manifest_digest(a, "v1") == pushed.digest

    assert_refused(c.push(f"{berth.hostport}/{b}:v2"), "push to the other repository")
    assert_refused(c.pull(f"{berth.hostport}/{b}:v1"), "pull from the other repository")
    assert sorted(admin_api.tags(b)) == ["v1"]
    assert admin_api.head_manifest_digest(b, "v1") == in_b.digest

    pulled = c.pull(f"{berth.hostport}/{a}:v1")
    assert pulled.ok and pulled.digest == pushed.digest, pulled


# ---- docker: ECR-style login password, identity (refresh) token -----------------------------


@pytest.fixture
def docker_client(berth, tmp_path):
    made = []

    def make():
        c = Docker(berth, str(tmp_path / f"docker-{len(made)}"))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def test_docker_login_as_aws_with_login_password(berth, docker_client, repo, admin_api):
    p = new_principal(berth, {repo: ["ecr:*"]})
    password = berth.cli("key", "login-password", p.key_id).stdout.strip()
    assert password and "\n" not in password

    bad = docker_client()
    assert not bad.login("AWS", password[:-8] + "AAAAAAAA").ok

    c = docker_client()
    login = c.login("AWS", password)
    assert login.ok, login
    entry = c.auth_entry()
    assert entry, f"docker stored nothing for {berth.hostport}"
    print(f"docker stored for the AWS login: {sorted(entry)}")
    c.prepare()
    pushed = c.push(f"{berth.hostport}/{repo}:aws")
    assert pushed.ok and pushed.digest, pushed
    assert admin_api.head_manifest_digest(repo, "aws") == pushed.digest
    pulled = c.pull(f"{berth.hostport}/{repo}:aws")
    assert pulled.ok and pulled.digest == pushed.digest, pulled


def test_docker_identity_token_then_revoke(berth, docker_client, repo, admin_api):
    p = new_principal(berth, {repo: ["ecr:*"]})
    c = docker_client()
    assert c.login(*p.key).ok
    entry = c.auth_entry()
    # docker asked for offline_token=true and keeps the refresh token instead of the secret
    assert entry.get("identitytoken"), f"docker stored no identity token: {entry}"
    assert base64.b64decode(entry["auth"]).decode() == f"{p.key_id}:", "docker kept the secret"
    token = entry["identitytoken"]

    ref = f"{berth.hostport}/{repo}:v1"
    c.prepare()
    pushed = c.push(ref)
    assert pushed.ok, pushed
    pulled = c.pull(ref)
    assert pulled.ok and pulled.digest == pushed.digest, pulled

    # one login, one refresh token (pushes and pulls redeem it, they make no new ones)
    out = berth.cli("token", "revoke", p.name).stdout
    m = re.search(r"revoked (\d+) refresh token", out)
    assert m and int(m.group(1)) == 1, out

    # the next pull has only the revoked refresh token to show
    def refused():
        res = c.pull(ref)
        assert not res.ok, "pull with a revoked refresh token still works"
        return res
    res = eventually(refused)
    assert REFUSED.search(res.output), res
    print(f"pull with the revoked refresh token: refused with: {res.output.strip()[-600:]}")
    assert c.auth_entry().get("identitytoken") == token

    # the access key itself is fine: a new login gets a new refresh token, pulls work again
    assert c.login(*p.key).ok
    assert c.auth_entry().get("identitytoken") not in (None, "", token)
    again = c.pull(ref)
    assert again.ok and again.digest == pushed.digest, again
