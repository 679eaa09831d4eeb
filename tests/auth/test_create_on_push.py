"""Create-on-push, authorized: a push to a repository that does not exist creates it only for a
principal whose policies allow `ecr:CreateRepository` on it, and never when the registry
setting `registry.create_on_push` is off. Every /v2 write is covered (upload start, monolithic
upload, mount with and without `from`, PATCH, the PUT that finishes an upload, manifest PUT),
through Basic credentials and through the docker-style token flow. Also: mounts through the
token flow (the challenge names the source), and mounts without `from`."""
import os
import sys

import pytest
from botocore.exceptions import ClientError

import authhelp as ah
from conftest import identity_policy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ecr"))
import ecrhelp as eh  # noqa: E402

PUSH_PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
             "ecr:ListImages", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
             "ecr:CompleteLayerUpload", "ecr:PutImage"]
OCTET = {"Content-Type": "application/octet-stream"}


def robot(make_principal, base, extra_actions=()):
    """A robot allowed push and pull (plus `extra_actions`) on `base/*` only."""
    return make_principal(("team", identity_policy(PUSH_PULL + list(extra_actions),
                                                   ah.repo_arn(f"{base}/*"))), robot=True)


def assert_create_denied(r, p, repo, robot=True, explicit=False, action="ecr:CreateRepository"):
    """403 DENIED for `action` on `repo`, in AWS's words (a robot is a role)."""
    assert r.status_code == 403, f"expected 403, got {r.status_code} {r.text}"
    assert ah.error_codes(r) == ["DENIED"], r.text
    kind = "role" if robot else "user"
    why = ("with an explicit deny" if explicit
           else f"because no identity-based policy allows the {action} action")
    assert ah.error_messages(r) == [
        f"User: arn:aws:iam::{ah.ACCOUNT}:{kind}/{p.name} is not authorized to perform: "
        f"{action} on resource: {ah.repo_arn(repo)} {why}"], r.text


def client_for(server, p, flow):
    """`basic`: Basic credentials on every request; `token`: the docker token flow."""
    if flow == "basic":
        return p.client()
    return ah.TokenFlowClient(server.url, p.key_id, p.secret)


def assert_absent(server, admin_client, repo):
    """The repository does not exist: not in the catalog, NAME_UNKNOWN for its tags, and
    RepositoryNotFoundException from DescribeRepositories."""
    r = admin_client.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 404 and ah.error_codes(r) == ["NAME_UNKNOWN"], r.text
    prefix = repo.rsplit("/", 1)[0]
    r = admin_client.get("/v2/_catalog", params={"last": prefix, "n": 1000})
    assert r.status_code == 200, r.text
    assert repo not in r.json()["repositories"], r.json()
    with pytest.raises(ClientError) as e:
        eh.boto_client(server, server.admin).describe_repositories(repositoryNames=[repo])
    eh.client_error(e.value, "RepositoryNotFoundException")


def assert_exists(server, repo):
    found = eh.boto_client(server, server.admin).describe_repositories(repositoryNames=[repo])
    assert [r["repositoryName"] for r in found["repositories"]] == [repo]


# ---- a push may create a repository only with ecr:CreateRepository --------------------------


