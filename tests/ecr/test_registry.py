"""ECR registry-level configuration against a running Berth, with boto3 and the real `aws` CLI:
DescribeRegistry, PutReplicationConfiguration, Get/PutRegistryScanningConfiguration,
BatchGetRepositoryScanningConfiguration, Get/PutAccountSetting; and the operations of features
that are configured but not running yet (scanning, replication, pull-through cache), which must
say so instead of pretending.

The aws CLI here (Debian's 2.9) predates GetAccountSetting/PutAccountSetting: those run
through boto3 only.

Self-contained: one module-scoped server (registry settings are global).
Run: BERTH_BIN=$PWD/target/debug/berth python3 -m pytest -q -p no:cacheprovider \
     tests/ecr/test_registry.py
"""
import json

import pytest
from botocore.exceptions import ClientError

import ecrhelp as eh


REPLICATION = {"rules": [
    {"destinations": [{"region": "eu-west-1", "registryId": eh.ACCOUNT},
                      {"region": "us-east-1", "registryId": "111122223333"}],
     "repositoryFilters": [{"filter": "prod", "filterType": "PREFIX_MATCH"}]},
    {"destinations": [{"region": "ap-south-1", "registryId": eh.ACCOUNT}]},
]}


def test_replication_configuration_with_the_cli(own_server):
    out = eh.aws(own_server, own_server.admin, "describe-registry")
    assert out == {"registryId": eh.ACCOUNT, "replicationConfiguration": {"rules": []}}
    out = eh.aws(own_server, own_server.admin, "put-replication-configuration",
                 "--replication-configuration", json.dumps(REPLICATION))
    assert out == {"replicationConfiguration": REPLICATION}
    out = eh.aws(own_server, own_server.admin, "describe-registry")
    assert out == {"registryId": eh.ACCOUNT, "replicationConfiguration": REPLICATION}
    # Replaced as a whole; an empty rule list clears it.
    eh.aws(own_server, own_server.admin, "put-replication-configuration",
           "--replication-configuration", '{"rules": []}')
    assert eh.aws(own_server, own_server.admin, "describe-registry")["replicationConfiguration"] == \
        {"rules": []}


BAD_REPLICATION = [
    ({"rules": [{"destinations": [{"region": "us-east-1", "registryId": eh.ACCOUNT}]}]},
     "InvalidParameterException", "Replication destination cannot be the same as the source registry"),
    ({"rules": [{"destinations": [{"region": "US-EAST-1", "registryId": eh.ACCOUNT}]}]},
     "InvalidParameterException", "region"),
    ({"rules": [{"destinations": [{"region": "eu-west-1", "registryId": "12"}]}]},
     "InvalidParameterException", "registryId"),
    ({"rules": [{"destinations": []}] * 11}, "InvalidParameterException", "rules"),
    ({"rules": [{"destinations": [], "repositoryFilters": []}]}, "InvalidParameterException",
     "repositoryFilters"),
    ({"rules": [{"destinations": [], "repositoryFilters": [{"filter": "prod", "filterType": "WILDCARD"}]}]},
     "InvalidParameterException", "PREFIX_MATCH"),
    ({"rules": [{"destinations": [], "repositoryFilters": [{"filter": "Prod", "filterType": "PREFIX_MATCH"}]}]},
     "InvalidParameterException", "filter"),
    ({"rules": [{"destinations": [{"region": f"eu-west-{i}", "registryId": eh.ACCOUNT}
                                  for i in range(26)]}]},
     "InvalidParameterException", "25 unique destinations"),
    ({"rules": [{"destinations": [], "surprise": 1}]}, "SerializationException", "surprise"),
    ({"rules": "all"}, "SerializationException", None),
]


@pytest.mark.parametrize("conf,kind,fragment", BAD_REPLICATION)
def test_replication_configuration_is_validated(own_server, own_raw, conf, kind, fragment):
    before = own_raw.describe_registry()["replicationConfiguration"]
    # Raw signed calls: boto3 cannot even serialise some of these.
    r = eh.call(own_server, own_server.admin, "PutReplicationConfiguration",
                {"replicationConfiguration": conf})
    msg = eh.assert_error(r, kind)
    if fragment:
        assert fragment in msg, msg
    assert own_raw.describe_registry()["replicationConfiguration"] == before


