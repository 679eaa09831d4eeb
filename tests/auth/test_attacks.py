"""Attacks on tokens and credentials: forged and tampered JWTs, expired tokens, tokens from
another server or for another repository, scope escalation, revoked identities, path tricks
and garbage Authorization headers."""
import base64
import http.client
import json
import time

import pytest

import authhelp as ah
from conftest import create_principal, identity_policy, parse_key, wait_key_works

PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


@pytest.fixture(scope="module")
def target(server):
    """A repository with an image, a principal allowed to pull it only, and that principal's
    pull token."""
    admin = ah.Client(server.url, ah.basic(*server.admin))
    repo = ah.unique("target") + "/app"
    img = ah.push_image(admin, repo)
    p = create_principal(server, [("pull", identity_policy(PULL, ah.repo_arn(repo)))])
    tok, _ = p.token(f"repository:{repo}:pull")
    return {"repo": repo, "img": img, "p": p, "token": tok}


def assert_invalid_token(server, token, repo):
    """The token is refused everywhere: /v2/, a repository read, a push, the catalog."""
    c = ah.Client(server.url, ah.bearer(token))
    ah.assert_challenge(c.get("/v2/"), server.url, error="invalid_token")
    ah.assert_challenge(c.get(f"/v2/{repo}/manifests/latest"), server.url, error="invalid_token")
    ah.assert_challenge(c.post(f"/v2/{repo}/blobs/uploads/"), server.url, error="invalid_token")
    ah.assert_challenge(c.get("/v2/_catalog"), server.url, error="invalid_token")


def test_real_token_works(server, target):
    # The baseline the forgeries below are measured against.
    c = ah.Client(server.url, ah.bearer(target["token"]))
    ah.pull_image(c, target["repo"], "latest", target["img"])


def test_alg_none(server, target):
    header, claims, sig = ah.jwt_parts(target["token"])
    claims["access"][0]["actions"] = ["pull", "push", "delete"]
    for alg in ("none", "None", "NONE"):
        h = ah.enc_json({"alg": alg, "typ": "JWT", "kid": header["kid"]})
        body = ah.enc_json(claims)
        for forged in (f"{h}.{body}.", f"{h}.{body}", f"{h}.{body}.{sig}"):
            assert_invalid_token(server, forged, target["repo"])


def test_algorithm_substitution(server, target):
    header, claims, sig = ah.jwt_parts(target["token"])
    body = ah.enc_json(claims)
    for alg in ("HS384", "HS512", "RS256", "ES256", "hs256", "PS256", ""):
        h = ah.enc_json(dict(header, alg=alg))
        assert_invalid_token(server, f"{h}.{body}.{sig}", target["repo"])


def test_wrong_signing_key(server, target):
    header, claims, _ = ah.jwt_parts(target["token"])
    claims = dict(claims, sub="admin", exp=int(time.time()) + 3600,
                  access=[{"type": "repository", "name": target["repo"], "actions": ["*"]},
                          {"type": "registry", "name": "catalog", "actions": ["*"]}])
    key = ah.random_key()
    for kid in (header["kid"], "k" + header["kid"][1:], "default", "1"):
        forged = ah.sign_hs256({"alg": "HS256", "typ": "JWT", "kid": kid}, claims, key)
        assert_invalid_token(server, forged, target["repo"])
    # No kid at all; an empty key; a key that is the kid itself.
    assert_invalid_token(server, ah.sign_hs256({"alg": "HS256", "typ": "JWT"}, claims, key), target["repo"])
    assert_invalid_token(server, ah.sign_hs256({"alg": "HS256", "kid": header["kid"]}, claims, b""),
                         target["repo"])
    assert_invalid_token(server, ah.sign_hs256({"alg": "HS256", "kid": header["kid"]}, claims,
                                               header["kid"].encode()), target["repo"])


