"""The Docker token flow: /v2/ challenge, the token service, and pushing and pulling with
bearer tokens only."""
import authhelp as ah
from conftest import identity_policy


def test_base_requires_credentials_and_challenges(server):
    r = ah.Client(server.url).get("/v2/")
    ah.assert_challenge(r, server.url)
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    # The bare /v2 route behaves the same.
    r = ah.Client(server.url).get("/v2")
    ah.assert_challenge(r, server.url)
    # HEAD too (docker's ping may use it).
    r = ah.Client(server.url).head("/v2/")
    assert r.status_code == 401
    assert ah.parse_challenge(r.headers["WWW-Authenticate"])[0] == "bearer"


def test_base_with_valid_credentials(server, admin):
    r = ah.Client(server.url, admin).get("/v2/")
    assert r.status_code == 200, r.text
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    assert "WWW-Authenticate" not in r.headers
    token, _ = ah.token_for(server.url, admin)
    r = ah.Client(server.url, ah.bearer(token)).get("/v2/")
    assert r.status_code == 200, r.text
    # The principal's name works as the Basic user name as well as the key id.
    r = ah.Client(server.url, ah.basic("admin", server.admin[1])).get("/v2/")
    assert r.status_code == 200, r.text


def test_base_with_bad_credentials(server):
    key_id, secret = server.admin
    for auth in (ah.basic(key_id, secret + "x"), ah.basic(key_id, ""), ah.basic("nobody", secret),
                 ah.basic("admin", "wrong")):
        r = ah.Client(server.url, auth).get("/v2/")
        p = ah.assert_challenge(r, server.url)
        assert "error" not in p
    r = ah.Client(server.url, ah.bearer("not.a.token")).get("/v2/")
    ah.assert_challenge(r, server.url, error="invalid_token")


def test_realm_follows_host_and_forwarded_proto(server):
    c = ah.Client(server.url)
    _, p = ah.challenge_of(c.get("/v2/", headers={"Host": "registry.example:8443"}))
    assert p["realm"] == "http://registry.example:8443/token"
    _, p = ah.challenge_of(c.get("/v2/", headers={"X-Forwarded-Proto": "https"}))
    assert p["realm"] == f"https://{server.hostport}/token"
    # A Host that would break out of the quoted realm is not echoed.
    r = c.get("/v2/", headers={"Host": 'evil",error="x'})
    assert r.status_code == 401
    _, p = ah.challenge_of(r)
    assert p["realm"] == "http://localhost/token", p
    assert "error" not in p


def test_repository_challenges_name_the_scope(server, admin_client):
    repo = ah.unique("chal") + "/app"
    img = ah.push_image(admin_client, repo)
    anon = ah.Client(server.url)
    cases = [
        ("GET", f"/v2/{repo}/manifests/latest", "pull"),
        ("HEAD", f"/v2/{repo}/manifests/latest", "pull"),
        ("GET", f"/v2/{repo}/blobs/{img.layer_digest}", "pull"),
        ("HEAD", f"/v2/{repo}/blobs/{img.layer_digest}", "pull"),
        ("GET", f"/v2/{repo}/tags/list", "pull"),
        ("GET", f"/v2/{repo}/referrers/{img.digest}", "pull"),
        ("POST", f"/v2/{repo}/blobs/uploads/", "pull,push"),
        ("PUT", f"/v2/{repo}/manifests/other", "pull,push"),
        ("DELETE", f"/v2/{repo}/manifests/{img.digest}", "delete"),
        ("DELETE", f"/v2/{repo}/blobs/{img.layer_digest}", "delete"),
    ]
    for method, path, actions in cases:
        r = anon.req(method, path)
        assert r.status_code == 401, f"{method} {path}: {r.status_code}"
        _, p = ah.challenge_of(r)
        assert p == {"realm": server.url + "/token", "service": "berth",
                     "scope": f"repository:{repo}:{actions}"}, f"{method} {path}: {p}"
    r = anon.get("/v2/_catalog")
    ah.assert_challenge(r, server.url, scope="registry:catalog:*")
    # Nothing was changed by the anonymous attempts.
    ah.pull_image(admin_client, repo, "latest", img)