def test_scanning_configuration(own_server, own_ecr, own_raw):
    out = eh.aws(own_server, own_server.admin, "get-registry-scanning-configuration")
    assert out == {"registryId": eh.ACCOUNT,
                   "scanningConfiguration": {"scanType": "BASIC", "rules": []}}
    rules = [{"scanFrequency": "CONTINUOUS_SCAN",
              "repositoryFilters": [{"filter": "prod-*", "filterType": "WILDCARD"}]},
             {"scanFrequency": "SCAN_ON_PUSH",
              "repositoryFilters": [{"filter": "team", "filterType": "WILDCARD"}]}]
    out = eh.aws(own_server, own_server.admin, "put-registry-scanning-configuration",
                 "--scan-type", "ENHANCED", "--rules", json.dumps(rules))
    assert out == {"registryScanningConfiguration": {"scanType": "ENHANCED", "rules": rules}}
    assert own_ecr.get_registry_scanning_configuration()["scanningConfiguration"] == \
        {"scanType": "ENHANCED", "rules": rules}

    # Effective configuration per repository: the filter that selects it, else its own
    # scanOnPush, else manual; a missing repository is a per-item failure.
    for name, push in (("prod-api", False), ("myteam/app", False), ("other", True), ("plain", False)):
        own_ecr.create_repository(repositoryName=name,
                              imageScanningConfiguration={"scanOnPush": push})
    r = own_ecr.batch_get_repository_scanning_configuration(
        repositoryNames=["prod-api", "myteam/app", "other", "plain", "missing-repo"])
    got = {c["repositoryName"]: (c["scanFrequency"], c["appliedScanFilters"])
           for c in r["scanningConfigurations"]}
    assert got == {
        "prod-api": ("CONTINUOUS_SCAN", [{"filter": "prod-*", "filterType": "WILDCARD"}]),
        "myteam/app": ("SCAN_ON_PUSH", [{"filter": "team", "filterType": "WILDCARD"}]),
        "other": ("SCAN_ON_PUSH", []),
        "plain": ("MANUAL", []),
    }
    assert r["failures"] == [{"repositoryName": "missing-repo", "failureCode": "REPOSITORY_NOT_FOUND",
                              "failureReason": "REPOSITORY_NOT_FOUND"}]

    bad = [
        ({"scanType": "BASIC", "rules": [{"scanFrequency": "CONTINUOUS_SCAN", "repositoryFilters": []}]},
         "CONTINUOUS_SCAN"),
        ({"scanType": "FANCY"}, "scanType"),
        ({"scanType": "ENHANCED", "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": []}] * 3},
         "rules"),
        ({"scanType": "ENHANCED", "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [
            {"filter": "a--b", "filterType": "WILDCARD"}]}]}, "filter"),
        ({"scanType": "ENHANCED", "rules": [{"scanFrequency": "SCAN_ON_PUSH", "repositoryFilters": [
            {"filter": "ab", "filterType": "PREFIX_MATCH"}]}]}, "WILDCARD"),
    ]
    for args, fragment in bad:
        with pytest.raises(ClientError) as e:
            own_raw.put_registry_scanning_configuration(**args)
        assert fragment in eh.client_error(e.value, "InvalidParameterException")
    assert own_ecr.get_registry_scanning_configuration()["scanningConfiguration"]["scanType"] == "ENHANCED"
    with pytest.raises(ClientError) as e:
        own_raw.batch_get_repository_scanning_configuration(repositoryNames=[f"r{i:02}" for i in range(26)])
    eh.client_error(e.value, "InvalidParameterException")


