"""Secrets never reach the log or rest in plain text. A server of the test's own, logging at
`trace` (text) or `debug` (JSON), handles every kind of secret it knows, the right ones and
wrong guesses; afterwards its whole log, the CLI's output where no secret is meant to be
shown, every file of its data directory and every row of its metadata database hold none of
them."""
import base64
import os
import re
import subprocess
import sys
import urllib.parse

import pytest

import authhelp as ah
from berth_server import deployment
from conftest import HERE, identity_policy, parse_key

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "ecr"))
import ecrhelp as eh  # noqa: E402  (the SigV4 signer)

# What a first start prints once, on standard output (which the harness writes into the same
# file as the log): the bootstrap administrator's credentials.
BANNER = re.compile(r"First start: created the administrator \"admin\".*?Log in with: [^\n]*\n", re.S)


class Secrets:
    """Every secret the test handed to, or got from, the server, by name."""

    def __init__(self):
        self.values = {}
        self.raw = {}

    def add(self, name, value, raw=None):
        """`raw`: the bytes `value` encodes (a base64 key), looked for as well."""
        assert value and len(value) >= 16, f"{name}: {value!r} is too short to search for"
        assert name not in self.values, name
        self.values[name] = value
        self.raw[name] = [value.encode()] + ([raw] if raw else [])
        return value

    def add_basic(self, name, user, password):
        """The Authorization value that carries `password` (what a header dump would show)."""
        self.add(f"{name} (Basic header)", base64.b64encode(f"{user}:{password}".encode()).decode())

    def find_in_text(self, text, allowed=()):
        """The names of the secrets in `text`, as themselves or hex-encoded (as PostgreSQL dumps
        a bytea that would hold them)."""
        return sorted(n for n, forms in self.raw.items() if n not in allowed
                      and (self.values[n] in text or any(f.hex() in text for f in forms)))

    def find_in_bytes(self, data, allowed=()):
        return sorted(n for n, forms in self.raw.items() if n not in allowed
                      and any(f in data for f in forms))


def ok(r, what):
    assert r.status_code == 200, f"{what}: {r.status_code} {r.text[:300]}"
    return r.json() if r.content else None


def refused(r, what):
    assert r.status_code == 401, f"{what}: {r.status_code} {r.text[:300]}"


