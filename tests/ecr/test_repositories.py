"""ECR repository operations against a running Berth, with boto3 and the real `aws` CLI:
CreateRepository, DescribeRepositories (pagination, visibility), DeleteRepository (force),
TagResource / UntagResource / ListTagsForResource, PutImageTagMutability (enforced on /v2
pushes, with exclusions) and PutImageScanningConfiguration.

Self-contained: one module-scoped server, images pushed through /v2 with the harness's client.
Run: BERTH_BIN=$PWD/target/debug/berth python3 -m pytest -q -p no:cacheprovider \
     tests/ecr/test_repositories.py
"""
import json

import pytest
from botocore.exceptions import ClientError

import ecrhelp as eh
from ociimage import OCI_MANIFEST, Image, sha256
from v2client import client


def unique(prefix="repo"):
    return eh.unique(prefix)


def error(excinfo):
    e = excinfo.value.response["Error"]
    return e["Code"], e["Message"]


def aws(server, *args, check=True, key=None):
    """`aws ecr ARGS` as the administrator (or `key`): parsed output with check, else the run."""
    return eh.aws(server, key or server.admin, *args, check=check)


# ---- /v2 pushes -------------------------------------------------------------------------------

def image(server, repo, seed):
    """Blobs pushed; returns the manifest bytes of a small image distinct per seed."""
    img = Image(seed)
    client(server).push_blobs(repo, img)
    return img.manifest


def put_manifest(server, repo, tag, body):
    return client(server).put_manifest(repo, tag, body)


def push(server, repo, tag, seed):
    return client(server).push_manifest(repo, tag, image(server, repo, seed))


def tag_digest(server, repo, tag):
    r = client(server).head(f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 200, r.status_code
    return r.headers["Docker-Content-Digest"]


# ---- CreateRepository ---------------------------------------------------------------------------

def test_create_repository_echoes_every_setting(own_server, own_ecr):
    name = unique("team") + "/app"
    r = own_ecr.create_repository(
        repositoryName=name,
        tags=[{"Key": "team", "Value": "infra"}, {"Key": "empty", "Value": ""}],
        imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"},
                                            {"filterType": "WILDCARD", "filter": "dev-*"}],
        imageScanningConfiguration={"scanOnPush": True},
        encryptionConfiguration={"encryptionType": "KMS", "kmsKey": "alias/my-key"},
    )["repository"]
    assert r["repositoryName"] == name
    assert r["repositoryArn"].startswith("arn:aws:ecr:us-east-1:")
    assert r["repositoryArn"].endswith(f":repository/{name}")
    assert r["registryId"] == r["repositoryArn"].split(":")[4]
    assert r["repositoryUri"] == f"{own_server.hostport}/{name}"
    assert r["createdAt"].timestamp() > 1_600_000_000
    assert r["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert r["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "latest"}, {"filterType": "WILDCARD", "filter": "dev-*"}]
    assert r["imageScanningConfiguration"] == {"scanOnPush": True}
    assert r["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": "alias/my-key"}
    tags = own_ecr.list_tags_for_resource(resourceArn=r["repositoryArn"])["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "empty", "Value": ""},
                                                    {"Key": "team", "Value": "infra"}]
    # Described the same way.
    d = own_ecr.describe_repositories(repositoryNames=[name])["repositories"]
    assert d == [r]


