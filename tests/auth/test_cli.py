"""The administration CLI: policy validation with precise messages, principals and keys,
secrets shown once, the administrator's bootstrap credentials."""
import json
import os
import stat

import authhelp as ah
from berth_server import deployment
from conftest import identity_policy, parse_key

ALLOW_ALL = {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}


def doc(*statements, **top):
    return json.dumps(dict({"Version": "2012-10-17", "Statement": list(statements)}, **top))


def huge_identity_policy():
    resources = [ah.repo_arn(f"team/repo-{i:05d}") for i in range(200)]
    text = doc({"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": resources})
    assert len(text) > 6144
    return text


IDENTITY_REJECTS = [
    ("lowercase Effect", doc(dict(ALLOW_ALL, Effect="allow")),
     'Statement[0].Effect must be "Allow" or "Deny", found "allow"'),
    ("unknown action", doc(dict(ALLOW_ALL, Action="ecr:Foo")), "unknown action ecr:Foo"),
    ("Principal in an identity policy", doc(dict(ALLOW_ALL, Principal="*")),
     "Principal is not allowed in an identity policy"),
    ("malformed JSON", '{"Version": "2012-10-17", "Statement": [', "invalid policy JSON"),
    ("empty text", "", "invalid policy JSON"),
    ("huge policy", huge_identity_policy(), "the limit is 6144"),
    ("missing Resource", doc({"Effect": "Allow", "Action": "ecr:*"}), "missing Resource"),
    ("missing Effect", doc({"Action": "ecr:*", "Resource": "*"}), "missing Effect"),
    ("missing Statement", json.dumps({"Version": "2012-10-17"}), "missing Statement"),
    ("empty Statement", doc(), "Statement must not be an empty array"),
    ("not an object", "[1, 2]", "policy must be a JSON object"),
    ("typo in a top-level key", json.dumps({"Statment": [ALLOW_ALL]}), 'unknown top-level key "Statment"'),
    ("duplicate keys", '{"Statement":[' + json.dumps(ALLOW_ALL) + '],"Statement":[]}', 'duplicate key "Statement"'),
    ("deep nesting", '{"Statement":' + "[" * 300 + "]" * 300 + "}", "invalid policy JSON"),
    ("bad version", doc(ALLOW_ALL, Version="2020-01-01"), "Version must be"),
    ("bad ARN", doc(dict(ALLOW_ALL, Resource="arn:aws:ecr")), "is not a valid ARN"),
    ("bad CIDR", doc(dict(ALLOW_ALL, Condition={"IpAddress": {"aws:SourceIp": "not-an-ip"}})),
     "is not an IP address or CIDR block"),
    ("unknown condition operator", doc(dict(ALLOW_ALL, Condition={"Frobnicate": {"aws:SourceIp": "1.2.3.4"}})),
     'unknown condition operator "Frobnicate"'),
    ("Action and NotAction", doc(dict(ALLOW_ALL, NotAction="ecr:PutImage")), "has both Action and NotAction"),
]


def test_hostile_identity_policies_are_rejected(server, make_principal):
    p = make_principal()
    for what, text, message in IDENTITY_REJECTS:
        r = server.cli("policy", "attach", p.name, "evil", "-", input=text, check=False)
        assert r.returncode != 0, f"{what}: accepted"
        assert message in r.stderr, f"{what}: {r.stderr!r} lacks {message!r}"
        assert r.stderr.startswith("berth: invalid policy: "), f"{what}: {r.stderr!r}"
        assert r.stdout == "", f"{what}: {r.stdout!r}"
    # Nothing was attached.
    assert server.cli("policy", "list", p.name).stdout.strip() == ""
    # A valid policy under a bad name.
    r = server.cli("policy", "attach", p.name, "bad name", "-", input=doc(ALLOW_ALL), check=False)
    assert r.returncode != 0 and "policy name" in r.stderr, r.stderr
    # To a principal that does not exist.
    r = server.cli("policy", "attach", "nosuch-principal", "p", "-", input=doc(ALLOW_ALL), check=False)
    assert r.returncode != 0 and "no principal named nosuch-principal" in r.stderr, r.stderr
    # From a file that does not exist.
    r = server.cli("policy", "attach", p.name, "p", "/nonexistent/policy.json", check=False)
    assert r.returncode != 0 and "/nonexistent/policy.json" in r.stderr, r.stderr
    # The principal still can do nothing.
    repo = ah.unique("cli") + "/app"
    ah.assert_denied(p.client().post(f"/v2/{repo}/blobs/uploads/"), p.name, "ecr:InitiateLayerUpload", repo)


