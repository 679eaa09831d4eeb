"""Identity, repository and registry policies as the /v2 API and the token service apply
them: read-only principals, principals scoped to one repository, anonymous pulls through a
repository policy, explicit denies, conditions, and cross-repository mounts."""
import json

import authhelp as ah
from conftest import attach, create_principal, identity_policy
from testkit import SHARED_ENV

PULL_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                "ecr:BatchCheckLayerAvailability", "ecr:ListImages"]


def resource_policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


# ---- 3. a read-only principal ---------------------------------------------------------------


def test_read_only_principal(server, admin_client, make_principal):
    repo = ah.unique("ro") + "/app"
    img = ah.push_image(admin_client, repo, "v1")
    reader = make_principal(("read", identity_policy(PULL_ACTIONS, ah.repo_arn(repo))))
    c = reader.client()

    # Pulls with Basic credentials.
    ah.pull_image(c, repo, "v1", img)
    r = c.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["v1"], r.text

    # Cannot push: every write is 403 DENIED with ECR's wording.
    ah.assert_denied(c.post(f"/v2/{repo}/blobs/uploads/"), reader.name, "ecr:InitiateLayerUpload", repo)
    data = b"read-only push attempt"
    ah.assert_denied(c.post(f"/v2/{repo}/blobs/uploads/?digest={ah.sha256(data)}", data=data),
                     reader.name, "ecr:InitiateLayerUpload", repo)
    other = ah.Image()
    ah.assert_denied(ah.put_manifest(c, repo, "v2", other), reader.name, "ecr:PutImage", repo)
    # An upload session someone else opened cannot be written either.
    r = admin_client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    loc = ah.location(server.url, r)
    ah.assert_denied(c.patch(loc, data=b"x", headers={"Content-Type": "application/octet-stream"}),
                     reader.name, "ecr:UploadLayerPart", repo)
    ah.assert_denied(c.put(f"{loc}?digest={ah.sha256(b'')}"), reader.name, "ecr:CompleteLayerUpload", repo)
    # Cannot delete.
    ah.assert_denied(c.delete(f"/v2/{repo}/manifests/{img.digest}"), reader.name, "ecr:BatchDeleteImage", repo)
    ah.assert_denied(c.delete(f"/v2/{repo}/blobs/{img.layer_digest}"), reader.name, "ecr:BatchDeleteImage", repo)

    # The token service grants pull only.
    tok, body = reader.token(f"repository:{repo}:pull,push,delete")
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    assert ah.jwt_claims(tok)["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    t = ah.Client(server.url, ah.bearer(tok))
    ah.pull_image(t, repo, "v1", img)
    # Pushing or deleting with the pull token: 401 insufficient_scope, asking for the scope.
    ah.assert_challenge(t.post(f"/v2/{repo}/blobs/uploads/"), server.url,
                        scope=f"repository:{repo}:pull,push", error="insufficient_scope")
    ah.assert_challenge(ah.put_manifest(t, repo, "v2", other), server.url,
                        scope=f"repository:{repo}:pull,push", error="insufficient_scope")
    ah.assert_challenge(t.delete(f"/v2/{repo}/manifests/{img.digest}"), server.url,
                        scope=f"repository:{repo}:delete", error="insufficient_scope")

    # Nothing changed.
    ah.pull_image(admin_client, repo, "v1", img)
    assert admin_client.get(f"/v2/{repo}/manifests/v2").status_code == 404
    r = admin_client.get(f"/v2/{repo}/tags/list")
    assert r.json()["tags"] == ["v1"]


# ---- 4. a principal scoped to one repository ------------------------------------------------


def test_principal_scoped_to_one_repository(server, admin_client, make_principal):
    base = ah.unique("scoped")
    repo_a, repo_b = f"{base}/a", f"{base}/b"
    img_b = ah.push_image(admin_client, repo_b, "v1")
    p = make_principal(("only-a", identity_policy("ecr:*", ah.repo_arn(repo_a))))
    c = p.client()

    img_a = ah.push_image(c, repo_a, "v1")
    ah.pull_image(c, repo_a, "v1", img_a)
    r = c.delete(f"/v2/{repo_a}/manifests/{img_a.digest}")
    assert r.status_code == 202, r.text
    img_a = ah.push_image(c, repo_a, "v1")

    # B is out of bounds, for every operation.
    ah.assert_denied(c.get(f"/v2/{repo_b}/manifests/v1"), p.name, "ecr:BatchGetImage", repo_b)
    # HEAD responses have no body: the status is what there is to check.
    assert c.head(f"/v2/{repo_b}/manifests/v1").status_code == 403
    ah.assert_denied(c.get(f"/v2/{repo_b}/blobs/{img_b.layer_digest}"), p.name,
                     "ecr:GetDownloadUrlForLayer", repo_b)
    assert c.head(f"/v2/{repo_b}/blobs/{img_b.layer_digest}").status_code == 403
    ah.assert_denied(c.get(f"/v2/{repo_b}/tags/list"), p.name, "ecr:ListImages", repo_b)
    ah.assert_denied(c.post(f"/v2/{repo_b}/blobs/uploads/"), p.name, "ecr:InitiateLayerUpload", repo_b)
    ah.assert_denied(ah.put_manifest(c, repo_b, "evil", ah.Image()), p.name, "ecr:PutImage", repo_b)
    ah.assert_denied(c.delete(f"/v2/{repo_b}/manifests/{img_b.digest}"), p.name,
                     "ecr:BatchDeleteImage", repo_b)
    ah.assert_denied(c.get(f"/v2/{repo_b}/referrers/{img_b.digest}"), p.name, "ecr:BatchGetImage", repo_b)
    # A repository that does not exist yet is no different.
    ah.assert_denied(c.post(f"/v2/{base}/new/blobs/uploads/"), p.name,
                     "ecr:InitiateLayerUpload", f"{base}/new")

    # Its tokens carry A and nothing of B.
    tok, body = p.token(f"repository:{repo_a}:pull,push", f"repository:{repo_b}:pull,push,delete")
    assert ah.granted(body) == {f"repository:{repo_a}:pull,push"}
    t = ah.Client(server.url, ah.bearer(tok))
    ah.pull_image(t, repo_a, "v1", img_a)
    ah.assert_challenge(t.get(f"/v2/{repo_b}/manifests/v1"), server.url,
                        scope=f"repository:{repo_b}:pull", error="insufficient_scope")
    tok_b, body_b = p.token(f"repository:{repo_b}:pull")
    assert ah.granted(body_b) == set() and ah.jwt_claims(tok_b)["access"] == []

    # The catalog shows A only; the administrator sees both.
    def names(r):
        assert r.status_code == 200, r.text
        return [n for n in r.json()["repositories"] if n.startswith(base + "/")]
    assert names(c.get("/v2/_catalog")) == [repo_a]
    assert names(admin_client.get("/v2/_catalog")) == [repo_a, repo_b]
    ctok, cbody = p.token("registry:catalog:*")
    assert ah.granted(cbody) == {"registry:catalog:*"}
    assert names(ah.Client(server.url, ah.bearer(ctok)).get("/v2/_catalog")) == [repo_a]
    # A token without the catalog scope is told which scope it lacks.
    ah.assert_challenge(t.get("/v2/_catalog"), server.url, scope="registry:catalog:*",
                        error="insufficient_scope")
    # B is untouched.
    ah.pull_image(admin_client, repo_b, "v1", img_b)


def test_new_principal_can_do_nothing(server, admin_client, make_principal):
    repo = ah.unique("nothing") + "/app"
    img = ah.push_image(admin_client, repo)
    p = make_principal()
    c = p.client()
    assert c.get("/v2/").status_code == 200  # authenticated, but...
    ah.assert_denied(c.get(f"/v2/{repo}/manifests/latest"), p.name, "ecr:BatchGetImage", repo)
    ah.assert_denied(c.post(f"/v2/{repo}/blobs/uploads/"), p.name, "ecr:InitiateLayerUpload", repo)
    _, body = p.token(f"repository:{repo}:*")
    assert ah.granted(body) == set()
    r = c.get("/v2/_catalog")
    assert r.status_code == 200 and repo not in r.json()["repositories"]
    ah.pull_image(admin_client, repo, "latest", img)


def test_robot_principal_arn(server, admin_client, make_principal):
    repo = ah.unique("robot") + "/app"
    ah.push_image(admin_client, repo)
    p = make_principal(robot=True)
    r = p.client().get(f"/v2/{repo}/manifests/latest")
    assert r.status_code == 403
    assert ah.error_messages(r)[0].startswith(f"User: arn:aws:iam::000000000000:role/{p.name} "), r.text


# ---- 7. anonymous access through a repository policy; the registry policy ------------------


ANON_PULL = resource_policy([{
    "Effect": "Allow", "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
}])


def test_anonymous_pull_via_repository_policy(server, admin_client):
    base = ah.unique("public")
    public, private = f"{base}/pub", f"{base}/priv"
    img = ah.push_image(admin_client, public, "v1")
    img_priv = ah.push_image(admin_client, private, "v1")
    anon = ah.Client(server.url)
    assert anon.get(f"/v2/{public}/manifests/v1").status_code == 401

    server.cli("repository-policy", "set", public, "-", input=ANON_PULL)
    got = server.cli("repository-policy", "get", public).stdout
    assert json.loads(got) == json.loads(ANON_PULL)
    ah.eventually(lambda: ah.pull_image(anon, public, "v1", img))

    # Not granted by the policy: listing tags, pushing, deleting.
    ah.assert_challenge(anon.get(f"/v2/{public}/tags/list"), server.url, scope=f"repository:{public}:pull")
    ah.assert_challenge(anon.post(f"/v2/{public}/blobs/uploads/"), server.url,
                        scope=f"repository:{public}:pull,push")
    ah.assert_challenge(ah.put_manifest(anon, public, "evil", ah.Image()), server.url,
                        scope=f"repository:{public}:pull,push")
    ah.assert_challenge(anon.delete(f"/v2/{public}/manifests/{img.digest}"), server.url,
                        scope=f"repository:{public}:delete")
    # Other repositories stay closed.
    ah.assert_challenge(anon.get(f"/v2/{private}/manifests/v1"), server.url, scope=f"repository:{private}:pull")
    ah.assert_challenge(anon.get(f"/v2/{private}/blobs/{img_priv.layer_digest}"), server.url,
                        scope=f"repository:{private}:pull")
    ah.assert_challenge(anon.get("/v2/_catalog"), server.url, scope="registry:catalog:*")

    # The anonymous token flow grants pull on the public repository only.
    tok, body = ah.token_for(server.url, ah.ANON, [f"repository:{public}:pull,push,delete",
                                                   f"repository:{private}:pull"], offline=True)
    assert ah.granted(body) == {f"repository:{public}:pull"}
    assert "refresh_token" not in body
    claims = ah.jwt_claims(tok)
    assert claims["sub"] == "" and "pid" not in claims and "akid" not in claims
    t = ah.Client(server.url, ah.bearer(tok))
    ah.pull_image(t, public, "v1", img)
    ah.assert_challenge(t.get(f"/v2/{private}/manifests/v1"), server.url,
                        scope=f"repository:{private}:pull", error="insufficient_scope")
    ah.assert_challenge(t.post(f"/v2/{public}/blobs/uploads/"), server.url,
                        scope=f"repository:{public}:pull,push", error="insufficient_scope")

    # An anonymous catalog token lists what anonymous callers may pull, nothing else.
    ctok, cbody = ah.token_for(server.url, ah.ANON, ["registry:catalog:*"])
    r = ah.Client(server.url, ah.bearer(ctok)).get("/v2/_catalog")
    assert r.status_code == 200, r.text
    assert [n for n in r.json()["repositories"] if n.startswith(base + "/")] == [public]

    # Removing the policy closes it again, to the tokens already issued as well.
    server.cli("repository-policy", "delete", public)

    def closed():
        ah.assert_challenge(anon.get(f"/v2/{public}/manifests/v1"), server.url,
                            scope=f"repository:{public}:pull")
    ah.eventually(closed)
    r = t.get(f"/v2/{public}/manifests/v1")
    assert r.status_code == 401, f"anonymous token still pulls after the policy was removed: {r.status_code}"
    r = ah.Client(server.url, ah.bearer(ctok)).get("/v2/_catalog")
    assert r.status_code == 200 and public not in r.json()["repositories"], r.text
    _, body = ah.token_for(server.url, ah.ANON, [f"repository:{public}:pull"])
    assert ah.granted(body) == set()
    assert server.cli("repository-policy", "get", public, check=False).returncode != 0


def test_repository_policy_grants_a_named_principal(server, admin_client, make_principal):
    repo = ah.unique("shared") + "/app"
    img = ah.push_image(admin_client, repo)
    p = make_principal()
    ah.assert_denied(p.client().get(f"/v2/{repo}/manifests/latest"), p.name, "ecr:BatchGetImage", repo)
    server.cli("repository-policy", "set", repo, "-", input=resource_policy([{
        "Effect": "Allow", "Principal": {"AWS": ah.user_arn(p.name)},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]))
    ah.eventually(lambda: _pull_get_only(p.client(), repo, img))
    # The policy names that principal only.
    q = make_principal()
    assert q.client().get(f"/v2/{repo}/manifests/latest").status_code == 403
    assert ah.Client(server.url).get(f"/v2/{repo}/manifests/latest").status_code == 401


def _pull_get_only(c, repo, img):
    r = c.get(f"/v2/{repo}/manifests/latest", headers={"Accept": ah.OCI_MANIFEST})
    assert r.status_code == 200, r.text
    assert r.content == img.manifest
    r = c.get(f"/v2/{repo}/blobs/{img.layer_digest}")
    assert r.status_code == 200 and r.content == img.layer


def test_explicit_deny_in_repository_policy_beats_identity_allow(server, admin_client):
    repo = ah.unique("denyrepo") + "/app"
    img = ah.push_image(admin_client, repo)
    other = ah.Image()
    for d, data in other.blobs():
        ah.push_blob(admin_client, repo, data)
    server.cli("repository-policy", "set", repo, "-", input=resource_policy([{
        "Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage"}]))

    # Probe with a throwaway tag until the policy applies; "other" is never written.
    def denied():
        ah.assert_denied(ah.put_manifest(admin_client, repo, "probe", other), "admin",
                         "ecr:PutImage", repo, explicit=True)
    ah.eventually(denied)
    ah.assert_denied(ah.put_manifest(admin_client, repo, "other", other), "admin",
                     "ecr:PutImage", repo, explicit=True)
    # Other actions still follow the administrator's policy.
    ah.pull_image(admin_client, repo, "latest", img)
    ah.push_blob(admin_client, repo, b"blobs may still be uploaded")
    # A token holds push (blob uploads are allowed), yet the manifest PUT is still denied.
    tok, body = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{repo}:pull,push"])
    assert ah.granted(body) == {f"repository:{repo}:pull,push"}
    ah.assert_denied(ah.put_manifest(ah.Client(server.url, ah.bearer(tok)), repo, "other", other),
                     "admin", "ecr:PutImage", repo, explicit=True)
    assert admin_client.get(f"/v2/{repo}/manifests/other").status_code == 404
    # Denying every push action takes push out of tokens as well.
    server.cli("repository-policy", "set", repo, "-", input=resource_policy([{
        "Effect": "Deny", "Principal": "*",
        "Action": ["ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                   "ecr:CompleteLayerUpload"]}]))

    def no_push():
        _, body = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{repo}:pull,push"])
        assert ah.granted(body) == {f"repository:{repo}:pull"}
    ah.eventually(no_push)
    ah.assert_denied(admin_client.post(f"/v2/{repo}/blobs/uploads/"), "admin",
                     "ecr:InitiateLayerUpload", repo, explicit=True)
    server.cli("repository-policy", "delete", repo)
    ah.eventually(lambda: _status(ah.put_manifest(admin_client, repo, "other", other), 201))


def _status(r, want):
    assert r.status_code == want, f"{r.status_code} {r.text}"
    return r


def test_registry_policy_explicit_deny_stops_admin(server, admin_client):
    repo = ah.unique("regdeny") + "/app"
    img = ah.push_image(admin_client, repo)
    img2 = ah.push_image(admin_client, repo, "second")
    policy = resource_policy([{"Effect": "Deny", "Principal": "*", "Action": "ecr:BatchDeleteImage"}])
    server.cli("registry-policy", "set", "-", input=policy)
    try:
        assert json.loads(server.cli("registry-policy", "get").stdout) == json.loads(policy)

        # Wait for the policy with a probe that changes nothing (a delete would).
        def no_delete():
            _, body = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{repo}:*"])
            assert ah.granted(body) == {f"repository:{repo}:pull,push"}
        ah.eventually(no_delete)
        ah.assert_denied(admin_client.delete(f"/v2/{repo}/manifests/{img.digest}"), "admin",
                         "ecr:BatchDeleteImage", repo, explicit=True)
        ah.assert_denied(admin_client.delete(f"/v2/{repo}/blobs/{img.layer_digest}"), "admin",
                         "ecr:BatchDeleteImage", repo, explicit=True)
        # Everything else still works for the administrator.
        ah.pull_image(admin_client, repo, "latest", img)
        ah.push_image(admin_client, repo, "third")
    finally:
        server.cli("registry-policy", "delete", check=False)
    assert server.cli("registry-policy", "get", check=False).returncode != 0
    ah.eventually(lambda: _status(admin_client.delete(f"/v2/{repo}/manifests/{img.digest}"), 202))
    assert admin_client.get(f"/v2/{repo}/manifests/{img.digest}").status_code == 404
    ah.pull_image(admin_client, repo, "second", img2)


# ---- 8. conditions --------------------------------------------------------------------------


def test_source_ip_condition(server, admin_client, make_principal):
    repo = ah.unique("srcip") + "/app"
    img = ah.push_image(admin_client, repo)

    def pol(cidr):
        return identity_policy(PULL_ACTIONS, ah.repo_arn(repo),
                               condition={"IpAddress": {"aws:SourceIp": cidr}})
    p = make_principal(("net", pol("10.0.0.0/8")))
    c = p.client()
    ah.assert_denied(c.get(f"/v2/{repo}/manifests/latest"), p.name, "ecr:BatchGetImage", repo)
    _, body = p.token(f"repository:{repo}:pull")
    assert ah.granted(body) == set()
    # X-Forwarded-For is not a way in.
    r = c.get(f"/v2/{repo}/manifests/latest", headers={"X-Forwarded-For": "10.1.2.3",
                                                      "X-Real-IP": "10.1.2.3", "Forwarded": "for=10.1.2.3"})
    assert r.status_code == 403, r.text

    attach(server, p.name, "net", pol("127.0.0.0/8"))
    ah.eventually(lambda: ah.pull_image(c, repo, "latest", img))
    _, body = p.token(f"repository:{repo}:pull")
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    # NotIpAddress on loopback denies again.
    attach(server, p.name, "net", identity_policy(
        PULL_ACTIONS, ah.repo_arn(repo), condition={"NotIpAddress": {"aws:SourceIp": "127.0.0.1/32"}}))
    ah.eventually(lambda: ah.assert_denied(c.get(f"/v2/{repo}/manifests/latest"), p.name,
                                           "ecr:BatchGetImage", repo))


def test_secure_transport_condition(server, admin_client, make_principal):
    repo = ah.unique("tls") + "/app"
    img = ah.push_image(admin_client, repo)
    p = make_principal(("tls", identity_policy(
        PULL_ACTIONS, ah.repo_arn(repo), condition={"Bool": {"aws:SecureTransport": "true"}})))
    plain = p.client()
    https = p.client(headers={"X-Forwarded-Proto": "https"})
    ah.assert_denied(plain.get(f"/v2/{repo}/manifests/latest"), p.name, "ecr:BatchGetImage", repo)
    ah.assert_denied(p.client(headers={"X-Forwarded-Proto": "http"}).get(f"/v2/{repo}/manifests/latest"),
                     p.name, "ecr:BatchGetImage", repo)
    ah.pull_image(https, repo, "latest", img)
    # The token service applies the same condition.
    _, body = p.token(f"repository:{repo}:pull")
    assert ah.granted(body) == set()
    tok, body = p.token(f"repository:{repo}:pull", headers={"X-Forwarded-Proto": "https"})
    assert ah.granted(body) == {f"repository:{repo}:pull"}
    ah.pull_image(ah.Client(server.url, ah.bearer(tok), headers={"X-Forwarded-Proto": "https"}),
                  repo, "latest", img)


def test_forwarded_proto_is_not_believed_by_default(new_server):
    """Without auth.trust_forwarded_proto a client cannot claim TLS with a header."""
    srv = new_server(SHARED_ENV)
    admin = ah.Client(srv.url, ah.basic(*srv.admin))
    repo = ah.unique("tlsdefault") + "/app"
    ah.push_image(admin, repo)
    _, p = ah.challenge_of(ah.Client(srv.url).get("/v2/", headers={"X-Forwarded-Proto": "https"}))
    assert p["realm"] == f"http://{srv.hostport}/token"
    principal = create_principal(srv, [("tls", identity_policy(
        PULL_ACTIONS, ah.repo_arn(repo), condition={"Bool": {"aws:SecureTransport": "true"}}))])
    ah.assert_denied(principal.client(headers={"X-Forwarded-Proto": "https"})
                     .get(f"/v2/{repo}/manifests/latest"), principal.name, "ecr:BatchGetImage", repo)


def test_username_condition_and_policy_variable(server, admin_client, make_principal):
    base = ah.unique("home")
    # Each principal may push to <base>/<its own name>/* only.
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:*",
        "Resource": f"arn:aws:ecr:us-east-1:000000000000:repository/{base}/${{aws:username}}/*"}]})
    alice = make_principal(("home", doc), name=ah.unique("alice"))
    bob = make_principal(("home", doc), name=ah.unique("bob"))
    img = ah.push_image(alice.client(), f"{base}/{alice.name}/app")
    ah.pull_image(alice.client(), f"{base}/{alice.name}/app", "latest", img)
    repo = f"{base}/{alice.name}/app"
    ah.assert_denied(bob.client().get(f"/v2/{repo}/manifests/latest"), bob.name, "ecr:BatchGetImage", repo)
    ah.assert_denied(bob.client().post(f"/v2/{repo}/blobs/uploads/"), bob.name, "ecr:InitiateLayerUpload", repo)


# ---- 9. cross-repository mounts -------------------------------------------------------------


def test_mount_requires_pull_on_the_source(server, admin_client, make_principal):
    base = ah.unique("mount")
    src, dst = f"{base}/src", f"{base}/dst"
    img = ah.push_image(admin_client, src)
    d = img.layer_digest
    p = make_principal(("dst", identity_policy("ecr:*", ah.repo_arn(dst))))
    c = p.client()

    r = c.post(f"/v2/{dst}/blobs/uploads/?mount={d}&from={src}")
    assert r.status_code == 202, f"mount without pull on the source: {r.status_code} {r.text}"
    assert "/blobs/uploads/" in r.headers["Location"]
    assert r.headers.get("Docker-Content-Digest") is None
    assert c.head(f"/v2/{dst}/blobs/{d}").status_code == 404
    assert admin_client.head(f"/v2/{dst}/blobs/{d}").status_code == 404
    assert c.get(f"/v2/{dst}/blobs/{d}").status_code == 404
    # The fallback session is a real, usable upload session.
    loc = ah.location(server.url, r)
    r = c.put(f"{loc}?digest={ah.sha256(b'own')}", data=b"own")
    assert r.status_code == 201, r.text

    # Same with a token that grants push on dst and asks (in vain) for pull on src.
    tok, body = p.token(f"repository:{dst}:pull,push", f"repository:{src}:pull")
    assert ah.granted(body) == {f"repository:{dst}:pull,push"}
    r = ah.Client(server.url, ah.bearer(tok)).post(f"/v2/{dst}/blobs/uploads/?mount={d}&from={src}")
    assert r.status_code == 202, r.text
    assert admin_client.head(f"/v2/{dst}/blobs/{d}").status_code == 404

    # Even the administrator, with a token that lacks pull on the source, does not mount.
    tok, _ = ah.token_for(server.url, ah.basic(*server.admin), [f"repository:{dst}:pull,push"])
    r = ah.Client(server.url, ah.bearer(tok)).post(f"/v2/{dst}/blobs/uploads/?mount={d}&from={src}")
    assert r.status_code == 202, r.text
    assert admin_client.head(f"/v2/{dst}/blobs/{d}").status_code == 404

    # The administrator (Basic) mounts.
    r = admin_client.post(f"/v2/{dst}/blobs/uploads/?mount={d}&from={src}")
    assert r.status_code == 201, r.text
    assert r.headers.get("Docker-Content-Digest") == d
    assert r.headers["Location"].endswith(f"/v2/{dst}/blobs/{d}")
    r = c.get(f"/v2/{dst}/blobs/{d}")
    assert r.status_code == 200 and r.content == img.layer

    # With a token holding pull on the source, the mount works too.
    cfg = img.config_digest
    tok, body = ah.token_for(server.url, ah.basic(*server.admin),
                             [f"repository:{dst}:pull,push", f"repository:{src}:pull"])
    r = ah.Client(server.url, ah.bearer(tok)).post(f"/v2/{dst}/blobs/uploads/?mount={cfg}&from={src}")
    assert r.status_code == 201, r.text


def test_mount_from_a_repository_readable_but_not_writable(server, admin_client, make_principal):
    base = ah.unique("mount2")
    src, dst = f"{base}/src", f"{base}/dst"
    img = ah.push_image(admin_client, src)
    p = make_principal(("dst", identity_policy("ecr:*", ah.repo_arn(dst))),
                       ("src", identity_policy(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                                               ah.repo_arn(src))))
    r = p.client().post(f"/v2/{dst}/blobs/uploads/?mount={img.layer_digest}&from={src}")
    assert r.status_code == 201, r.text
    # Mounting into a repository the caller cannot push to is refused outright.
    other = f"{base}/other"
    ah.assert_denied(p.client().post(f"/v2/{other}/blobs/uploads/?mount={img.layer_digest}&from={src}"),
                     p.name, "ecr:InitiateLayerUpload", other)
    assert admin_client.head(f"/v2/{other}/blobs/{img.layer_digest}").status_code == 404


# ---- resource patterns, NotResource, other condition keys ----------------------------------


def test_wildcard_resource_matches_the_namespace_only(server, admin_client, make_principal):
    base = ah.unique("ns")
    p = make_principal(("team", identity_policy("ecr:*", f"arn:aws:ecr:us-east-1:000000000000:repository/{base}/*")))
    c = p.client()
    for repo in (f"{base}/a", f"{base}/x/y"):
        img = ah.push_image(c, repo)
        ah.pull_image(c, repo, "latest", img)
    for repo in (base, f"{base}x/a", f"x/{base}/a"):
        ah.assert_denied(c.post(f"/v2/{repo}/blobs/uploads/"), p.name, "ecr:InitiateLayerUpload", repo)
    _, body = p.token(f"repository:{base}/a:pull,push", f"repository:{base}x/a:pull,push",
                      f"repository:{base}:pull")
    assert ah.granted(body) == {f"repository:{base}/a:pull,push"}
    # Another account's or region's ARN does not match this registry's repositories.
    q = make_principal(("wrong", identity_policy(
        "ecr:*", [f"arn:aws:ecr:us-east-1:111111111111:repository/{base}/*",
                  f"arn:aws:ecr:eu-west-1:000000000000:repository/{base}/*"])))
    ah.assert_denied(q.client().get(f"/v2/{base}/a/manifests/latest"), q.name, "ecr:BatchGetImage", f"{base}/a")


def test_deny_with_not_resource_confines_to_one_repository(server, admin_client, make_principal):
    base = ah.unique("notres")
    mine, theirs = f"{base}/mine", f"{base}/theirs"
    img = ah.push_image(admin_client, theirs)
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "ecr:*", "NotResource": ah.repo_arn(mine)}]})
    p = make_principal(("confined", doc))
    c = p.client()
    ah.push_image(c, mine)
    ah.assert_denied(c.get(f"/v2/{theirs}/manifests/latest"), p.name, "ecr:BatchGetImage", theirs, explicit=True)
    ah.assert_denied(c.delete(f"/v2/{theirs}/manifests/{img.digest}"), p.name, "ecr:BatchDeleteImage",
                     theirs, explicit=True)
    _, body = p.token(f"repository:{theirs}:*", f"repository:{mine}:*")
    assert ah.granted(body) == {f"repository:{mine}:pull,push,delete"}
    ah.pull_image(admin_client, theirs, "latest", img)