def test_create_repository_defaults(own_server, own_ecr):
    name = unique()
    r = own_ecr.create_repository(repositoryName=name)["repository"]
    assert r["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in r
    assert r["imageScanningConfiguration"] == {"scanOnPush": False}
    assert r["encryptionConfiguration"] == {"encryptionType": "AES256"}
    # An empty repository exists for /v2 too.
    t = client(own_server).get(f"/v2/{name}/tags/list")
    assert t.status_code == 200 and t.json()["tags"] == [], t.text


def test_create_existing_repository_is_refused(own_ecr):
    name = unique()
    own_ecr.create_repository(repositoryName=name)
    with pytest.raises(ClientError) as e:
        own_ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    code, msg = error(e)
    assert code == "RepositoryAlreadyExistsException"
    assert f"The repository with name '{name}' already exists in the registry with id" in msg
    assert own_ecr.describe_repositories(repositoryNames=[name])["repositories"][0][
        "imageTagMutability"] == "MUTABLE"


@pytest.mark.parametrize("kwargs,code,fragment", [
    ({"repositoryName": "UPPER"}, "InvalidParameterException", "must satisfy regular expression"),
    ({"repositoryName": "a" * 257}, "InvalidParameterException", "length less than or equal to 256"),
    ({"repositoryName": "bad//name"}, "InvalidParameterException", "regular expression"),
    ({"imageTagMutability": "SOMETIMES"}, "InvalidParameterException", "enum value set"),
    ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "InvalidParameterException",
     "can't be null when imageTagMutability is set as IMMUTABLE_WITH_EXCLUSION"),
    ({"imageTagMutability": "MUTABLE_WITH_EXCLUSION"}, "InvalidParameterException",
     "can't be null"),
    ({"imageTagMutability": "IMMUTABLE",
      "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x"}]},
     "InvalidParameterException", "must be null"),
    ({"imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x"}]},
     "InvalidParameterException", "must be null"),
    ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
      "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "a/b"}]},
     "InvalidParameterException", "[0-9a-zA-Z._*-]"),
    ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
      "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x" * 129}]},
     "InvalidParameterException", "[0-9a-zA-Z._*-]"),
    ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
      "imageTagMutabilityExclusionFilters": [{"filterType": "REGEX", "filter": "x"}]},
     "InvalidParameterException", "WILDCARD"),
    ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
      "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": f"f{i}"}
                                             for i in range(6)]},
     "InvalidParameterException", "between 1 and 5"),
    ({"encryptionConfiguration": {"encryptionType": "ROT13"}}, "InvalidParameterException",
     "enum value set"),
    ({"encryptionConfiguration": {"encryptionType": "AES256", "kmsKey": "k"}},
     "InvalidParameterException", "kmsKey"),
    ({"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "k" * 2049}},
     "InvalidParameterException", "kmsKey"),
    ({"tags": [{"Key": "k" * 129, "Value": "v"}]}, "InvalidTagParameterException", "128"),
    ({"tags": [{"Key": "k", "Value": "v" * 257}]}, "InvalidTagParameterException", "256"),
    ({"tags": [{"Key": "aws:reserved", "Value": "v"}]}, "InvalidTagParameterException", "aws:"),
    ({"tags": [{"Key": f"k{i}", "Value": "v"} for i in range(51)]}, "TooManyTagsException", "50"),
])
def test_create_repository_validates_on_the_server(own_ecr, kwargs, code, fragment):
    kwargs = dict(kwargs)
    name = kwargs.setdefault("repositoryName", unique())
    with pytest.raises(ClientError) as e:
        own_ecr.create_repository(**kwargs)
    got, msg = error(e)
    assert got == code, msg
    assert fragment in msg
    if len(name) <= 256 and name == name.lower() and "//" not in name:
        with pytest.raises(ClientError) as e:
            own_ecr.describe_repositories(repositoryNames=[name])
        assert error(e)[0] == "RepositoryNotFoundException"


def test_create_repository_with_another_registry_id_is_refused(own_ecr):
    with pytest.raises(ClientError) as e:
        own_ecr.create_repository(registryId="999999999999", repositoryName=unique())
    assert error(e)[0] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as e:
        own_ecr.create_repository(registryId="12", repositoryName=unique())
    assert error(e)[0] == "InvalidParameterException"


# ---- DescribeRepositories -----------------------------------------------------------------------

def test_describe_repositories_by_name(own_ecr):
    a, b = unique("a"), unique("b")
    for n in (a, b):
        own_ecr.create_repository(repositoryName=n)
    got = own_ecr.describe_repositories(repositoryNames=[b, a])["repositories"]
    assert [r["repositoryName"] for r in got] == [b, a]
    assert "nextToken" not in own_ecr.describe_repositories(repositoryNames=[a])
    with pytest.raises(ClientError) as e:
        own_ecr.describe_repositories(repositoryNames=[a, "does-not-exist"])
    code, msg = error(e)
    assert code == "RepositoryNotFoundException"
    assert "The repository with name 'does-not-exist' does not exist in the registry with id" in msg


