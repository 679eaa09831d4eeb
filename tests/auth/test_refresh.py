"""Refresh tokens (OAuth2 offline access): issue, redeem, revoke."""
import authhelp as ah
from conftest import identity_policy, parse_key, wait_key_works


def password_grant(server, user, password, scope, offline=True):
    form = {"grant_type": "password", "username": user, "password": password,
            "service": "berth", "client_id": "pytest", "scope": scope}
    if offline:
        form["access_type"] = "offline"
    return ah.post_token(server.url, form)


def refresh_grant(server, refresh, scope):
    return ah.post_token(server.url, {"grant_type": "refresh_token", "refresh_token": refresh,
                                      "service": "berth", "client_id": "pytest", "scope": scope})


def assert_invalid_grant(r):
    assert r.status_code == 401, f"expected 401, got {r.status_code} {r.text}"
    body = r.json()
    assert body.get("errors") and body["errors"][0]["code"] == "UNAUTHORIZED", body
    assert body.get("error"), body
    assert "token" not in body and "access_token" not in body, body


def test_refresh_token_redeemed_then_revoked(server, make_principal):
    repo = ah.unique("refresh") + "/app"
    p = make_principal(("rw", identity_policy("ecr:*", ah.repo_arn(repo))))
    r = password_grant(server, p.key_id, p.secret, f"repository:{repo}:pull")
    assert r.status_code == 200, r.text
    body = r.json()
    refresh = body.get("refresh_token")
    assert refresh, body
    assert ah.granted(body) == {f"repository:{repo}:pull"}

    # The refresh token yields a new access token, for a scope of its own.
    r = refresh_grant(server, refresh, f"repository:{repo}:pull,push")
    assert r.status_code == 200, r.text
    new = r.json()
    assert ah.granted(new) == {f"repository:{repo}:pull,push"}
    assert new["access_token"] != body["access_token"]
    assert "refresh_token" not in new
    claims = ah.jwt_claims(new["access_token"])
    assert claims["sub"] == p.name and claims["akid"] == p.key_id
    c = ah.Client(server.url, ah.bearer(new["access_token"]))
    img = ah.push_image(c, repo)
    ah.pull_image(c, repo, "latest", img)
    # It can be redeemed again while it is good.
    assert refresh_grant(server, refresh, f"repository:{repo}:pull").status_code == 200

    # A second refresh token, from GET /token?offline_token=true.
    _, got = p.token(f"repository:{repo}:pull", offline=True)
    refresh2 = got.get("refresh_token")
    assert refresh2 and refresh2 != refresh

    out = server.cli("token", "revoke", p.name)
    assert "revoked" in out.stdout

    def revoked():
        assert_invalid_grant(refresh_grant(server, refresh, f"repository:{repo}:pull"))
        assert_invalid_grant(refresh_grant(server, refresh2, f"repository:{repo}:pull"))
    ah.eventually(revoked)
    # The principal itself is fine: a new password grant still works.
    r = password_grant(server, p.key_id, p.secret, f"repository:{repo}:pull", offline=False)
    assert r.status_code == 200, r.text


def test_refresh_token_of_disabled_key(server, make_principal):
    repo = ah.unique("refresh-dis") + "/app"
    p = make_principal(("rw", identity_policy("ecr:*", ah.repo_arn(repo))))
    # A second key that stays enabled: only the disabled key's refresh tokens must die.
    other_id, other_secret = p.new_key()
    r = password_grant(server, p.key_id, p.secret, f"repository:{repo}:pull")
    refresh = r.json()["refresh_token"]
    wait_key_works(server, other_id, other_secret)
    r = password_grant(server, other_id, other_secret, f"repository:{repo}:pull")
    other_refresh = r.json()["refresh_token"]

    server.cli("key", "disable", p.key_id)
    ah.eventually(lambda: assert_invalid_grant(refresh_grant(server, refresh, f"repository:{repo}:pull")))
    r = refresh_grant(server, other_refresh, f"repository:{repo}:pull")
    assert r.status_code == 200, r.text
    assert ah.granted(r.json()) == {f"repository:{repo}:pull"}
    # Deleting the other key ends its refresh tokens as well.
    server.cli("key", "delete", other_id)
    ah.eventually(lambda: assert_invalid_grant(refresh_grant(server, other_refresh, "")))


def test_refresh_token_of_disabled_principal(server, make_principal):
    repo = ah.unique("refresh-pdis") + "/app"
    p = make_principal(("rw", identity_policy("ecr:*", ah.repo_arn(repo))))
    refresh = password_grant(server, p.key_id, p.secret, "").json()["refresh_token"]
    server.cli("principal", "disable", p.name)
    ah.eventually(lambda: assert_invalid_grant(refresh_grant(server, refresh, "")))
    server.cli("principal", "enable", p.name)

    def back():
        r = refresh_grant(server, refresh, f"repository:{repo}:pull")
        assert r.status_code == 200, r.text
    ah.eventually(back)


def test_bad_refresh_tokens(server, make_principal):
    for bad in ("brt_" + "A" * 43, "x" * 600, "brt_../../etc/passwd", "brt_%00"):
        assert_invalid_grant(refresh_grant(server, bad, "repository:x:pull"))
    r = ah.post_token(server.url, {"grant_type": "refresh_token", "service": "berth"})
    assert r.status_code == 400, r.text
    r = ah.post_token(server.url, {"grant_type": "password", "username": "admin", "service": "berth"})
    assert r.status_code == 400, r.text
    # Wrong password in the password grant.
    assert_invalid_grant(password_grant(server, server.admin[0], "wrong", "repository:x:pull"))
    # An access token is not a refresh token.
    p = make_principal()
    tok, _ = p.token()
    assert_invalid_grant(refresh_grant(server, tok, "repository:x:pull"))
    # Anonymous callers get no refresh token, even when asking.
    _, body = ah.token_for(server.url, ah.ANON, ["repository:x:pull"], offline=True)
    assert "refresh_token" not in body


def test_refresh_token_does_not_outlive_a_deleted_principal(server, make_principal):
    p = make_principal()
    refresh = password_grant(server, p.key_id, p.secret, "").json()["refresh_token"]
    server.cli("principal", "delete", p.name)
    ah.eventually(lambda: assert_invalid_grant(refresh_grant(server, refresh, "")))
    # Recreated under the same name: the old refresh token is still dead.
    new_id, new_secret = parse_key(server.cli("principal", "create", p.name, "--with-key").stdout)
    wait_key_works(server, new_id, new_secret)
    assert_invalid_grant(refresh_grant(server, refresh, ""))
    # The new principal's own refresh tokens work.
    r = password_grant(server, new_id, new_secret, "")
    assert r.status_code == 200 and refresh_grant(server, r.json()["refresh_token"], "").status_code == 200