def test_token_response_and_claims(server, admin):
    repo = ah.unique("claims") + "/x"
    r = ah.get_token(server.url, admin, [f"repository:{repo}:pull,push", "registry:catalog:*"])
    assert r.status_code == 200, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert ah.granted(body) == {f"repository:{repo}:pull,push", "registry:catalog:*"}
    assert "refresh_token" not in body
    header, claims, sig = ah.jwt_parts(body["token"])
    assert header["alg"] == "HS256" and header.get("kid"), header
    assert sig
    assert claims["iss"] == "berth" and claims["aud"] == "berth" and claims["sub"] == "admin"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"]
    assert claims["jti"]
    assert claims["akid"] == server.admin[0]
    assert claims["pid"]
    assert {(a["type"], a["name"], tuple(a["actions"])) for a in claims["access"]} == {
        ("repository", repo, ("pull", "push")), ("registry", "catalog", ("*",))}
    import re
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["issued_at"]), body["issued_at"]
    # Two tokens never share a jti.
    _, body2 = ah.token_for(server.url, admin, [f"repository:{repo}:pull"])
    assert ah.jwt_claims(body2["token"])["jti"] != claims["jti"]


def token_error(r, status, code, oauth, message):
    """`r` is the token service's error, in the registry's and OAuth2's shapes at once."""
    assert r.status_code == status, f"expected {status}, got {r.status_code} {r.text}"
    body = r.json()
    assert body["errors"] == [{"code": code, "message": message, "detail": None}], body
    assert (body["error"], body["error_description"]) == (oauth, message), body
    assert "token" not in body and "access_token" not in body, body


def test_token_service_errors(server, admin):
    other = 'this token service issues tokens for service "berth", not "not-berth"'
    r = ah.get_token(server.url, admin, ["repository:x:pull"], service="not-berth")
    token_error(r, 400, "UNSUPPORTED", "invalid_request", other)
    r = ah.post_token(server.url, {"grant_type": "password", "username": server.admin[0],
                                   "password": server.admin[1], "service": "not-berth"})
    token_error(r, 400, "UNSUPPORTED", "invalid_request", other)
    r = ah.get_token(server.url, ah.basic(server.admin[0], "wrong"), ["repository:x:pull"])
    token_error(r, 401, "UNAUTHORIZED", "invalid_grant", "invalid username or password")
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="berth"'
    # The token service does not take bearer tokens as credentials.
    token, _ = ah.token_for(server.url, admin, ["repository:x:pull"])
    r = ah.get_token(server.url, ah.bearer(token), ["repository:x:pull"])
    token_error(r, 401, "UNAUTHORIZED", "invalid_grant", "the token service takes Basic credentials or none")
    r = ah.post_token(server.url, {"grant_type": "client_credentials"})
    token_error(r, 400, "UNSUPPORTED", "unsupported_grant_type",
                'grant_type must be password or refresh_token, not "client_credentials"')


def test_docker_style_flow_push_and_pull_with_bearer_only(server, make_principal):
    repo = ah.unique("flow") + "/app"
    p = make_principal(("rw", identity_policy("ecr:*", ah.repo_arn(repo))))
    flow = ah.TokenFlowClient(server.url, p.key_id, p.secret)

    # Step by step once: request -> 401 challenge -> token at the realm -> request succeeds.
    r = ah.Client(server.url).post(f"/v2/{repo}/blobs/uploads/")
    _, ch = ah.challenge_of(r)
    assert r.status_code == 401 and ch["scope"] == f"repository:{repo}:pull,push"
    tr = ah.requests.get(ch["realm"], params={"service": ch["service"], "scope": ch["scope"]},
                         auth=p.basic, timeout=30)
    assert tr.status_code == 200, tr.text
    assert ah.granted(tr.json()) == {f"repository:{repo}:pull,push"}
    r = ah.Client(server.url, ah.bearer(tr.json()["token"])).post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202, r.text

    # A whole image through the flow client.
    img = ah.push_image(flow, repo, "v1")
    ah.pull_image(flow, repo, "v1", img)
    r = flow.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["v1"], r.text
    # Only bearer tokens (or nothing) ever reached /v2.
    assert all(v is None or v.startswith("Bearer ") for v in flow.sent), flow.sent
    assert any(v and v.startswith("Bearer ") for v in flow.sent)
    assert flow.token_requests and all(s == 200 for _, s in flow.token_requests)

    # A pull-only flow (a fresh client) gets a pull token and can read everything back.
    reader = ah.TokenFlowClient(server.url, p.key_id, p.secret)
    ah.pull_image(reader, repo, "v1", img)
    assert [s for s, _ in reader.token_requests] == [f"repository:{repo}:pull"]


