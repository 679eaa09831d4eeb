"""The region a client signs for (`aws --region`, boto3's `region_name`) must be the registry's
(`registry.region`, `BERTH_REGISTRY__REGION`, default us-east-1): ARNs name that region, so a
request signed for another is refused as AWS refuses one sent to the wrong regional endpoint
(`InvalidSignatureException`, 400), with a message that says how to fix it, and changes nothing.
The /v2 API has no regions and is unaffected."""
import json
import subprocess

import botocore.exceptions
import pytest

import ecrhelp as eh
from berth_server import BerthServer


def region_message(got, region=eh.REGION):
    return (f"Credential should be scoped to a valid region, not '{got}'. This registry's region "
            f"is '{region}': sign requests for it (aws --region {region}, or the SDK's region), "
            f"or serve another region with BERTH_REGISTRY__REGION.")


def aws_in(server, key, region, *args):
    """`aws ecr ARGS --region REGION` against `server`, unchecked."""
    cmd = [eh.AWS_CLI, "ecr", *args, "--endpoint-url", server.url, "--region", region,
           "--output", "json"]
    return subprocess.run(cmd, env=eh.cli_env(key), capture_output=True, text=True, timeout=120)


def test_the_registry_region_is_accepted(server, admin_key):
    eh.assert_ok(eh.call(server, admin_key, "GetAuthorizationToken", region=eh.REGION))
    eh.boto_client(server, admin_key, region=eh.REGION).describe_repositories()
    out = aws_in(server, admin_key, eh.REGION, "get-login-password")
    assert out.returncode == 0 and out.stdout.strip(), out.stderr


@pytest.mark.parametrize("region", ["eu-west-3", "ap-southeast-2", "us-east-2"])
def test_another_region_is_refused_raw(server, admin_key, region):
    r = eh.call(server, admin_key, "GetAuthorizationToken", region=region)
    eh.assert_error(r, "InvalidSignatureException", message=region_message(region))


def test_another_region_is_refused_boto3(server, admin_key):
    ecr = eh.boto_client(server, admin_key, region="eu-west-1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecr.describe_repositories()
    assert eh.client_error(e.value, "InvalidSignatureException") == region_message("eu-west-1")


def test_another_region_is_refused_aws_cli(server, admin_key):
    out = aws_in(server, admin_key, "eu-west-1", "describe-repositories")
    eh.assert_cli_error(out, "InvalidSignatureException", "DescribeRepositories",
                        message=region_message("eu-west-1"))
    # get-login-password signs GetAuthorizationToken for the region too: no password printed.
    out = aws_in(server, admin_key, "eu-west-1", "get-login-password")
    eh.assert_cli_error(out, "InvalidSignatureException", "GetAuthorizationToken",
                        message=region_message("eu-west-1"))
    assert out.stdout == ""


def test_a_refused_region_changes_nothing(server, admin_key):
    name = eh.unique("region")
    out = aws_in(server, admin_key, "eu-west-1", "create-repository", "--repository-name", name)
    eh.assert_cli_error(out, "InvalidSignatureException", "CreateRepository",
                        message=region_message("eu-west-1"))
    ecr = eh.boto_client(server, admin_key)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ecr.describe_repositories(repositoryNames=[name])
    eh.client_error(e.value, "RepositoryNotFoundException")


def test_a_registry_in_another_region():
    """`BERTH_REGISTRY__REGION=eu-west-3`: clients signing for eu-west-3 get ARNs in eu-west-3,
    us-east-1 is refused naming eu-west-3, and /v2 works as before (also with the login password
    of get-login-password --region eu-west-3)."""
    with BerthServer(env=dict(eh.SHARED_ENV, BERTH_REGISTRY__REGION="eu-west-3")) as srv:
        key = srv.admin
        name = eh.unique("region")
        out = aws_in(srv, key, "eu-west-3", "create-repository", "--repository-name", name)
        assert out.returncode == 0, out.stderr
        arn = f"arn:aws:ecr:eu-west-3:{eh.ACCOUNT}:repository/{name}"
        assert json.loads(out.stdout)["repository"]["repositoryArn"] == arn
        ecr = eh.boto_client(srv, key, region="eu-west-3")
        assert ecr.describe_repositories(repositoryNames=[name])["repositories"][0]["repositoryArn"] == arn
        with pytest.raises(botocore.exceptions.ClientError) as e:
            eh.boto_client(srv, key).describe_repositories()
        assert (eh.client_error(e.value, "InvalidSignatureException")
                == region_message(eh.REGION, "eu-west-3"))
        out = aws_in(srv, key, "eu-west-3", "get-login-password")
        assert out.returncode == 0, out.stderr
        password = out.stdout.strip()
        img = eh.push_image(srv, eh.basic("AWS", password), name, "v1")
        r = eh.get_manifest(srv, eh.basic(*key), name, "v1")
        assert r.status_code == 200 and r.content == img.manifest