def test_tampered_payload_with_the_original_signature(server, target):
    header, claims, sig = ah.jwt_parts(target["token"])
    h = target["token"].split(".")[0]
    repo = target["repo"]
    variants = [
        dict(claims, access=[{"type": "repository", "name": repo, "actions": ["pull", "push"]}]),
        dict(claims, access=[{"type": "repository", "name": repo, "actions": ["*"]}]),
        dict(claims, sub="admin"),
        dict(claims, exp=claims["exp"] + 86400),
        dict(claims, aud="other"),
        dict(claims, akid=None),
    ]
    for v in variants:
        assert_invalid_token(server, f"{h}.{ah.enc_json(v)}.{sig}", repo)
    # Re-encoded with padding or extra whitespace: a different signing input.
    padded = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()
    assert_invalid_token(server, f"{h}.{padded}.{sig}", repo)
    # A truncated or altered signature.
    assert_invalid_token(server, f"{h}.{target['token'].split('.')[1]}.{sig[:-2]}", repo)
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert_invalid_token(server, f"{h}.{target['token'].split('.')[1]}.{flipped}", repo)
    # The original is still good.
    assert ah.Client(server.url, ah.bearer(target["token"])).get(
        f"/v2/{repo}/manifests/latest").status_code == 200


def test_token_for_one_repository_used_on_another(server, admin_client, target):
    other = ah.unique("other") + "/app"
    img = ah.push_image(admin_client, other)
    c = ah.Client(server.url, ah.bearer(target["token"]))
    ah.assert_challenge(c.get(f"/v2/{other}/manifests/latest"), server.url,
                        scope=f"repository:{other}:pull", error="insufficient_scope")
    ah.assert_challenge(c.get(f"/v2/{other}/blobs/{img.layer_digest}"), server.url,
                        scope=f"repository:{other}:pull", error="insufficient_scope")
    ah.assert_challenge(c.post(f"/v2/{other}/blobs/uploads/"), server.url,
                        scope=f"repository:{other}:pull,push", error="insufficient_scope")
    # Even the administrator's token is bounded by its scope.
    tok, _ = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{target['repo']}:pull"])
    c = ah.Client(server.url, ah.bearer(tok))
    ah.assert_challenge(c.get(f"/v2/{other}/manifests/latest"), server.url,
                        scope=f"repository:{other}:pull", error="insufficient_scope")
    ah.assert_challenge(c.delete(f"/v2/{other}/manifests/{img.digest}"), server.url,
                        scope=f"repository:{other}:delete", error="insufficient_scope")
    # A repository whose name merely starts with the granted one is another repository.
    ah.assert_challenge(c.get(f"/v2/{target['repo']}x/manifests/latest"), server.url,
                        scope=f"repository:{target['repo']}x:pull", error="insufficient_scope")
    ah.assert_challenge(c.get(f"/v2/{target['repo']}/sub/manifests/latest"), server.url,
                        scope=f"repository:{target['repo']}/sub:pull", error="insufficient_scope")
    ah.pull_image(admin_client, other, "latest", img)


def test_scope_escalation(server, admin_client, target):
    p, repo = target["p"], target["repo"]
    tok, body = p.token(f"repository:{repo}:pull,push,delete,*")
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    assert ah.jwt_claims(tok)["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    tok, body = p.token(f"repository:{repo}:*")
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    tok, body = p.token(f"repository:{repo}:push", f"repository:{repo}:delete")
    assert ah.granted(body) == set()
    other = ah.unique("esc") + "/app"
    ah.push_image(admin_client, other)
    tok, body = p.token(f"repository:{other}:pull,push")
    assert ah.granted(body) == set() and ah.jwt_claims(tok)["access"] == []
    # Unknown actions and resource types are not granted, even to the administrator.
    tok, body = ah.token_for(server.url, ah.basic(*server.admin),
                             [f"repository:{repo}:admin,frobnicate", "registry:everything:*",
                              "repository(plugin):" + repo + ":pull"])
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    # Scopes for a repository name plus a suffix or a wildcard grant exactly that name.
    tok, body = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{repo}*:pull",
                                                                  "repository:*:pull"])
    assert ah.granted(body) == set()


def test_token_from_another_server(server, new_server, target):
    other = new_server()
    other_admin = ah.basic(*other.admin)
    repo = target["repo"]
    # The other server's administrator token, presented here.
    tok, _ = ah.token_for(other.url, other_admin, [f"repository:{repo}:*"])
    assert_invalid_token(server, tok, repo)
    # This server's token, presented there.
    tok, _ = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{repo}:*"])
    assert_invalid_token(other, tok, repo)
    # Credentials are per registry too.
    r = ah.Client(other.url, ah.basic(*server.admin)).get("/v2/")
    assert r.status_code == 401
    assert other.admin != server.admin


