"""PutRegistryPolicy, GetRegistryPolicy and DeleteRegistryPolicy through boto3, the aws CLI and raw
requests, and enforcement of a registry policy on /v2. The registry policy applies to the whole
registry, so these tests run on a server of their own."""
import json

import botocore.exceptions
import pytest

import ecrhelp as eh

NOT_FOUND = "Registry policy does not exist in the registry with id '000000000000'"

DENY_DELETE = eh.resource_policy([{"Sid": "NoDeletes", "Effect": "Deny", "Principal": "*",
                                   "Action": "ecr:BatchDeleteImage"}])
REPLICATION = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Replicate", "Effect": "Allow",
                   "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                   "Action": ["ecr:CreateRepository", "ecr:ReplicateImage"],
                   "Resource": "arn:aws:ecr:us-east-1:000000000000:repository/*"}],
}, indent=2)


@pytest.fixture
def recr(own_server):
    c = eh.boto_client(own_server, own_server.admin)
    yield c
    # Leave no registry policy behind for the next test.
    try:
        c.delete_registry_policy()
    except botocore.exceptions.ClientError:
        pass


def expect_not_found(call):
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        call()
    assert eh.client_error(ei.value, "RegistryPolicyNotFoundException") == NOT_FOUND


def test_boto3_round_trip(own_server, recr):
    expect_not_found(recr.get_registry_policy)
    expect_not_found(recr.delete_registry_policy)

    out = recr.put_registry_policy(policyText=REPLICATION)
    assert (out["registryId"], out["policyText"]) == ("000000000000", REPLICATION)
    got = recr.get_registry_policy()
    assert (got["registryId"], got["policyText"]) == ("000000000000", REPLICATION)
    assert json.loads(own_server.cli("registry-policy", "get").stdout) == json.loads(REPLICATION)

    out = recr.put_registry_policy(policyText=DENY_DELETE)
    assert out["policyText"] == DENY_DELETE
    assert recr.get_registry_policy()["policyText"] == DENY_DELETE

    out = recr.delete_registry_policy()
    assert (out["registryId"], out["policyText"]) == ("000000000000", DENY_DELETE)
    expect_not_found(recr.get_registry_policy)
    expect_not_found(recr.delete_registry_policy)
    out = own_server.cli("registry-policy", "get", check=False)
    assert (out.returncode, out.stdout, out.stderr) == (1, "", "berth: the registry has no policy\n"), out


def test_cli_round_trip(own_server, recr):
    key = own_server.admin
    out = eh.aws(own_server, key, "get-registry-policy", check=False)
    eh.assert_cli_error(out, "RegistryPolicyNotFoundException", "GetRegistryPolicy", message=NOT_FOUND)
    out = eh.aws(own_server, key, "put-registry-policy", "--policy-text", REPLICATION)
    assert out == {"registryId": "000000000000", "policyText": REPLICATION}
    out = eh.aws(own_server, key, "get-registry-policy")
    assert out == {"registryId": "000000000000", "policyText": REPLICATION}
    out = eh.aws(own_server, key, "delete-registry-policy")
    assert out == {"registryId": "000000000000", "policyText": REPLICATION}
    out = eh.aws(own_server, key, "delete-registry-policy", check=False)
    eh.assert_cli_error(out, "RegistryPolicyNotFoundException", "DeleteRegistryPolicy", message=NOT_FOUND)


@pytest.mark.parametrize("text", [
    "{not json",
    eh.resource_policy([{"Effect": "deny", "Principal": "*", "Action": "ecr:BatchDeleteImage"}]),
    eh.resource_policy([{"Effect": "Deny", "Principal": "*", "Action": "ecr:DeleteEverything"}]),
    "[]",
])
def test_invalid_policy_text(own_server, recr, text):
    recr.put_registry_policy(policyText=REPLICATION)
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        recr.put_registry_policy(policyText=text)
    msg = eh.client_error(ei.value, "InvalidParameterException")
    assert msg.startswith(eh.INVALID_REGISTRY_POLICY), msg
    # The stored policy is unchanged.
    assert recr.get_registry_policy()["policyText"] == REPLICATION


def test_principal_without_permission_is_denied(own_server, recr):
    p = eh.create_principal(own_server)
    eh.wait_known(own_server, p.key)
    for op, action, body in [("PutRegistryPolicy", "ecr:PutRegistryPolicy", {"policyText": DENY_DELETE}),
                             ("GetRegistryPolicy", "ecr:GetRegistryPolicy", {}),
                             ("DeleteRegistryPolicy", "ecr:DeleteRegistryPolicy", {})]:
        eh.assert_error(eh.call(own_server, p.key, op, body), "AccessDeniedException", message=(
            f"User: {p.arn} is not authorized to perform: {action} on resource: * "
            f"because no identity-based policy allows the {action} action"))
    expect_not_found(recr.get_registry_policy)


def test_explicit_deny_is_enforced_on_v2(own_server, recr):
    admin = eh.basic(*own_server.admin)
    name = eh.unique("regdeny") + "/app"
    img = eh.push_image(own_server, admin, name, "v1")
    keep = eh.push_image(own_server, admin, name, "keep")
    recr.put_registry_policy(policyText=DENY_DELETE)

    def denied():
        r = eh.v2(own_server, "DELETE", f"/v2/{name}/manifests/{img.digest}", admin)
        assert r.status_code == 403, f"{r.status_code} {r.text}"
        err = r.json()["errors"][0]
        assert err["code"] == "DENIED", r.text
        assert err["message"] == (
            f"User: {eh.user_arn('admin')} is not authorized to perform: ecr:BatchDeleteImage on resource: "
            f"{eh.repo_arn(name)} with an explicit deny"), r.text
    eh.eventually(denied, timeout=5)
    # Everything else still works for the administrator.
    r = eh.get_manifest(own_server, admin, name, "v1")
    assert r.status_code == 200 and r.content == img.manifest, r.status_code
    eh.push_image(own_server, admin, name, "third")

    recr.delete_registry_policy()

    def deleted():
        r = eh.v2(own_server, "DELETE", f"/v2/{name}/manifests/{img.digest}", admin)
        assert r.status_code == 202, f"{r.status_code} {r.text}"
    eh.eventually(deleted, timeout=5)
    assert eh.get_manifest(own_server, admin, name, "v1").status_code == 404
    r = eh.get_manifest(own_server, admin, name, "keep")
    assert r.status_code == 200 and r.content == keep.manifest
