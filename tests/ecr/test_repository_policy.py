"""SetRepositoryPolicy, GetRepositoryPolicy and DeleteRepositoryPolicy through boto3, the aws CLI
and raw requests: round trips, validation, missing repositories and policies, authorization of
the calls themselves, and enforcement of what a policy set through the API grants on /v2."""
import json

import botocore.exceptions
import pytest
import requests

import ecrhelp as eh

ANON_PULL = eh.resource_policy([{
    "Sid": "AnonymousPull", "Effect": "Allow", "Principal": "*",
    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
}])

NAMED_PULL = json.dumps({
    "Version": "2008-10-17",
    "Statement": [{"Sid": "PullFromB", "Effect": "Allow",
                   "Principal": {"AWS": "arn:aws:iam::000000000000:user/someone"},
                   "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}],
}, indent=2)

INVALID_POLICIES = {
    "invalid JSON": '{"Version": "2012-10-17", "Statement": [',
    "lowercase Effect": eh.resource_policy([{"Effect": "allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]),
    "unknown action": eh.resource_policy([{"Effect": "Allow", "Principal": "*", "Action": "ecr:NoSuchAction"}]),
    "unknown action in a list": eh.resource_policy([{"Effect": "Allow", "Principal": "*",
                                                     "Action": ["ecr:BatchGetImage", "ecr:PushImage"]}]),
    "no Statement": json.dumps({"Version": "2012-10-17"}),
    "not an object": "[]",
    "bad Version": json.dumps({"Version": "2020-01-01", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}]}),
    "no Effect": eh.resource_policy([{"Principal": "*", "Action": "ecr:BatchGetImage"}]),
}


def policy_not_found(name):
    return (f"Repository policy does not exist for the repository with name '{name}' "
            f"in the registry with id '000000000000'")


def assert_no_policy_in_cli(server, name):
    """The administration CLI finds no policy on the repository."""
    out = server.cli("repository-policy", "get", name, check=False)
    assert (out.returncode, out.stdout, out.stderr) == (
        1, "", f"berth: repository {name} has no policy\n"), out


def repo_not_found(name):
    return f"The repository with name '{name}' does not exist in the registry with id '000000000000'"


def test_boto3_round_trip(server, ecr, repo):
    name, _ = repo
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.get_repository_policy(repositoryName=name)
    assert eh.client_error(ei.value, "RepositoryPolicyNotFoundException") == policy_not_found(name)

    out = ecr.set_repository_policy(repositoryName=name, policyText=NAMED_PULL)
    assert out["registryId"] == "000000000000"
    assert out["repositoryName"] == name
    assert out["policyText"] == NAMED_PULL
    got = ecr.get_repository_policy(repositoryName=name)
    assert (got["registryId"], got["repositoryName"], got["policyText"]) == ("000000000000", name, NAMED_PULL)
    # With an explicit registryId as well.
    got = ecr.get_repository_policy(registryId="000000000000", repositoryName=name)
    assert got["policyText"] == NAMED_PULL
    # The administration CLI sees the same policy.
    assert json.loads(server.cli("repository-policy", "get", name).stdout) == json.loads(NAMED_PULL)

    # Replacing it.
    out = ecr.set_repository_policy(repositoryName=name, policyText=ANON_PULL, force=True)
    assert out["policyText"] == ANON_PULL
    assert ecr.get_repository_policy(repositoryName=name)["policyText"] == ANON_PULL

    out = ecr.delete_repository_policy(repositoryName=name)
    assert (out["registryId"], out["repositoryName"], out["policyText"]) == ("000000000000", name, ANON_PULL)
    for call in (ecr.get_repository_policy, ecr.delete_repository_policy):
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(repositoryName=name)
        assert eh.client_error(ei.value, "RepositoryPolicyNotFoundException") == policy_not_found(name)
    assert_no_policy_in_cli(server, name)


def test_cli_round_trip(server, admin_key, repo):
    name, _ = repo
    out = eh.aws(server, admin_key, "set-repository-policy", "--repository-name", name,
                 "--policy-text", NAMED_PULL)
    assert out == {"registryId": "000000000000", "repositoryName": name, "policyText": NAMED_PULL}
    out = eh.aws(server, admin_key, "get-repository-policy", "--repository-name", name)
    assert out == {"registryId": "000000000000", "repositoryName": name, "policyText": NAMED_PULL}
    out = eh.aws(server, admin_key, "delete-repository-policy", "--repository-name", name)
    assert out == {"registryId": "000000000000", "repositoryName": name, "policyText": NAMED_PULL}
    out = eh.aws(server, admin_key, "get-repository-policy", "--repository-name", name, check=False)
    eh.assert_cli_error(out, "RepositoryPolicyNotFoundException", "GetRepositoryPolicy",
                        message=policy_not_found(name))


def test_cli_errors(server, admin_key, repo):
    name, _ = repo
    out = eh.aws(server, admin_key, "set-repository-policy", "--repository-name", name,
                 "--policy-text", INVALID_POLICIES["lowercase Effect"], check=False)
    eh.assert_cli_error(out, "InvalidParameterException", "SetRepositoryPolicy",
                        startswith=eh.INVALID_REPO_POLICY)
    out = eh.aws(server, admin_key, "get-repository-policy", "--repository-name", "x/y", check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "GetRepositoryPolicy",
                        message=repo_not_found("x/y"))


@pytest.mark.parametrize("what", sorted(INVALID_POLICIES))
def test_invalid_policy_text(server, ecr, repo, what):
    name, _ = repo
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.set_repository_policy(repositoryName=name, policyText=INVALID_POLICIES[what])
    msg = eh.client_error(ei.value, "InvalidParameterException")
    assert msg.startswith(eh.INVALID_REPO_POLICY), msg
    # Nothing was stored.
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.get_repository_policy(repositoryName=name)
    eh.client_error(ei.value, "RepositoryPolicyNotFoundException")


def test_invalid_policy_text_keeps_the_old_policy(server, ecr, repo):
    name, _ = repo
    ecr.set_repository_policy(repositoryName=name, policyText=NAMED_PULL)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.set_repository_policy(repositoryName=name, policyText=INVALID_POLICIES["unknown action"])
    eh.client_error(ei.value, "InvalidParameterException")
    assert ecr.get_repository_policy(repositoryName=name)["policyText"] == NAMED_PULL


def test_policy_text_length(server, admin_key, repo):
    name, _ = repo
    for text in ("", " " * 10241 + "{}"):
        r = eh.call(server, admin_key, "SetRepositoryPolicy", {"repositoryName": name, "policyText": text})
        eh.assert_error(r, "InvalidParameterException", startswith="Invalid parameter at ")


def test_nonexistent_repository(server, ecr):
    for call, kw in [(ecr.set_repository_policy, {"policyText": ANON_PULL}),
                     (ecr.get_repository_policy, {}), (ecr.delete_repository_policy, {})]:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(repositoryName="x/y", **kw)
        assert eh.client_error(ei.value, "RepositoryNotFoundException") == repo_not_found("x/y")
    # The repository is not created by the attempt.
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.get_repository_policy(repositoryName="x/y")
    eh.client_error(ei.value, "RepositoryNotFoundException")


@pytest.mark.parametrize("name", ["Upper/Case", "UPPER", "a" * 300, "x" * 257, "a", "-x", "x-", "x//y",
                                  "x/", "/x", "x y", "x..y"])
def test_invalid_repository_name(server, admin_key, name):
    # Without client-side validation: botocore itself refuses names shorter than 2.
    c = eh.boto_client(server, admin_key, validate=False)
    for call, kw in [(c.set_repository_policy, {"policyText": ANON_PULL}),
                     (c.get_repository_policy, {}), (c.delete_repository_policy, {})]:
        with pytest.raises(botocore.exceptions.ClientError) as ei:
            call(repositoryName=name, **kw)
        msg = eh.client_error(ei.value, "InvalidParameterException")
        assert msg.startswith("Invalid parameter at 'repositoryName' failed to satisfy constraint: "), msg


def test_boto3_validates_short_names_locally(server, ecr):
    with pytest.raises(botocore.exceptions.ParamValidationError):
        ecr.get_repository_policy(repositoryName="a")


def test_registry_id(server, ecr, admin_key, repo):
    name, _ = repo
    c = eh.boto_client(server, admin_key, validate=False)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_repository_policy(registryId="abc", repositoryName=name)
    eh.client_error(ei.value, "InvalidParameterException")
    # Another account's registry is not served here.
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        ecr.get_repository_policy(registryId="111122223333", repositoryName=name)
    eh.client_error(ei.value, "RepositoryNotFoundException")


# ---- who may manage repository policies -----------------------------------------------------


def test_principal_without_permission_is_denied(server, make_principal, repo):
    name, _ = repo
    p = make_principal()
    for op, action, body in [
        ("SetRepositoryPolicy", "ecr:SetRepositoryPolicy", {"repositoryName": name, "policyText": ANON_PULL}),
        ("GetRepositoryPolicy", "ecr:GetRepositoryPolicy", {"repositoryName": name}),
        ("DeleteRepositoryPolicy", "ecr:DeleteRepositoryPolicy", {"repositoryName": name}),
    ]:
        eh.assert_error(eh.call(server, p.key, op, body), "AccessDeniedException", message=(
            f"User: {p.arn} is not authorized to perform: {action} on resource: {eh.repo_arn(name)} "
            f"because no identity-based policy allows the {action} action"))
    # Nothing was set.
    assert_no_policy_in_cli(server, name)


def test_unauthorized_caller_cannot_probe_repository_existence(server, make_principal):
    """A caller without permission gets the same AccessDeniedException whether the repository
    exists or not (as AWS evaluates IAM before the service looks the repository up, and as
    Berth's /v2 answers); otherwise RepositoryNotFoundException is an existence oracle."""
    p = make_principal()
    name = eh.unique("ghost") + "/app"
    eh.assert_error(eh.call(server, p.key, "GetRepositoryPolicy", {"repositoryName": name}),
                    "AccessDeniedException", message=(
                        f"User: {p.arn} is not authorized to perform: ecr:GetRepositoryPolicy on resource: "
                        f"{eh.repo_arn(name)} because no identity-based policy allows the "
                        f"ecr:GetRepositoryPolicy action"))


def test_permission_on_one_repository_only(server, make_principal, admin_basic):
    base = eh.unique("scoped")
    mine, other = f"{base}/mine", f"{base}/other"
    eh.push_image(server, admin_basic, mine)
    eh.push_image(server, admin_basic, other)
    p = make_principal(("policies", eh.identity_policy(
        ["ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy", "ecr:DeleteRepositoryPolicy"],
        eh.repo_arn(mine))))
    c = eh.boto_client(server, p.key)
    eh.eventually(lambda: c.set_repository_policy(repositoryName=mine, policyText=NAMED_PULL) and None)
    assert c.get_repository_policy(repositoryName=mine)["policyText"] == NAMED_PULL
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.set_repository_policy(repositoryName=other, policyText=NAMED_PULL)
    eh.client_error(ei.value, "AccessDeniedException")
    assert c.delete_repository_policy(repositoryName=mine)["policyText"] == NAMED_PULL


def test_repository_policy_grants_policy_management(server, ecr, make_principal, repo):
    """Same account: a repository policy alone may allow a principal without identity policies
    to read a repository's policy (either side allowing is enough)."""
    name, _ = repo
    p = make_principal()
    body = {"repositoryName": name}
    eh.assert_error(eh.call(server, p.key, "GetRepositoryPolicy", body), "AccessDeniedException")
    policy = eh.resource_policy([{"Effect": "Allow", "Principal": {"AWS": p.arn},
                                  "Action": "ecr:GetRepositoryPolicy"}])
    ecr.set_repository_policy(repositoryName=name, policyText=policy)
    got = eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, "GetRepositoryPolicy", body)), timeout=5)
    assert got == {"registryId": "000000000000", "repositoryName": name, "policyText": policy}
    # Only what it grants.
    eh.assert_error(eh.call(server, p.key, "DeleteRepositoryPolicy", body), "AccessDeniedException")
    eh.assert_error(eh.call(server, p.key, "SetRepositoryPolicy", dict(body, policyText=ANON_PULL)),
                    "AccessDeniedException")
    assert ecr.get_repository_policy(repositoryName=name)["policyText"] == policy


# ---- enforcement ----------------------------------------------------------------------------


def test_policy_set_through_the_api_is_enforced(server, ecr, repo):
    name, img = repo
    anon = eh.ANON

    def status():
        return eh.get_manifest(server, anon, name, "v1").status_code

    assert status() == 401
    ecr.set_repository_policy(repositoryName=name, policyText=ANON_PULL)

    def open_():
        r = eh.get_manifest(server, anon, name, "v1")
        assert r.status_code == 200, f"{r.status_code} {r.text}"
        assert r.content == img.manifest
    eh.eventually(open_, timeout=5)
    # The layer too (ecr:GetDownloadUrlForLayer).
    layer_digest, layer = img.blobs()[1]
    r = requests.get(f"{server.url}/v2/{name}/blobs/{layer_digest}", auth=anon, timeout=30)
    assert r.status_code == 200 and r.content == layer, r.status_code
    # Push stays closed.
    r = requests.post(f"{server.url}/v2/{name}/blobs/uploads/", auth=anon, timeout=30)
    assert r.status_code == 401, r.status_code

    ecr.delete_repository_policy(repositoryName=name)

    def closed():
        assert status() == 401
    eh.eventually(closed, timeout=5)