def test_disabled_key(server, make_principal):
    repo = ah.unique("diskey") + "/app"
    p = make_principal(("rw", identity_policy("ecr:*", ah.repo_arn(repo))))
    c = p.client()
    img = ah.push_image(c, repo)
    tok, _ = p.token(f"repository:{repo}:pull,push")
    t = ah.Client(server.url, ah.bearer(tok))
    ah.pull_image(t, repo, "latest", img)
    other_id, other_secret = p.new_key()
    wait_key_works(server, other_id, other_secret)

    server.cli("key", "disable", p.key_id)
    assert "disabled" in server.cli("key", "list", "--principal", p.name).stdout

    def refused():
        ah.assert_challenge(c.get("/v2/"), server.url)
        ah.assert_challenge(c.get(f"/v2/{repo}/manifests/latest"), server.url)
        ah.assert_challenge(t.get(f"/v2/{repo}/manifests/latest"), server.url, error="invalid_token")
    ah.eventually(refused)
    assert ah.get_token(server.url, p.basic, [f"repository:{repo}:pull"]).status_code == 401
    # The principal's other key is unaffected, and its tokens work.
    other = ah.Client(server.url, ah.basic(other_id, other_secret))
    ah.pull_image(other, repo, "latest", img)
    # Enabled again, the key and (unexpired) token work again.
    server.cli("key", "enable", p.key_id)
    ah.eventually(lambda: ah.pull_image(t, repo, "latest", img))
    ah.pull_image(c, repo, "latest", img)
    # Deleted, for good.
    server.cli("key", "delete", p.key_id)
    ah.eventually(lambda: ah.assert_challenge(t.get(f"/v2/{repo}/manifests/latest"), server.url,
                                              error="invalid_token"))
    ah.assert_challenge(c.get("/v2/"), server.url)


def test_disabled_principal(server, make_principal):
    repo = ah.unique("disprin") + "/app"
    p = make_principal(("rw", identity_policy("ecr:*", ah.repo_arn(repo))))
    c = p.client()
    img = ah.push_image(c, repo)
    tok, _ = p.token(f"repository:{repo}:pull")
    t = ah.Client(server.url, ah.bearer(tok))
    server.cli("principal", "disable", p.name)
    assert f"{p.name}\tuser\tdisabled" in server.cli("principal", "list").stdout

    def refused():
        assert c.get("/v2/").status_code == 401
        assert c.get(f"/v2/{repo}/manifests/latest").status_code == 401
        ah.assert_challenge(t.get(f"/v2/{repo}/manifests/latest"), server.url, error="invalid_token")
        assert ah.get_token(server.url, p.basic, [f"repository:{repo}:pull"]).status_code == 401
    ah.eventually(refused)
    server.cli("principal", "enable", p.name)
    ah.eventually(lambda: ah.pull_image(t, repo, "latest", img))


def test_deleted_principal_recreated_with_the_same_name(server, make_principal):
    repo = ah.unique("recreate") + "/app"
    policy = identity_policy("ecr:*", ah.repo_arn(repo))
    p = make_principal(("rw", policy))
    img = ah.push_image(p.client(), repo)
    tok, _ = p.token(f"repository:{repo}:pull,push")
    t = ah.Client(server.url, ah.bearer(tok))
    login = server.cli("key", "login-password", p.key_id).stdout.strip()
    server.cli("principal", "delete", p.name)
    ah.eventually(lambda: ah.assert_challenge(t.get(f"/v2/{repo}/manifests/latest"), server.url,
                                              error="invalid_token"))
    # Its keys, policies and refresh tokens went with it.
    assert p.key_id not in server.cli("key", "list").stdout
    # Same name, same policy, new identity: the old token, key and login password stay dead.
    server.cli("principal", "create", p.name)
    server.cli("policy", "attach", p.name, "rw", "-", input=policy)
    new_id, new_secret = parse_key(server.cli("key", "create", p.name).stdout)
    wait_key_works(server, new_id, new_secret)
    ah.assert_challenge(t.get(f"/v2/{repo}/manifests/latest"), server.url, error="invalid_token")
    ah.assert_challenge(t.post(f"/v2/{repo}/blobs/uploads/"), server.url, error="invalid_token")
    assert ah.Client(server.url, p.basic).get("/v2/").status_code == 401
    assert ah.Client(server.url, ah.basic("AWS", login)).get("/v2/").status_code == 401
    # The new principal works with its own credentials.
    ah.pull_image(ah.Client(server.url, ah.basic(new_id, new_secret)), repo, "latest", img)