def test_policy_attach_list_detach(server, admin_client, make_principal, tmp_path):
    repo = ah.unique("cli-attach") + "/app"
    p = make_principal()
    text = identity_policy("ecr:*", ah.repo_arn(repo))
    f = tmp_path / "policy.json"
    f.write_text(text)
    server.cli("policy", "attach", p.name, "rw", str(f))
    listed = server.cli("policy", "list", p.name).stdout.strip().split("\t", 1)
    assert listed[0] == "rw" and json.loads(listed[1]) == json.loads(text)
    img = ah.eventually(lambda: ah.push_image(p.client(), repo))
    tok, body = p.token(f"repository:{repo}:pull,push")
    assert ah.granted(body) == {f"repository:{repo}:pull,push"}
    server.cli("policy", "detach", p.name, "rw")
    assert server.cli("policy", "list", p.name).stdout.strip() == ""
    ah.eventually(lambda: ah.assert_denied(p.client().get(f"/v2/{repo}/manifests/latest"), p.name,
                                           "ecr:BatchGetImage", repo))
    # A token issued before the detach carries the scope, but policies decide at each request.
    t = ah.Client(server.url, ah.bearer(tok))
    ah.assert_denied(t.get(f"/v2/{repo}/manifests/latest"), p.name, "ecr:BatchGetImage", repo)
    ah.assert_denied(ah.put_manifest(t, repo, "again", img), p.name, "ecr:PutImage", repo)
    r = server.cli("policy", "detach", p.name, "rw", check=False)
    assert r.returncode != 0 and "no policy rw" in r.stderr, r.stderr


def test_hostile_resource_policies_are_rejected(server):
    repo = ah.unique("cli-res") + "/app"
    anyone = {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}
    cases = [
        ("missing Principal", doc({"Effect": "Allow", "Action": "ecr:BatchGetImage"}), "missing Principal"),
        ("lowercase Effect", doc(dict(anyone, Effect="allow")), 'Effect must be "Allow" or "Deny", found "allow"'),
        ("unknown action", doc(dict(anyone, Action="ecr:Foo")), "unknown action ecr:Foo"),
        ("non-ECR action", doc(dict(anyone, Action="s3:GetObject")),
         "is not allowed in a repository or registry policy"),
        ("malformed JSON", "{", "invalid policy JSON"),
        ("huge policy", doc(*([anyone] * 200)), "the limit is 10240"),
        ("bad principal", doc(dict(anyone, Principal={"AWS": "bob"})), "is not a valid AWS principal"),
    ]
    for what, text, message in cases:
        for args in (("repository-policy", "set", repo, "-"), ("registry-policy", "set", "-")):
            r = server.cli(*args, input=text, check=False)
            assert r.returncode != 0, f"{what} ({args[0]}): accepted"
            assert message in r.stderr, f"{what} ({args[0]}): {r.stderr!r} lacks {message!r}"
    assert server.cli("repository-policy", "get", repo, check=False).returncode != 0
    assert server.cli("registry-policy", "get", check=False).returncode != 0
    for bad in ("../x", "UPPER", "a//b", "x-", "a/"):
        r = server.cli("repository-policy", "set", bad, "-", input=doc(anyone), check=False)
        assert r.returncode != 0 and "is not a valid repository name" in r.stderr, (bad, r.stderr)