@pytest.mark.parametrize("kwargs,fragment", [
    ({"repositoryNames": ["aa"], "maxResults": 5}, "repositoryNames"),
    ({"repositoryNames": ["aa"], "nextToken": "x"}, "repositoryNames"),
    ({"repositoryNames": [f"r{i:03}" for i in range(101)]}, "between 1 and 100"),
    ({"repositoryNames": ["Bad"]}, "regular expression"),
    ({"maxResults": 1001}, "maxResults"),
    ({"nextToken": "garbage!!"}, "nextToken"),
    ({"nextToken": "Z2FyYmFnZQ"}, "nextToken"),
])
def test_describe_repositories_validation(own_ecr, kwargs, fragment):
    with pytest.raises(ClientError) as e:
        own_ecr.describe_repositories(**kwargs)
    code, msg = error(e)
    assert code == "InvalidParameterException", msg
    assert fragment in msg


def test_describe_repositories_pages(own_server, own_ecr):
    prefix = unique("page")
    names = [f"{prefix}/r{i}" for i in range(7)]
    for n in names:
        own_ecr.create_repository(repositoryName=n)
    seen, token, pages = [], None, 0
    while True:
        kw = {"maxResults": 3}
        if token:
            kw["nextToken"] = token
        r = own_ecr.describe_repositories(**kw)
        pages += 1
        assert len(r["repositories"]) <= 3
        seen += [x["repositoryName"] for x in r["repositories"]]
        token = r.get("nextToken")
        if not token:
            break
        assert len(r["repositories"]) == 3
    # Full pages of three, the last one without a token (even when it is full).
    assert pages == -(-len(seen) // 3) and pages >= 3, (pages, len(seen))
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert [s for s in seen if s.startswith(prefix + "/")] == names
    # boto3's paginator over the same pages.
    pager = own_ecr.get_paginator("describe_repositories")
    listed = [x["repositoryName"] for p in pager.paginate(PaginationConfig={"PageSize": 2})
              for x in p["repositories"]]
    assert listed == seen
    # The CLI paginates by itself: --page-size 2 means several calls, one answer.
    out = aws(own_server, "describe-repositories", "--page-size", "2")
    assert [x["repositoryName"] for x in out["repositories"]] == seen
    # --max-items cuts it short and hands back a token the CLI understands.
    out = aws(own_server, "describe-repositories", "--page-size", "2",
              "--max-items", "3")
    assert len(out["repositories"]) == 3 and out.get("NextToken")
    # A page of exactly the remaining repositories has no nextToken.
    total = len(seen)
    r = own_ecr.describe_repositories(maxResults=total)
    assert len(r["repositories"]) == total and "nextToken" not in r


def test_a_pushed_image_makes_its_repository_describable(own_server, own_ecr):
    name = unique("pushed") + "/img"
    push(own_server, name, "v1", "pushed")
    r = own_ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert r["repositoryName"] == name
    assert r["imageTagMutability"] == "MUTABLE"
    listed = [x["repositoryName"] for p in own_ecr.get_paginator("describe_repositories").paginate()
              for x in p["repositories"]]
    assert name in listed


def test_describe_repositories_lists_only_what_the_caller_may_describe(own_server, own_ecr):
    visible = unique("vis")
    hidden = unique("hid")
    for n in (visible, hidden):
        own_ecr.create_repository(repositoryName=n)
    arn = own_ecr.describe_repositories(repositoryNames=[visible])["repositories"][0]["repositoryArn"]
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecr:DescribeRepositories", "Resource": arn}]}
    principal = eh.create_principal(own_server, [("describe-one", json.dumps(policy))])
    # The server picks new identities up from its store shortly.
    eh.wait_known(own_server, principal.key)
    limited = eh.boto_client(own_server, principal.key)
    assert [x["repositoryName"] for x in
            limited.describe_repositories(repositoryNames=[visible])["repositories"]] == [visible]
    names = [x["repositoryName"] for p in
             limited.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 1})
             for x in p["repositories"]]
    assert names == [visible]
    with pytest.raises(ClientError) as e:
        limited.describe_repositories(repositoryNames=[hidden])
    assert error(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        limited.create_repository(repositoryName=unique())
    assert error(e)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        limited.delete_repository(repositoryName=visible)
    assert error(e)[0] == "AccessDeniedException"


# ---- DeleteRepository ---------------------------------------------------------------------------

def test_delete_empty_repository(own_ecr):
    name = unique()
    created = own_ecr.create_repository(repositoryName=name,
                                    imageTagMutability="IMMUTABLE")["repository"]
    deleted = own_ecr.delete_repository(repositoryName=name)["repository"]
    assert deleted == created
    with pytest.raises(ClientError) as e:
        own_ecr.describe_repositories(repositoryNames=[name])
    assert error(e)[0] == "RepositoryNotFoundException"
    with pytest.raises(ClientError) as e:
        own_ecr.delete_repository(repositoryName=name)
    code, msg = error(e)
    assert code == "RepositoryNotFoundException"
    assert f"The repository with name '{name}' does not exist" in msg


def test_delete_repository_with_images_needs_force(own_server, own_ecr):
    name = unique("full")
    digest = push(own_server, name, "v1", "full")
    own_ecr.set_repository_policy(repositoryName=name, policyText=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "s", "Effect": "Allow", "Principal": "*", "Action": "ecr:ListImages"}]}))
    with pytest.raises(ClientError) as e:
        own_ecr.delete_repository(repositoryName=name)
    code, msg = error(e)
    assert code == "RepositoryNotEmptyException"
    assert msg.startswith(f"The repository with name '{name}' in registry with id '")
    assert msg.endswith("cannot be deleted because it still contains images")
    assert tag_digest(own_server, name, "v1") == digest
    own_ecr.delete_repository(repositoryName=name, force=True)
    r = client(own_server).get(f"/v2/{name}/manifests/v1",
                     headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 404
    r = client(own_server).get(f"/v2/{name}/tags/list")
    assert r.status_code == 404
    # Recreated, it has no images and no policy.
    own_ecr.create_repository(repositoryName=name)
    with pytest.raises(ClientError) as e:
        own_ecr.get_repository_policy(repositoryName=name)
    assert error(e)[0] == "RepositoryPolicyNotFoundException"
    r = client(own_server).get(f"/v2/{name}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == []


def test_delete_repository_with_the_cli(own_server):
    name = unique("cli")
    out = aws(own_server, "create-repository", "--repository-name", name,
              "--image-tag-mutability", "IMMUTABLE")
    assert out["repository"]["imageTagMutability"] == "IMMUTABLE"
    push(own_server, name, "v1", "cli")
    out = aws(own_server, "delete-repository", "--repository-name", name, check=False)
    eh.assert_cli_error(out, "RepositoryNotEmptyException", "DeleteRepository")
    out = aws(own_server, "delete-repository", "--repository-name", name, "--force")
    assert out["repository"]["repositoryName"] == name
    out = aws(own_server, "describe-repositories", "--repository-names", name, check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "DescribeRepositories",
                        message=f"The repository with name '{name}' does not exist in the registry "
                                f"with id '{eh.ACCOUNT}'")


# ---- resource tags ------------------------------------------------------------------------------

def test_tag_untag_list(own_ecr):
    name = unique()
    arn = own_ecr.create_repository(repositoryName=name,
                                tags=[{"Key": "a", "Value": "1"}])["repository"]["repositoryArn"]
    out = own_ecr.tag_resource(resourceArn=arn, tags=[{"Key": "b", "Value": "2"},
                                                  {"Key": "a", "Value": "3"}])
    assert {k: v for k, v in out.items() if k != "ResponseMetadata"} == {}, out
    tags = own_ecr.list_tags_for_resource(resourceArn=arn)["tags"]
    assert sorted(tags, key=lambda t: t["Key"]) == [{"Key": "a", "Value": "3"},
                                                    {"Key": "b", "Value": "2"}]
    own_ecr.untag_resource(resourceArn=arn, tagKeys=["a", "never-set"])
    assert own_ecr.list_tags_for_resource(resourceArn=arn)["tags"] == [{"Key": "b", "Value": "2"}]
    own_ecr.untag_resource(resourceArn=arn, tagKeys=[])
    assert len(own_ecr.list_tags_for_resource(resourceArn=arn)["tags"]) == 1
    # At most 50 in all: 49 more is one too many and changes nothing.
    with pytest.raises(ClientError) as e:
        own_ecr.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i}", "Value": ""} for i in range(50)])
    assert error(e)[0] == "TooManyTagsException"
    assert len(own_ecr.list_tags_for_resource(resourceArn=arn)["tags"]) == 1
    own_ecr.tag_resource(resourceArn=arn, tags=[{"Key": f"k{i}", "Value": ""} for i in range(49)])
    assert len(own_ecr.list_tags_for_resource(resourceArn=arn)["tags"]) == 50


def test_tag_operations_errors(own_ecr):
    name = unique()
    arn = own_ecr.create_repository(repositoryName=name)["repository"]["repositoryArn"]
    missing = arn.rsplit("/", 1)[0] + "/" + unique("missing")
    for call in (lambda a: own_ecr.list_tags_for_resource(resourceArn=a),
                 lambda a: own_ecr.tag_resource(resourceArn=a, tags=[{"Key": "k", "Value": "v"}]),
                 lambda a: own_ecr.untag_resource(resourceArn=a, tagKeys=["k"])):
        with pytest.raises(ClientError) as e:
            call(missing)
        assert error(e)[0] == "RepositoryNotFoundException"
        for bad in ("arn:aws:ecr:eu-west-1:111111111111:repository/" + name,
                    "arn:aws:s3:::bucket", "not-an-arn", arn.replace(name, "UPPER")):
            with pytest.raises(ClientError) as e:
                call(bad)
            assert error(e)[0] == "InvalidParameterException", bad
    with pytest.raises(ClientError) as e:
        own_ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k" * 129, "Value": "v"}])
    assert error(e)[0] == "InvalidTagParameterException"
    with pytest.raises(ClientError) as e:
        own_ecr.tag_resource(resourceArn=arn, tags=[{"Key": "k", "Value": "v" * 257}])
    assert error(e)[0] == "InvalidTagParameterException"
    with pytest.raises(ClientError) as e:
        own_ecr.untag_resource(resourceArn=arn, tagKeys=[f"k{i}" for i in range(201)])
    assert error(e)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as e:
        own_ecr.untag_resource(resourceArn=arn, tagKeys=["k" * 129])
    assert error(e)[0] == "InvalidTagParameterException"


def test_tags_with_the_cli(own_server):
    name = unique("clitags")
    arn = aws(own_server, "create-repository", "--repository-name", name,
              "--tags", "Key=team,Value=x")["repository"]["repositoryArn"]
    aws(own_server, "tag-resource", "--resource-arn", arn, "--tags", "Key=env,Value=prod")
    out = aws(own_server, "list-tags-for-resource", "--resource-arn", arn)
    assert sorted(t["Key"] for t in out["tags"]) == ["env", "team"]
    aws(own_server, "untag-resource", "--resource-arn", arn, "--tag-keys", "team")
    out = aws(own_server, "list-tags-for-resource", "--resource-arn", arn)
    assert out["tags"] == [{"Key": "env", "Value": "prod"}]


# ---- tag mutability -----------------------------------------------------------------------------

def test_immutable_tags_are_enforced_on_v2_pushes(own_server, own_ecr):
    name = unique("immut")
    own_ecr.create_repository(repositoryName=name, imageTagMutability="IMMUTABLE")
    first = push(own_server, name, "v1", "one")
    # The same manifest again is fine.
    r = put_manifest(own_server, name, "v1", image(own_server, name, "one"))
    assert r.status_code == 201, r.text
    # Another manifest under the same tag is refused, and nothing of it is kept.
    other = image(own_server, name, "two")
    r = put_manifest(own_server, name, "v1", other)
    assert r.status_code == 400, r.text
    err = r.json()["errors"][0]
    assert err["code"] == "TAG_INVALID"
    assert err["message"] == (f"The image tag 'v1' already exists in the '{name}' repository and "
                              "cannot be overwritten because the tag is immutable.")
    assert tag_digest(own_server, name, "v1") == first
    other_digest = sha256(other)
    r = client(own_server).head(f"/v2/{name}/manifests/{other_digest}",
                      headers={"Accept": OCI_MANIFEST})
    assert r.status_code == 404
    # A new tag is fine; deleting the tag frees it.
    push(own_server, name, "v2", "two")
    r = client(own_server).delete(f"/v2/{name}/manifests/v1")
    assert r.status_code == 202, r.text
    push(own_server, name, "v1", "three")
    # Mutable again: tags move.
    out = own_ecr.put_image_tag_mutability(repositoryName=name, imageTagMutability="MUTABLE")
    assert out["imageTagMutability"] == "MUTABLE"
    assert "imageTagMutabilityExclusionFilters" not in out
    moved = push(own_server, name, "v1", "one")
    assert moved == first


def test_exclusions(own_server, own_ecr):
    name = unique("excl")
    own_ecr.create_repository(repositoryName=name)
    out = own_ecr.put_image_tag_mutability(
        repositoryName=name, imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "latest"},
                                            {"filterType": "WILDCARD", "filter": "dev-*"}])
    assert out["repositoryName"] == name and out["registryId"]
    assert out["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert out["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "latest"}, {"filterType": "WILDCARD", "filter": "dev-*"}]
    for t in ("latest", "dev-1", "v1"):
        push(own_server, name, t, "a")
    for t in ("latest", "dev-1"):
        push(own_server, name, t, "b")
    r = put_manifest(own_server, name, "v1", image(own_server, name, "b"))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "TAG_INVALID"
    # The opposite mode: only matching tags are immutable.
    own_ecr.put_image_tag_mutability(
        repositoryName=name, imageTagMutability="MUTABLE_WITH_EXCLUSION",
        imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "release-*"}])
    push(own_server, name, "v1", "b")
    push(own_server, name, "release-1", "a")
    r = put_manifest(own_server, name, "release-1", image(own_server, name, "b"))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "TAG_INVALID"
    d = own_ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert d["imageTagMutability"] == "MUTABLE_WITH_EXCLUSION"
    assert d["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "release-*"}]


def test_put_image_tag_mutability_errors(own_ecr):
    name = unique()
    own_ecr.create_repository(repositoryName=name)
    with pytest.raises(ClientError) as e:
        own_ecr.put_image_tag_mutability(repositoryName=unique("missing"), imageTagMutability="IMMUTABLE")
    assert error(e)[0] == "RepositoryNotFoundException"
    for kw, fragment in [
        ({"imageTagMutability": "FROZEN"}, "enum value set"),
        ({"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION"}, "can't be null"),
        ({"imageTagMutability": "MUTABLE",
          "imageTagMutabilityExclusionFilters": [{"filterType": "WILDCARD", "filter": "x"}]},
         "must be null"),
    ]:
        with pytest.raises(ClientError) as e:
            own_ecr.put_image_tag_mutability(repositoryName=name, **kw)
        code, msg = error(e)
        assert code == "InvalidParameterException" and fragment in msg, msg
    assert own_ecr.describe_repositories(repositoryNames=[name])["repositories"][0][
        "imageTagMutability"] == "MUTABLE"


def test_tag_mutability_with_the_cli(own_server):
    name = unique("climut")
    aws(own_server, "create-repository", "--repository-name", name)
    out = aws(own_server, "put-image-tag-mutability", "--repository-name", name,
              "--image-tag-mutability", "IMMUTABLE")
    assert out["imageTagMutability"] == "IMMUTABLE"
    push(own_server, name, "v1", "x")
    r = put_manifest(own_server, name, "v1", image(own_server, name, "y"))
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "TAG_INVALID"


# ---- scanning configuration ---------------------------------------------------------------------

def test_put_image_scanning_configuration(own_server, own_ecr):
    name = unique()
    own_ecr.create_repository(repositoryName=name)
    out = own_ecr.put_image_scanning_configuration(repositoryName=name,
                                               imageScanningConfiguration={"scanOnPush": True})
    assert out["repositoryName"] == name
    assert out["imageScanningConfiguration"] == {"scanOnPush": True}
    d = own_ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    assert d["imageScanningConfiguration"] == {"scanOnPush": True}
    with pytest.raises(ClientError) as e:
        own_ecr.put_image_scanning_configuration(repositoryName=unique("missing"),
                                             imageScanningConfiguration={"scanOnPush": True})
    assert error(e)[0] == "RepositoryNotFoundException"
    out = aws(own_server, "put-image-scanning-configuration", "--repository-name", name,
              "--image-scanning-configuration", "scanOnPush=false")
    assert out["imageScanningConfiguration"] == {"scanOnPush": False}


def test_unknown_members_are_refused(own_server):
    # boto3 refuses unknown parameters itself; a raw signed request is not needed to show the
    # server does too, since validate=False clients send what they are given.
    c = eh.boto_client(own_server, own_server.admin, validate=False)
    with pytest.raises(ClientError) as e:
        c.create_repository(repositoryName=unique(), imageScanningConfiguration={"scanOnPush": "yes"})
    assert error(e)[0] == "SerializationException"
    with pytest.raises(ClientError) as e:
        c.describe_repositories(maxResults=0)
    assert error(e)[0] == "InvalidParameterException"