def test_path_tricks_never_grant_anything(server, admin_client, target):
    """Repository names with dot segments, encoded slashes, uppercase or empty segments, in
    URLs and in scopes: refused as invalid names (400 NAME_INVALID) before anyone's
    credentials are looked at, never served, never a server error."""
    p, repo = target["p"], target["repo"]
    base = repo.split("/")[0]
    secret_repo = f"{base}/secret"
    secret_img = ah.push_image(admin_client, secret_repo)
    d = secret_img.layer_digest
    paths = [
        "/v2/../admin/manifests/latest",
        f"/v2/{repo}/../secret/manifests/latest",
        f"/v2/{repo}/%2e%2e/secret/manifests/latest",
        f"/v2/{repo}/%2E%2E/secret/manifests/latest",
        f"/v2/{repo}%2F..%2Fsecret/manifests/latest",
        f"/v2/{repo}/..%2fsecret/manifests/latest",
        f"/v2/{base}/./secret/manifests/latest",
        f"/v2/{base}//secret/manifests/latest",
        f"/v2/{base}/app/../secret/blobs/{d}",
        f"/v2/{base}/%2e%2e/{base}/secret/blobs/{d}",
        f"/v2/{base.upper()}/SECRET/manifests/latest",
        f"/v2/{base}/Secret/manifests/latest",
        f"/v2/{base}/secret%00/manifests/latest",
        f"/v2/{base}/secret%20/manifests/latest",
        f"/v2/%2Fetc%2Fpasswd/manifests/latest",
        f"/v2/{base}/secret/manifests/..%2F..%2Fapp%2Fmanifests%2Flatest",
        f"/v2/{repo}/blobs/uploads/../../../secret/blobs/{d}",
        f"/v2/{base}/%252e%252e/secret/manifests/latest",
        f"/v2/{base}/secret\\..\\app/manifests/latest",
    ]
    # Not a name at all: an upload path whose session id is dot segments.
    unknown = f"/v2/{base}/secret/blobs/uploads/..%2F..%2F.."
    paths.append(unknown)
    creds = {
        "anonymous": {},
        "pull-only principal": {"Authorization": ah.basic_value(p.key_id, p.secret)},
        "pull token": {"Authorization": f"Bearer {target['token']}"},
    }
    for who, headers in creds.items():
        for path in paths:
            for method in ("GET", "HEAD", "DELETE", "POST", "PUT"):
                status, h, body = ah.raw_request(server.url, method, path, headers=headers)
                want = (404, ["NAME_UNKNOWN"]) if path == unknown else (400, ["NAME_INVALID"])
                got = (status, ah.error_codes_of(body) if method != "HEAD" else want[1])
                assert got == want, f"{who} {method} {path}: {status} {body[:300]!r}"
                assert secret_img.manifest not in body and secret_img.layer not in body
    # The admin is not confused either: these are not names of any repository.
    for path in paths[:4]:
        status, _, body = ah.raw_request(server.url, "GET", path,
                                         headers={"Authorization": ah.basic_value(*server.admin)})
        assert status == 400 and ah.error_codes_of(body) == ["NAME_INVALID"], f"admin GET {path}: {status} {body!r}"
    # Scopes naming invalid repositories grant nothing (and do not break the service).
    scopes = [f"repository:{repo}/../secret:pull", "repository:../x:pull", f"repository:{base}//secret:pull",
              f"repository:{base.upper()}/SECRET:pull", "repository:/abs:pull", f"repository:{base}/secret/:pull",
              f"repository:{base}/./secret:pull", "repository:%2e%2e/x:pull", "repository::pull",
              "repository:a:b:c:pull", "repository", "::", "repository:" + "a" * 5000 + ":pull",
              f"repository:{base}/secret\x00:pull"]
    for s in scopes:
        r = ah.get_token(server.url, p.basic, [s])
        assert r.status_code == 200, f"{s!r}: {r.status_code} {r.text[:200]}"
        assert ah.granted(r.json()) == set(), f"{s!r}: {r.json()['scope']}"
        # Not even the administrator gets a token for a name that is not a repository name.
        r = ah.get_token(server.url, ah.basic(*server.admin), [s])
        assert r.status_code == 200, f"admin {s!r}: {r.status_code}"
        assert ah.granted(r.json()) == set(), f"admin {s!r}: {r.json()['scope']}"
        assert ah.jwt_claims(r.json()["token"])["access"] == []
    # The secret repository is intact and still closed to the pull-only principal.
    ah.assert_denied(p.client().get(f"/v2/{secret_repo}/manifests/latest"), p.name,
                     "ecr:BatchGetImage", secret_repo)
    ah.pull_image(admin_client, secret_repo, "latest", secret_img)