def test_principal_names_and_duplicates(server):
    name = ah.unique("dup")
    out = server.cli("principal", "create", name).stdout
    assert f"arn:aws:iam::000000000000:user/{name}" in out
    r = server.cli("principal", "create", name, check=False)
    assert r.returncode != 0 and f"principal {name} already exists" in r.stderr, r.stderr
    r = server.cli("principal", "create", name, "--robot", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr, r.stderr
    r = server.cli("principal", "create", "admin", check=False)
    assert r.returncode != 0 and "already exists" in r.stderr, r.stderr
    for bad in ("a b", "a/b", "a:b", "x" * 65, "é", "AWS\n", "*"):
        r = server.cli("principal", "create", bad, check=False)
        assert r.returncode != 0 and "principal name" in r.stderr, (bad, r.stderr)
    listed = server.cli("principal", "list").stdout
    assert listed.count(f"{name}\t") == 1
    assert "admin\tuser\tenabled\tarn:aws:iam::000000000000:user/admin" in listed
    for cmd in (("principal", "disable", "nosuch"), ("principal", "enable", "nosuch"),
                ("principal", "delete", "nosuch"), ("key", "create", "nosuch"),
                ("key", "disable", "BKIANOSUCH"), ("key", "delete", "BKIANOSUCH")):
        r = server.cli(*cmd, check=False)
        assert r.returncode != 0 and "nosuch" in r.stderr.lower(), (cmd, r.stderr)


def test_key_secret_is_shown_once(server, make_principal):
    p = make_principal()
    key_id, secret = p.new_key()
    assert key_id != p.key_id and secret != p.secret
    assert len(secret) >= 30
    outputs = [
        server.cli("key", "list").stdout,
        server.cli("key", "list", "--principal", p.name).stdout,
        server.cli("principal", "list").stdout,
        server.cli("policy", "list", p.name).stdout,
    ]
    listed = server.cli("key", "list", "--principal", p.name).stdout
    assert sorted(line.split("\t")[0] for line in listed.strip().splitlines()) == sorted([p.key_id, key_id])
    for out in outputs:
        for s in (secret, p.secret, server.admin[1]):
            assert s not in out, out
    # (The log, the data directory and the database: test_secrets.py.)


def _status(r, want):
    assert r.status_code == want, f"{r.status_code} {r.text}"


def test_with_key_prints_a_working_key(server):
    name = ah.unique("withkey")
    out = server.cli("principal", "create", name, "--robot", "--with-key").stdout
    assert f"arn:aws:iam::000000000000:role/{name}" in out
    key_id, secret = parse_key(out)
    ah.eventually(lambda: _status(ah.Client(server.url, ah.basic(key_id, secret)).get("/v2/"), 200))
    assert ah.Client(server.url, ah.basic(name, secret)).get("/v2/").status_code == 200


def test_admin_credentials_file(server):
    path = os.path.join(server.data_dir, "admin-credentials")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)
    text = open(path).read()
    key_id, secret = server.admin
    assert f"access_key_id = {key_id}" in text and f"secret_access_key = {secret}" in text
    if deployment() == "embedded":
        key = os.path.join(server.data_dir, "server.key")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600


def test_no_default_password(server, new_server):
    other = new_server()
    a, b = server.admin, other.admin
    assert a[0] != b[0] and a[1] != b[1]
    for key_id, secret in (a, b):
        assert len(secret) >= 30 and len(set(secret)) > 10, secret
    # Guessable passwords do not work.
    for user in ("admin", a[0]):
        for pw in ("admin", "password", "berth", "", "changeme", user):
            r = ah.Client(server.url, ah.basic(user, pw)).get("/v2/")
            assert r.status_code == 401, (user, pw, r.status_code)
    # Restarting does not rotate or reveal the administrator again: the file is unchanged,
    # and what the restarted server writes shows neither a banner nor the secret.
    path = os.path.join(other.data_dir, "admin-credentials")
    before = open(path).read()
    with open(other.log_path, "rb") as f:
        first = f.read()
    assert first.count(b"First start: created the administrator") == 1 and b[1].encode() in first
    other.stop()
    other.start()
    assert open(path).read() == before
    with open(other.log_path, "rb") as f:
        f.seek(len(first))
        restarted = f.read().decode(errors="replace")
    assert "berth is serving" in restarted
    assert "First start" not in restarted and b[1] not in restarted, restarted
    r = ah.Client(other.url, ah.basic(*b)).get("/v2/")
    assert r.status_code == 200, r.text