@pytest.mark.parametrize("level,fmt", [("trace", "text"), ("debug", "json")])
def test_no_secret_in_the_log_cli_output_or_at_rest(new_server, level, fmt):
    # Waiting for a new key to work, and the wrong guesses, count as failed attempts.
    srv = new_server({"BERTH_LOG__FILTER": level, "RUST_LOG": level, "BERTH_LOG__FORMAT": fmt,
                      "BERTH_AUTH__MAX_FAILURES": "1000"})
    s = Secrets()
    cli_outputs = []  # (command, stdout, stderr, the secrets its stdout exists to show)

    def cli(*args, shows=(), input=None):
        out = srv.cli(*args, input=input)
        cli_outputs.append((" ".join(args), out.stdout, out.stderr, shows))
        return out.stdout

    # The server key that seals stored secrets; the database's and the bucket's credentials
    # (the server is serving: it has used them).
    if deployment() == "production":
        env = srv.config_env
        key = env["BERTH_AUTH__SERVER_KEY"]
        password = urllib.parse.urlsplit(env["BERTH_METADATA__URL"]).password
        s.add("database password", urllib.parse.unquote(password or ""))
        # (The access key id is a name, not a secret, as Berth's own key ids are: the S3
        # client shows it at debug, with the secret redacted.)
        s.add("S3 secret key", os.environ["BERTH_STORAGE__SECRET_ACCESS_KEY"])
    else:
        with open(os.path.join(srv.data_dir, "server.key")) as f:
            key = f.read().strip()
    s.add("server key", key, raw=base64.b64decode(key))

    admin_id, admin_secret = srv.admin
    s.add("admin secret", admin_secret)
    s.add_basic("admin secret", admin_id, admin_secret)
    ok(ah.Client(srv.url, ah.basic(admin_id, admin_secret)).get("/v2/"), "admin Basic")

    # Access-key secrets, made by the CLI: one with the principal, one more.
    name = ah.unique("sec")
    repo = ah.unique("sec") + "/app"
    id1, secret1 = parse_key(cli("principal", "create", name, "--with-key", shows=["key secret 1"]))
    s.add("key secret 1", secret1)
    s.add_basic("key secret 1", id1, secret1)
    cli("policy", "attach", name, "rw", "-", input=identity_policy("ecr:*", "*"))
    id2, secret2 = parse_key(cli("key", "create", name, shows=["key secret 2"]))
    s.add("key secret 2", secret2)

    # Secret 1 as Basic credentials on /v2 (a push: blobs reach the storage backend) and on
    # GET /token with offline_token=true (a JWT and a refresh token).
    c1 = ah.Client(srv.url, ah.basic(id1, secret1))
    ah.eventually(lambda: ok(c1.get("/v2/"), "key 1 Basic"))
    img = ah.push_image(c1, repo)
    jwt, body = ah.token_for(srv.url, ah.basic(id1, secret1), [f"repository:{repo}:pull,push"],
                             offline=True)
    s.add("JWT from key 1", jwt)
    s.add("refresh token 1", body["refresh_token"])

    # Secret 2 signs an ECR call (SigV4: the server opens the sealed secret to check the
    # signature) that returns a login password, and is the password of an OAuth2 password grant.
    body = ok(eh.call(srv, (id2, secret2), "GetAuthorizationToken"), "GetAuthorizationToken")
    auth_token = s.add("ECR authorization token", body["authorizationData"][0]["authorizationToken"])
    user, _, login1 = base64.b64decode(auth_token).decode().partition(":")
    assert user == "AWS", user
    s.add("login password 1", login1)
    body = ok(ah.post_token(srv.url, {"grant_type": "password", "username": id2, "password": secret2,
                                      "service": "berth", "access_type": "offline",
                                      "scope": f"repository:{repo}:pull"}), "password grant")
    s.add("JWT from key 2", body["access_token"])
    s.add("refresh token 2", body["refresh_token"])
    s.add_basic("key secret 2", id2, secret2)

    # Login passwords (user AWS), from the ECR API and from the CLI, on /v2 and the token service.
    login2 = cli("key", "login-password", id2, shows=["login password 2"]).strip()
    s.add("login password 2", login2)
    for n, pw in (("login password 1", login1), ("login password 2", login2)):
        s.add_basic(n, "AWS", pw)
        ah.pull_image(ah.Client(srv.url, ah.basic("AWS", pw)), repo, "latest", img)
    s.add("JWT from login password 1",
          ah.token_for(srv.url, ah.basic("AWS", login1), [f"repository:{repo}:pull"])[0])
    body = ok(ah.post_token(srv.url, {"grant_type": "password", "username": "AWS", "password": login2,
                                      "service": "berth", "scope": f"repository:{repo}:pull"}),
              "password grant with a login password")
    s.add("JWT from login password 2", body["access_token"])

    # Refresh tokens, redeemed.
    for n in ("refresh token 1", "refresh token 2"):
        body = ok(ah.post_token(srv.url, {"grant_type": "refresh_token", "refresh_token": s.values[n],
                                          "service": "berth", "scope": f"repository:{repo}:pull"}), n)
        s.add(f"JWT from {n}", body["access_token"])

    # A restart: the server reads its key, the sealed secrets and the signing keys back.
    srv.stop()
    srv.start()

    # Every JWT, presented as a bearer token.
    jwts = [v for n, v in s.values.items() if n.startswith("JWT")]
    assert len(jwts) == 6
    for t in jwts:
        ah.pull_image(ah.Client(srv.url, ah.bearer(t)), repo, "latest", img)

    # Wrong guesses are secrets too: a mistyped password is most of the right one.
    wrong = [s.add(f"wrong password {i}", secret1[:-6] + f"XXXXX{i}") for i in range(3)]
    refused(ah.Client(srv.url, ah.basic(id1, wrong[0])).get("/v2/"), "wrong Basic password")
    refused(ah.get_token(srv.url, ah.basic(id1, wrong[1])), "wrong password on GET /token")
    refused(ah.post_token(srv.url, {"grant_type": "password", "username": id2, "password": wrong[2],
                                    "service": "berth"}), "wrong password grant")
    fake = s.add("wrong refresh token", "brt_" + ah.b64url(os.urandom(32)))
    refused(ah.post_token(srv.url, {"grant_type": "refresh_token", "refresh_token": fake,
                                    "service": "berth"}), "wrong refresh token")
    header, claims, _ = ah.jwt_parts(jwt)
    forged = s.add("forged JWT", ah.sign_hs256(header, claims, ah.random_key()))
    refused(ah.Client(srv.url, ah.bearer(forged)).get("/v2/"), "forged JWT")

    # Administration commands that show no secret.
    for args in (("principal", "list"), ("key", "list"), ("key", "list", "--principal", name),
                 ("policy", "list", name), ("token", "revoke", name), ("key", "disable", id2)):
        cli(*args)

    srv.stop()  # all it had to say is written

    # The whole log. The administrator's secret appears once, in the first start's banner
    # on standard output, and nowhere else.
    with open(srv.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    banners = BANNER.findall(log)
    assert len(banners) == 1, f"{len(banners)} first-start banners"
    assert f"secret access key: {admin_secret}\n" in banners[0], banners[0]
    log = BANNER.sub("", log)
    # The filter applied (Berth itself has no trace events; the S3 client has).
    shown = ["DEBUG"] + (["TRACE"] if level == "trace" and deployment() == "production" else [])
    for lv in shown:
        marker = {"text": f" {lv} ", "json": f'"level":"{lv}"'}[fmt]
        assert marker in log, f"the log has no {lv} lines: the filter did not apply"
    assert s.find_in_text(log) == [], f"secrets in the log at {level}"

    for command, stdout, stderr, shows in cli_outputs:
        assert s.find_in_text(stderr) == [], f"berth {command}: secrets on standard error"
        assert s.find_in_text(stdout, allowed=shows) == [], f"berth {command}: secrets on standard output"
        for n in shows:
            assert s.values[n] in stdout, f"berth {command} did not show {n}"

    # At rest: every file of the data directory, byte for byte (the SQLite database and its
    # journal, stored blobs), but for the two files that exist to hold one secret each.
    allowed_in = {"server.key": ["server key"], "admin-credentials": ["admin secret"]}
    stored = []
    for root, _, files in os.walk(srv.data_dir):
        for fname in files:
            path = os.path.join(root, fname)
            if path == srv.log_path:
                continue
            with open(path, "rb") as f:
                data = f.read()
            stored.append(data)
            found = s.find_in_bytes(data, allowed=allowed_in.get(fname, ()))
            assert found == [], f"{os.path.relpath(path, srv.data_dir)} holds {found}"
    if deployment() == "production":
        # Every row of every table.
        dump = subprocess.run(["pg_dump", "--data-only", "--no-owner", srv.config_env["BERTH_METADATA__URL"]],
                              capture_output=True, text=True, timeout=60, check=True).stdout
        assert s.find_in_text(dump) == [], "secrets in the PostgreSQL database"
        stored = [dump.encode()]
    # What was searched holds the identities: the access keys' rows, with their sealed secrets.
    for key_id in (admin_id, id1, id2):
        assert any(key_id.encode() in data for data in stored), f"access key {key_id} not found at rest"