GARBAGE = [
    "Basic !!!",
    "Basic",
    "Basic ",
    "Basic " + base64.b64encode(b"nocolon").decode(),
    "Basic " + base64.b64encode(b":").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Basic " + base64.b64encode(b"u" * 10000 + b":" + b"p" * 10000).decode(),
    "Bearer",
    "Bearer ",
    "Bearer " + "A" * 20000,
    "Bearer " + "eyJ" + "." * 3,
    "Bearer ...",
    "Bearer a.b.c",
    "Bearer " + ah.enc_json({"alg": "HS256", "kid": "x" * 5000}) + ".e30.x",
    "Digest username=admin",
    "Negotiate YII=",
    "basic",
    "AWS4-HMAC-SHA256 Credential=x",
    "Bearer\tabc",
    " ",
]


def test_garbage_authorization_headers(server, target):
    repo = target["repo"]
    for value in GARBAGE:
        for method, path in (("GET", "/v2/"), ("GET", f"/v2/{repo}/manifests/latest"),
                             ("POST", f"/v2/{repo}/blobs/uploads/"), ("GET", "/v2/_catalog")):
            status, h, body = ah.raw_request(server.url, method, path, headers={"Authorization": value})
            assert status == 401, f"{method} {path} with {value[:40]!r}: {status} {body[:200]!r}"
            assert h.get("www-authenticate", "").startswith("Bearer realm="), h
        status, h, body = ah.raw_request(server.url, "GET", "/token?service=berth&scope=repository:x:pull",
                                         headers={"Authorization": value})
        assert status == 401, f"/token with {value[:40]!r}: {status} {body[:200]!r}"
    # Non-UTF-8 bytes in the header.
    host, port = server.hostport.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest("GET", f"/v2/{repo}/manifests/latest")
        conn.putheader("Authorization", b"Basic \xff\xfe\xfd")
        conn.endheaders()
        r = conn.getresponse()
        r.read()
        assert r.status == 401, r.status
    finally:
        conn.close()


def test_login_password_is_not_a_bearer_token(server, target):
    p, repo = target["p"], target["repo"]
    login = server.cli("key", "login-password", p.key_id).stdout.strip()
    # It works as a password for user AWS...
    assert ah.Client(server.url, ah.basic("AWS", login)).get(f"/v2/{repo}/manifests/latest").status_code == 200
    # ...not as a bearer token, nor as a password for any other user name.
    assert_invalid_token(server, login, repo)
    for user in (p.key_id, p.name, "aws", "admin"):
        assert ah.Client(server.url, ah.basic(user, login)).get("/v2/").status_code == 401
    # And a bearer token is not a login password.
    for tok in (target["token"], ah.token_for(server.url, ah.basic(*server.admin), [])[0]):
        r = ah.Client(server.url, ah.basic("AWS", tok)).get("/v2/")
        ah.assert_challenge(r, server.url)
        assert ah.get_token(server.url, ah.basic("AWS", tok), [f"repository:{repo}:pull"]).status_code == 401


def serve_until_expired(fetch, exp, assert_refused):
    """Present a credential expiring at `exp` (Unix seconds) again and again: answered before
    `exp`, it must work; sent at or after `exp`, it must be refused (whole seconds, no leeway),
    so a cached verification must not outlive it either. Returns once it was refused."""
    while True:
        sent = time.time()
        r = fetch()
        if sent >= exp:
            assert_refused(r)
            return
        if time.time() < exp:
            assert r.status_code == 200, f"{exp - time.time():.2f} s before expiry: {r.status_code} {r.text}"
        elif r.status_code != 200:  # sent before, answered after: either
            assert_refused(r)
        time.sleep(0.05)