@pytest.mark.parametrize("flow", ["basic", "token"])
def test_push_without_create_permission_creates_nothing(server, admin_client, make_principal, flow):
    base = ah.unique("team")
    existing, new = f"{base}/existing", f"{base}/newrepo"
    img = ah.push_image(admin_client, existing, "v1")
    p = robot(make_principal, base)
    c = client_for(server, p, flow)

    def refused(r):
        assert_create_denied(r, p, new)

    # A bare upload session (the POST of a POST + PUT upload) is refused before it exists.
    refused(c.post(f"/v2/{new}/blobs/uploads/"))
    # A monolithic upload.
    data = b"bytes for a repository that may not be created"
    refused(c.post(f"/v2/{new}/blobs/uploads/?digest={ah.sha256(data)}", data=data, headers=OCTET))
    # A mount from a repository the robot may read, and a mount without `from`.
    refused(c.post(f"/v2/{new}/blobs/uploads/?mount={img.layer_digest}&from={existing}"))
    refused(c.post(f"/v2/{new}/blobs/uploads/?mount={img.layer_digest}"))
    # A manifest (an image whose blobs are not there, and an index that needs nothing).
    refused(c.put_manifest(new, "v1", img.manifest))
    empty_index = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}'
    refused(c.put_manifest(new, "v1", empty_index, "application/vnd.oci.image.index.v1+json"))
    # An upload session someone allowed to create opened (opening one creates nothing): the
    # robot can neither append to it nor finish it.
    r = admin_client.post(f"/v2/{new}/blobs/uploads/")
    assert r.status_code == 202, r.text
    loc = ah.location(server.url, r)
    refused(c.patch(loc, data=data, headers=OCTET))
    refused(c.put(f"{loc}?digest={ah.sha256(data)}", data=data, headers=OCTET))
    assert admin_client.delete(loc).status_code == 204
    assert_absent(server, admin_client, new)

    # The same robot pushes to an existing repository of the namespace as before.
    mine = c.push_image(existing, "v2")
    c.pull_image(existing, "v2", mine)
    r = c.post(f"/v2/{existing}/blobs/uploads/?mount={img.config_digest}")
    assert r.status_code == 201, r.text


def test_refused_creation_through_the_token_flow_asks_for_push_only(server, make_principal):
    """A token caller is challenged for push on the repository (creation rides on it), then
    refused by its policies: the token service grants push, the policy decides."""
    base = ah.unique("team")
    new = f"{base}/newrepo"
    p = robot(make_principal, base)
    c = ah.TokenFlowClient(server.url, p.key_id, p.secret)
    assert_create_denied(c.post(f"/v2/{new}/blobs/uploads/"), p, new)
    assert c.token_requests == [(f"repository:{new}:pull,push", 200)]
    assert ah.jwt_claims(c.current)["access"] == [
        {"type": "repository", "name": new, "actions": ["pull", "push"]}]


@pytest.mark.parametrize("flow", ["basic", "token"])
def test_push_with_create_permission_creates_the_repository(server, admin_client, make_principal, flow):
    base = ah.unique("team")
    p = robot(make_principal, base, ["ecr:CreateRepository"])
    c = client_for(server, p, flow)

    new = f"{base}/newrepo"
    img = c.push_image(new, "v1")
    c.pull_image(new, "v1", img)
    assert_exists(server, new)

    # Each write that can come first creates the repository by itself.
    data = b"monolithic into a new repository"
    monolithic = f"{base}/mono"
    r = c.post(f"/v2/{monolithic}/blobs/uploads/?digest={ah.sha256(data)}", data=data, headers=OCTET)
    assert r.status_code == 201, r.text
    mounted = f"{base}/mounted"
    r = c.post(f"/v2/{mounted}/blobs/uploads/?mount={img.layer_digest}&from={new}")
    assert r.status_code == 201, r.text
    for repo in (monolithic, mounted):
        assert_exists(server, repo)
    r = c.get(f"/v2/{mounted}/blobs/{img.layer_digest}")
    assert r.status_code == 200 and r.content == img.layer
    # Outside the namespace nothing changes (a token without push there: the challenge).
    outside = f"{ah.unique('other')}/newrepo"
    r = c.post(f"/v2/{outside}/blobs/uploads/")
    if flow == "basic":
        assert_create_denied(r, p, outside, action="ecr:InitiateLayerUpload")
    else:
        ah.assert_challenge(r, server.url, scope=f"repository:{outside}:pull,push",
                            error="insufficient_scope")
    assert_absent(server, admin_client, outside)


def test_explicit_deny_of_create_repository(server, admin_client, make_principal):
    base = ah.unique("team")
    new = f"{base}/newrepo"
    p = make_principal(("all", identity_policy("ecr:*", ah.repo_arn(f"{base}/*"))),
                       ("no-create", identity_policy("ecr:CreateRepository", ah.repo_arn(f"{base}/*"),
                                                     effect="Deny")))
    assert_create_denied(p.client().post(f"/v2/{new}/blobs/uploads/"), p, new, robot=False,
                         explicit=True)
    assert_absent(server, admin_client, new)