def test_post_token_password_grant(server, admin):
    repo = ah.unique("pw") + "/app"
    r = ah.post_token(server.url, {
        "grant_type": "password", "username": server.admin[0], "password": server.admin[1],
        "service": "berth", "client_id": "pytest", "scope": f"repository:{repo}:pull repository:{repo}:push",
    })
    assert r.status_code == 200, r.text
    body = r.json()
    assert ah.granted(body) == {f"repository:{repo}:pull,push"}
    assert "refresh_token" not in body
    c = ah.Client(server.url, ah.bearer(body["access_token"]))
    img = ah.push_image(c, repo)
    ah.pull_image(c, repo, "latest", img)


def test_configured_service_and_realm(new_server):
    srv = new_server({"BERTH_AUTH__SERVICE": "registry.example.com",
                      "BERTH_AUTH__REALM": "https://auth.example.com/v1/token"})
    r = ah.Client(srv.url).get("/v2/")
    assert r.status_code == 401
    _, p = ah.challenge_of(r)
    assert p == {"realm": "https://auth.example.com/v1/token", "service": "registry.example.com"}
    repo = ah.unique("svc") + "/app"
    _, p = ah.challenge_of(ah.Client(srv.url).get(f"/v2/{repo}/manifests/latest"))
    assert p["scope"] == f"repository:{repo}:pull" and p["service"] == "registry.example.com"
    # The default service name is not this registry's.
    r = ah.get_token(srv.url, ah.basic(*srv.admin), [f"repository:{repo}:pull"], service="berth")
    assert r.status_code == 400, r.text
    tok, body = ah.token_for(srv.url, ah.basic(*srv.admin), [f"repository:{repo}:pull,push"],
                             service="registry.example.com")
    claims = ah.jwt_claims(tok)
    assert claims["aud"] == "registry.example.com" and claims["iss"] == "registry.example.com"
    c = ah.Client(srv.url, ah.bearer(tok))
    img = ah.push_image(c, repo)
    ah.pull_image(c, repo, "latest", img)
    # Asking without naming a service is fine too.
    tok, _ = ah.token_for(srv.url, ah.basic(*srv.admin), [f"repository:{repo}:pull"], service=None)
    assert ah.Client(srv.url, ah.bearer(tok)).get(f"/v2/{repo}/manifests/latest").status_code == 200


def test_docker_login_shape(server, make_principal):
    """`docker login`: GET /v2/ (401), then GET /token with Basic credentials, account,
    client_id and offline_token, and no scope."""
    p = make_principal()
    r = ah.Client(server.url).get("/v2/")
    _, ch = ah.challenge_of(r)
    r = ah.requests.get(ch["realm"], params={"account": p.key_id, "client_id": "docker",
                                             "offline_token": "true", "service": ch["service"]},
                        auth=p.basic, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "" and body["refresh_token"].startswith("brt_")
    assert ah.jwt_claims(body["token"])["access"] == []
    assert ah.Client(server.url, ah.bearer(body["token"])).get("/v2/").status_code == 200
    # containerd/podman then trade the refresh token (POST, form) for scoped tokens.
    r = ah.post_token(server.url, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                   "service": "berth", "client_id": "containerd-client",
                                   "scope": "repository:x/y:pull"})
    assert r.status_code == 200, r.text