def test_expired_tokens(new_server):
    """Tokens and login passwords work until they expire and not after. Each must be seen
    working first: if this machine took longer than their lifetime to get and present them,
    the test starts over with lifetimes four times as long."""
    for ttl in (2, 8, 32):
        srv = new_server({"BERTH_AUTH__TOKEN_TTL_SECS": str(ttl), "BERTH_AUTH__LOGIN_TOKEN_TTL_SECS": str(ttl)})
        admin = ah.Client(srv.url, ah.basic(*srv.admin))
        repo = ah.unique("ttl") + "/app"
        img = ah.push_image(admin, repo)
        tok, body = ah.token_for(srv.url, ah.basic(*srv.admin), [f"repository:{repo}:pull"])
        login = srv.cli("key", "login-password", srv.admin[0]).stdout.strip()
        with_token = ah.Client(srv.url, ah.bearer(tok))
        with_login = ah.Client(srv.url, ah.basic("AWS", login))
        fresh = [with_token.get(f"/v2/{repo}/manifests/latest"), with_login.get("/v2/")]
        exp = min(ah.jwt_claims(tok)["exp"], ah.jwt_claims(login)["exp"])
        if time.time() < exp:
            break
        srv.cleanup()
    else:
        pytest.fail(f"getting and presenting a token took longer than {ttl} s")
    for r in fresh:
        assert r.status_code == 200, r.text
    assert body["expires_in"] == ttl
    for t in (tok, login):
        claims = ah.jwt_claims(t)
        assert claims["exp"] - claims["iat"] == ttl, claims

    serve_until_expired(lambda: with_token.get(f"/v2/{repo}/manifests/latest"), ah.jwt_claims(tok)["exp"],
                        lambda r: ah.assert_challenge(r, srv.url, error="invalid_token"))
    ah.assert_challenge(with_token.get("/v2/"), srv.url, error="invalid_token")
    ah.assert_challenge(with_token.get(f"/v2/{repo}/blobs/{img.layer_digest}"), srv.url, error="invalid_token")
    # An expired login password.
    serve_until_expired(lambda: with_login.get("/v2/"), ah.jwt_claims(login)["exp"],
                        lambda r: ah.assert_challenge(r, srv.url))
    assert ah.get_token(srv.url, ah.basic("AWS", login), []).status_code == 401
    # A fresh token works (the server is fine, only the old token expired).
    tok, _ = ah.token_for(srv.url, ah.basic(*srv.admin), [f"repository:{repo}:pull"])
    r = ah.Client(srv.url, ah.bearer(tok)).get(f"/v2/{repo}/manifests/latest")
    assert r.status_code == 200, r.text


def test_upload_session_of_another_repository(server, admin_client, make_principal):
    """An upload session belongs to its repository: knowing its id does not let a principal
    write into it through a repository it may push to."""
    base = ah.unique("hijack")
    victim_repo, own = f"{base}/victim", f"{base}/own"
    p = make_principal(("own", identity_policy("ecr:*", ah.repo_arn(own))))
    r = admin_client.post(f"/v2/{victim_repo}/blobs/uploads/")
    assert r.status_code == 202
    upload_id = r.headers["Docker-Upload-UUID"]
    c = p.client()
    data = b"planted by someone else"
    d = ah.sha256(data)
    r = c.patch(f"/v2/{own}/blobs/uploads/{upload_id}", data=data,
                headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 404, f"PATCH another repository's session: {r.status_code} {r.text}"
    r = c.put(f"/v2/{own}/blobs/uploads/{upload_id}?digest={d}", data=data)
    assert r.status_code == 404, f"PUT another repository's session: {r.status_code} {r.text}"
    ah.assert_denied(c.patch(f"/v2/{victim_repo}/blobs/uploads/{upload_id}", data=data), p.name,
                     "ecr:UploadLayerPart", victim_repo)
    assert admin_client.head(f"/v2/{victim_repo}/blobs/{d}").status_code == 404
    assert admin_client.head(f"/v2/{own}/blobs/{d}").status_code == 404
    # The session is still the administrator's to finish.
    r = admin_client.put(f"/v2/{victim_repo}/blobs/uploads/{upload_id}?digest={ah.sha256(b'mine')}", data=b"mine")
    assert r.status_code == 201, r.text