def test_ecr_uploads_to_a_missing_repository_are_refused(server, admin_client):
    """ECR's InitiateLayerUpload and PutImage never create a repository, even for a principal
    allowed to create it (ECR: RepositoryNotFoundException)."""
    new = f"{ah.unique('team')}/newrepo"
    ecr = eh.boto_client(server, server.admin)
    with pytest.raises(ClientError) as e:
        ecr.initiate_layer_upload(repositoryName=new)
    eh.client_error(e.value, "RepositoryNotFoundException")
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=new, imageManifest=ah.Image().manifest.decode(), imageTag="v1")
    eh.client_error(e.value, "RepositoryNotFoundException")
    assert_absent(server, admin_client, new)


# ---- registry.create_on_push = false ---------------------------------------------------------


def test_create_on_push_off_refuses_every_push_to_a_missing_repository(new_server):
    srv = new_server(env=dict(eh.SHARED_ENV, BERTH_REGISTRY__CREATE_ON_PUSH="false"))
    admin = ah.Client(srv.url, ah.basic(*srv.admin))
    base = ah.unique("team")
    existing, new = f"{base}/existing", f"{base}/newrepo"
    ecr = eh.boto_client(srv, srv.admin)
    ecr.create_repository(repositoryName=existing)
    img = admin.push_image(existing, "v1")

    def unknown(r):
        assert r.status_code == 404, f"{r.status_code} {r.text}"
        assert ah.error_codes(r) == ["NAME_UNKNOWN"], r.text
        [message] = ah.error_messages(r)
        assert f"aws ecr create-repository --repository-name {new}" in message, message

    data = b"no repository, no push"
    unknown(admin.post(f"/v2/{new}/blobs/uploads/"))
    unknown(admin.post(f"/v2/{new}/blobs/uploads/?digest={ah.sha256(data)}", data=data, headers=OCTET))
    unknown(admin.post(f"/v2/{new}/blobs/uploads/?mount={img.layer_digest}&from={existing}"))
    unknown(admin.post(f"/v2/{new}/blobs/uploads/?mount={img.layer_digest}"))
    unknown(admin.put_manifest(new, "v1", img.manifest))
    assert_absent(srv, admin, new)

    # Pushes to existing repositories work; once created, so do pushes to the new one.
    admin.pull_image(existing, "v1", img)
    admin.push_image(existing, "v2")
    ecr.create_repository(repositoryName=new)
    r = admin.post(f"/v2/{new}/blobs/uploads/?mount={img.layer_digest}&from={existing}")
    assert r.status_code == 201, r.text
    admin.pull_image(new, "v1", admin.push_image(new, "v1", img))


# ---- mounts through the token flow -----------------------------------------------------------


def test_mount_challenge_names_the_source_and_its_token_mounts(server, admin_client, make_principal):
    base = ah.unique("mnt")
    src, dst = f"{base}/src", f"{base}/dst"
    img = ah.push_image(admin_client, src)
    d = img.layer_digest
    path = f"/v2/{dst}/blobs/uploads/?mount={d}&from={src}"

    r = ah.Client(server.url, ah.ANON).post(path)
    ah.assert_challenge(r, server.url, scope=f"repository:{dst}:pull,push repository:{src}:pull")
    # Without a mount, or mounting from the repository itself, the challenge names one scope.
    r = ah.Client(server.url, ah.ANON).post(f"/v2/{dst}/blobs/uploads/?from={src}")
    ah.assert_challenge(r, server.url, scope=f"repository:{dst}:pull,push")
    r = ah.Client(server.url, ah.ANON).post(f"/v2/{dst}/blobs/uploads/?mount={d}&from={dst}")
    ah.assert_challenge(r, server.url, scope=f"repository:{dst}:pull,push")

    # A client that asks for exactly the challenged scopes gets a token that mounts.
    p = make_principal(("dst", identity_policy("ecr:*", ah.repo_arn(dst))),
                       ("src", identity_policy(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                                               ah.repo_arn(src))))
    c = ah.TokenFlowClient(server.url, p.key_id, p.secret)
    r = c.post(path)
    assert c.token_requests == [(f"repository:{dst}:pull,push repository:{src}:pull", 200)]
    assert r.status_code == 201, f"{r.status_code} {r.text}"
    assert r.headers["Location"].endswith(f"/v2/{dst}/blobs/{d}")
    assert r.headers.get("Docker-Content-Digest") == d
    g = c.get(f"/v2/{dst}/blobs/{d}")
    assert g.status_code == 200 and g.content == img.layer

    # A token without push on dst is asked for both scopes again.
    tok, _ = p.token(f"repository:{dst}:pull")
    r = ah.Client(server.url, ah.bearer(tok)).post(f"/v2/{dst}/blobs/uploads/?mount={img.config_digest}&from={src}")
    ah.assert_challenge(r, server.url, scope=f"repository:{dst}:pull,push repository:{src}:pull",
                        error="insufficient_scope")


