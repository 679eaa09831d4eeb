"""ECR-style login: `berth key login-password ID` prints a password for user `AWS`."""
import authhelp as ah
from conftest import identity_policy

PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]


def test_login_password(server, admin_client, make_principal):
    repo = ah.unique("ecr") + "/app"
    img = ah.push_image(admin_client, repo)
    p = make_principal(("pull", identity_policy(PULL, ah.repo_arn(repo))))
    out = server.cli("key", "login-password", p.key_id)
    password = out.stdout.strip()
    assert password and "\n" not in password
    assert ":" not in password
    assert p.secret not in password and p.secret not in out.stdout + out.stderr
    claims = ah.jwt_claims(password)
    assert claims["sub"] == p.name and claims["akid"] == p.key_id
    assert claims["aud"] != "berth"
    assert claims["exp"] - claims["iat"] == 12 * 3600

    aws = ah.Client(server.url, ah.basic("AWS", password))
    r = aws.get("/v2/")
    assert r.status_code == 200, r.text
    # It carries the principal's own permissions, no more.
    ah.pull_image(aws, repo, "latest", img)
    ah.assert_denied(aws.post(f"/v2/{repo}/blobs/uploads/"), p.name, "ecr:InitiateLayerUpload", repo)
    # The token service accepts it (docker login + pull with user AWS).
    tok, body = ah.token_for(server.url, ah.basic("AWS", password), [f"repository:{repo}:pull,push"])
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    assert ah.jwt_claims(tok)["sub"] == p.name
    ah.pull_image(ah.Client(server.url, ah.bearer(tok)), repo, "latest", img)
    r = ah.post_token(server.url, {"grant_type": "password", "username": "AWS", "password": password,
                                   "service": "berth", "scope": f"repository:{repo}:pull"})
    assert r.status_code == 200, r.text
    # Tampered or truncated passwords fail.
    h, b, s = password.split(".")
    for bad in (f"{h}.{b}.{s[:-3]}", f"{h}.{ah.enc_json(dict(claims, sub='admin'))}.{s}", password + "x", ""):
        assert ah.Client(server.url, ah.basic("AWS", bad)).get("/v2/").status_code == 401

    # Disabling the key ends the password and the tokens obtained with it.
    server.cli("key", "disable", p.key_id)

    def refused():
        ah.assert_challenge(aws.get("/v2/"), server.url)
        assert aws.get(f"/v2/{repo}/manifests/latest").status_code == 401
        assert ah.get_token(server.url, ah.basic("AWS", password), [f"repository:{repo}:pull"]).status_code == 401
        ah.assert_challenge(ah.Client(server.url, ah.bearer(tok)).get(f"/v2/{repo}/manifests/latest"),
                            server.url, error="invalid_token")
    ah.eventually(refused)
    # No new password for a disabled key.
    r = server.cli("key", "login-password", p.key_id, check=False)
    assert r.returncode != 0 and "disabled" in r.stderr, r.stderr
    assert r.stdout.strip() == ""


def test_login_password_for_unknown_key(server):
    r = server.cli("key", "login-password", "BKIANOSUCHKEY0000000", check=False)
    assert r.returncode != 0 and "BKIANOSUCHKEY0000000" in r.stderr, r.stderr
    assert r.stdout.strip() == ""


def test_login_password_of_admin_works_everywhere(server):
    password = server.cli("key", "login-password", server.admin[0]).stdout.strip()
    c = ah.Client(server.url, ah.basic("AWS", password))
    repo = ah.unique("ecradmin") + "/app"
    img = ah.push_image(c, repo)
    ah.pull_image(c, repo, "latest", img)
    assert c.delete(f"/v2/{repo}/manifests/{img.digest}").status_code == 202