def test_account_settings(own_server, own_ecr, own_raw):
    assert own_ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"
    assert own_ecr.get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"] == "AWS_NATIVE"
    assert own_ecr.get_account_setting(name="REGISTRY_POLICY_SCOPE")["value"] == "V2"
    r = own_ecr.put_account_setting(name="BASIC_SCAN_TYPE_VERSION", value="CLAIR")
    assert (r["name"], r["value"]) == ("BASIC_SCAN_TYPE_VERSION", "CLAIR")
    assert own_ecr.get_account_setting(name="BASIC_SCAN_TYPE_VERSION")["value"] == "CLAIR"
    for name, value, fragment in (("NO_SUCH_SETTING", "X", "must be one of"),
                                  ("BLOB_MOUNTING", "MAYBE", "ENABLED, DISABLED"),
                                  ("REGISTRY_POLICY_SCOPE", "V1", "V2")):
        with pytest.raises(ClientError) as e:
            own_raw.put_account_setting(name=name, value=value)
        assert fragment in eh.client_error(e.value, "ValidationException")
    with pytest.raises(ClientError) as e:
        own_raw.get_account_setting(name="NO_SUCH_SETTING")
    eh.client_error(e.value, "ValidationException")


def test_blob_mounting_setting_governs_cross_repository_mounts(own_server, own_ecr):
    src, dst = eh.unique("mnt"), eh.unique("mnt")
    img = eh.push_image(own_server, own_server.admin, src, "v1")

    def mount():
        return eh.v2(own_server, "POST",
                     f"/v2/{dst}/blobs/uploads/?mount={img.layer_digest}&from={src}",
                     own_server.admin)
    try:
        own_ecr.put_account_setting(name="BLOB_MOUNTING", value="DISABLED")
        r = mount()
        assert r.status_code == 202, r.text  # an upload session instead of a mount
        assert eh.v2(own_server, "HEAD", f"/v2/{dst}/blobs/{img.layer_digest}",
                     own_server.admin).status_code == 404
        own_ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")
        r = mount()
        assert r.status_code == 201, r.text
        assert eh.v2(own_server, "HEAD", f"/v2/{dst}/blobs/{img.layer_digest}",
                     own_server.admin).status_code == 200
    finally:
        own_ecr.put_account_setting(name="BLOB_MOUNTING", value="ENABLED")


def test_features_not_running_yet_say_so(own_server, own_ecr):
    repo = eh.unique("feat")
    img = eh.push_image(own_server, own_server.admin, repo, "v1")
    image_id = json.dumps({"imageDigest": img.digest})
    for args, kind, op in (
        (("start-image-scan", "--repository-name", repo, "--image-id", image_id),
         "ValidationException", "StartImageScan"),
        (("describe-image-scan-findings", "--repository-name", repo, "--image-id", image_id),
         "ScanNotFoundException", "DescribeImageScanFindings"),
        (("describe-image-replication-status", "--repository-name", repo, "--image-id", image_id),
         "ValidationException", "DescribeImageReplicationStatus"),
        (("create-pull-through-cache-rule", "--ecr-repository-prefix", "hub",
          "--upstream-registry-url", "registry-1.docker.io"),
         "ValidationException", "CreatePullThroughCacheRule"),
        (("describe-pull-through-cache-rules",), "ValidationException", "DescribePullThroughCacheRules"),
    ):
        out = eh.aws(own_server, own_server.admin, *args, check=False)
        msg = eh.assert_cli_error(out, kind, op)
        assert "not available in this registry yet" in msg, msg
    # The repository is still checked first.
    out = eh.aws(own_server, own_server.admin, "start-image-scan", "--repository-name",
                 eh.unique("missing"), "--image-id", image_id, check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "StartImageScan")


def test_registry_operations_are_authorized(own_server, own_ecr):
    p = eh.create_principal(own_server, [("describe", eh.identity_policy(["ecr:DescribeRegistry"]))])
    eh.wait_known(own_server, p.key)
    client = eh.boto_client(own_server, p.key)
    assert eh.eventually(lambda: client.describe_registry())["registryId"] == eh.ACCOUNT
    for call in (
        lambda: client.put_replication_configuration(replicationConfiguration={"rules": []}),
        lambda: client.get_registry_scanning_configuration(),
        lambda: client.put_registry_scanning_configuration(scanType="BASIC"),
        lambda: client.put_account_setting(name="BLOB_MOUNTING", value="DISABLED"),
        lambda: client.get_account_setting(name="BLOB_MOUNTING"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        eh.client_error(e.value, "AccessDeniedException")
    assert own_ecr.get_account_setting(name="BLOB_MOUNTING")["value"] == "ENABLED"