# ---- mounts without `from` -------------------------------------------------------------------


def test_mount_without_from_reads_only_what_the_caller_may_pull(server, admin_client, make_principal):
    base = ah.unique("anyw")
    src, dst, other = f"{base}/src", f"{base}/dst", f"{base}/other"
    img = ah.push_image(admin_client, src)
    d = img.layer_digest

    # Restricted to dst (and other): the blob is held only where it may not read: 202.
    only = make_principal(("dst", identity_policy("ecr:*", [ah.repo_arn(dst), ah.repo_arn(other)])))
    r = only.client().post(f"/v2/{dst}/blobs/uploads/?mount={d}")
    assert r.status_code == 202, r.text
    assert "/blobs/uploads/" in r.headers["Location"] and r.headers.get("Docker-Content-Digest") is None
    assert admin_client.head(f"/v2/{dst}/blobs/{d}").status_code == 404
    # Its token flow neither: the token holds nothing of src.
    t = ah.TokenFlowClient(server.url, only.key_id, only.secret)
    assert t.post(f"/v2/{dst}/blobs/uploads/?mount={d}").status_code == 202
    assert admin_client.head(f"/v2/{dst}/blobs/{d}").status_code == 404

    # Allowed to pull src: the blob is mounted from it.
    reader = make_principal(("dst", identity_policy("ecr:*", ah.repo_arn(dst))),
                            ("src", identity_policy(["ecr:BatchGetImage"], ah.repo_arn(src))))
    r = reader.client().post(f"/v2/{dst}/blobs/uploads/?mount={d}")
    assert r.status_code == 201, r.text
    assert r.headers["Location"].endswith(f"/v2/{dst}/blobs/{d}")
    assert r.headers.get("Docker-Content-Digest") == d
    g = reader.client().get(f"/v2/{dst}/blobs/{d}")
    assert g.status_code == 200 and g.content == img.layer

    # Now dst holds it too, and the restricted principal may read dst: it mounts into other.
    r = only.client().post(f"/v2/{other}/blobs/uploads/?mount={d}")
    assert r.status_code == 201, r.text

    # A blob no repository holds: an upload session.
    r = admin_client.post(f"/v2/{dst}/blobs/uploads/?mount={ah.sha256(b'held nowhere')}")
    assert r.status_code == 202, r.text


def test_mount_without_from_respects_blob_mounting(new_server):
    srv = new_server(env=eh.SHARED_ENV)
    admin = ah.Client(srv.url, ah.basic(*srv.admin))
    ecr = eh.boto_client(srv, srv.admin)
    src, dst = f"{ah.unique('bm')}/src", f"{ah.unique('bm')}/dst"
    img = admin.push_image(src)
    ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
    r = admin.post(f"/v2/{dst}/blobs/uploads/?mount={img.layer_digest}")
    assert r.status_code == 202, r.text
    assert admin.head(f"/v2/{dst}/blobs/{img.layer_digest}").status_code == 404
    ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
    r = admin.post(f"/v2/{dst}/blobs/uploads/?mount={img.layer_digest}")
    assert r.status_code == 201, r.text