def test_time_and_principal_type_conditions(server, admin_client, make_principal):
    repo = ah.unique("when") + "/app"
    img = ah.push_image(admin_client, repo)
    past = "2001-01-01T00:00:00Z"
    expired = make_principal(("until", identity_policy(
        PULL_ACTIONS, ah.repo_arn(repo), condition={"DateLessThan": {"aws:CurrentTime": past}})))
    ah.assert_denied(expired.client().get(f"/v2/{repo}/manifests/latest"), expired.name,
                     "ecr:BatchGetImage", repo)
    started = make_principal(("from", identity_policy(
        PULL_ACTIONS, ah.repo_arn(repo), condition={"DateGreaterThan": {"aws:CurrentTime": past},
                                                    "StringEquals": {"aws:PrincipalType": "User"}})))
    ah.pull_image(started.client(), repo, "latest", img)
    robot = make_principal(("from", identity_policy(
        PULL_ACTIONS, ah.repo_arn(repo), condition={"StringEquals": {"aws:PrincipalType": "User"}})), robot=True)
    r = robot.client().get(f"/v2/{repo}/manifests/latest")
    assert r.status_code == 403, r.text


def test_action_names_are_case_insensitive_and_globbed(server, admin_client, make_principal):
    repo = ah.unique("glob") + "/app"
    img = ah.push_image(admin_client, repo)
    p = make_principal(("glob", identity_policy(["ECR:BATCHGETIMAGE", "ecr:get*"], ah.repo_arn(repo))))
    c = p.client()
    r = c.get(f"/v2/{repo}/manifests/latest", headers={"Accept": ah.OCI_MANIFEST})
    assert r.status_code == 200 and r.content == img.manifest, r.text
    r = c.get(f"/v2/{repo}/blobs/{img.layer_digest}")
    assert r.status_code == 200 and r.content == img.layer, r.text
    # BatchCheckLayerAvailability matches neither pattern.
    assert c.head(f"/v2/{repo}/blobs/{img.layer_digest}").status_code == 403
    ah.assert_denied(c.get(f"/v2/{repo}/tags/list"), p.name, "ecr:ListImages", repo)
    _, body = p.token(f"repository:{repo}:pull,push,delete")
    assert ah.granted(body) == {f"repository:{repo}:pull"}
