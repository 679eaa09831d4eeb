"""ECR lifecycle policies against a running Berth, with boto3 and the real `aws` CLI:
PutLifecyclePolicy (server-side validation, AWS's wording), GetLifecyclePolicy,
DeleteLifecyclePolicy, StartLifecyclePolicyPreview, GetLifecyclePolicyPreview (pages, filters,
`aws ecr wait lifecycle-policy-preview-complete`), and the pull times lifecycle rules read
(`lastRecordedPullTime`).

The evaluation itself is a pure function tested against every worked example of the AWS
documentation in src/policy/lifecycle/; here it is driven end to end over images pushed through /v2.

Self-contained: one module-scoped server.
Run: BERTH_BIN=$PWD/target/debug/berth python3 -m pytest -q -p no:cacheprovider \
     tests/ecr/test_lifecycle.py
"""
import json
import time

import pytest
from botocore.exceptions import ClientError

import ecrhelp as eh

INDEX = "application/vnd.oci.image.index.v1+json"
INVALID = ("Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: "
           "'Lifecycle policy validation failure: ")


def policy(*rules):
    return json.dumps({"rules": list(rules)}, indent=2)


def rule(priority, selection, action="expire", description=None):
    r = {"rulePriority": priority, "selection": selection, "action": {"type": action}}
    if description:
        r["description"] = description
    return r


KEEP_THREE_V = rule(2, {"tagStatus": "tagged", "tagPrefixList": ["v"],
                        "countType": "imageCountMoreThan", "countNumber": 3},
                    description="keep the three newest v* images")
ONE_UNTAGGED = rule(1, {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                        "countNumber": 1}, description="keep one untagged image")


def push(server, repo, tag):
    img = eh.push_image(server, server.admin, repo, tag=tag)
    # Distinct push times (milliseconds): the server stamped this push before its answer
    # arrived, so once the clock has passed that millisecond the next push is stamped later.
    answered = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 <= answered:
        time.sleep(0.0002)
    return img


def untag(server, repo, tag):
    r = eh.v2(server, "DELETE", f"/v2/{repo}/manifests/{tag}", server.admin)
    assert r.status_code == 202, r.text


def test_put_get_delete_with_the_cli(own_server):
    repo = eh.unique("lc")
    push(own_server, repo, "v1")
    text = policy(ONE_UNTAGGED, KEEP_THREE_V)
    out = eh.aws(own_server, own_server.admin, "put-lifecycle-policy", "--repository-name", repo,
                 "--lifecycle-policy-text", text)
    assert out == {"registryId": eh.ACCOUNT, "repositoryName": repo, "lifecyclePolicyText": text}
    out = eh.aws(own_server, own_server.admin, "get-lifecycle-policy", "--repository-name", repo)
    assert out["lifecyclePolicyText"] == text and out["repositoryName"] == repo
    assert "lastEvaluatedAt" not in out  # no lifecycle run has evaluated it
    # Replaced as a whole.
    text2 = policy(KEEP_THREE_V)
    eh.aws(own_server, own_server.admin, "put-lifecycle-policy", "--repository-name", repo,
           "--lifecycle-policy-text", text2)
    out = eh.aws(own_server, own_server.admin, "delete-lifecycle-policy", "--repository-name", repo)
    assert out["lifecyclePolicyText"] == text2
    for op in ("get-lifecycle-policy", "delete-lifecycle-policy"):
        res = eh.aws(own_server, own_server.admin, op, "--repository-name", repo, check=False)
        name = "".join(w.capitalize() for w in op.split("-"))
        eh.assert_cli_error(
            res, "LifecyclePolicyNotFoundException", name,
            message=f"Lifecycle policy does not exist for the repository with name '{repo}' "
                    f"in the registry with id '{eh.ACCOUNT}'")


def test_policy_goes_with_its_repository(own_server, own_ecr):
    repo = eh.unique("lc")
    own_ecr.create_repository(repositoryName=repo)
    own_ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy(KEEP_THREE_V))
    own_ecr.delete_repository(repositoryName=repo)
    with pytest.raises(ClientError) as e:
        own_ecr.get_lifecycle_policy(repositoryName=repo)
    eh.client_error(e.value, "RepositoryNotFoundException")
    own_ecr.create_repository(repositoryName=repo)
    with pytest.raises(ClientError) as e:
        own_ecr.get_lifecycle_policy(repositoryName=repo)
    eh.client_error(e.value, "LifecyclePolicyNotFoundException")


BAD_POLICIES = [
    ("not json at all, but long enough to pass the length check of the model: " + "x" * 40,
     "Could not map policyString into LifecyclePolicy."),
    (json.dumps({"rulez": [], "pad": "x" * 100}), "rules"),
    (policy(rule(0, {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                     "countNumber": 1})), "minimum: 1, found: 0"),
    (policy(rule(1, {"tagStatus": "bogus", "countType": "imageCountMoreThan",
                     "countNumber": 1})),
     'instance value (bogus) not found in enum :(possible values: ["any","tagged","untagged"])'),
    (policy(rule(1, {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                     "countNumber": 0})), "minimum: 1, found: 0"),
    (policy(rule(1, {"tagStatus": "tagged", "countType": "imageCountMoreThan",
                     "countNumber": 1, "padding": "x" * 40})), "not allowed by the schema"),
    # tagged without a prefix or pattern list; both lists at once
    (policy(rule(1, {"tagStatus": "tagged", "countType": "imageCountMoreThan",
                     "countNumber": 1})), None),
    (policy(rule(1, {"tagStatus": "tagged", "tagPrefixList": ["a"], "tagPatternList": ["b*"],
                     "countType": "imageCountMoreThan", "countNumber": 1})), None),
    # untagged with a prefix list
    (policy(rule(1, {"tagStatus": "untagged", "tagPrefixList": ["a"],
                     "countType": "imageCountMoreThan", "countNumber": 1})), None),
    # countUnit with imageCountMoreThan; sinceImagePushed without countUnit
    (policy(rule(1, {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                     "countUnit": "days", "countNumber": 1})), None),
    (policy(rule(1, {"tagStatus": "untagged", "countType": "sinceImagePushed",
                     "countNumber": 1})), None),
    # duplicate priorities; `any` not last
    (policy(rule(1, {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}),
            rule(1, {"tagStatus": "tagged", "tagPrefixList": ["v"],
                     "countType": "imageCountMoreThan", "countNumber": 1})), None),
    (policy(rule(1, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}),
            rule(2, {"tagStatus": "untagged", "countType": "imageCountMoreThan",
                     "countNumber": 1})), None),
    # sinceImagePulled may only transition
    (policy(rule(1, {"tagStatus": "untagged", "countType": "sinceImagePulled",
                     "countUnit": "days", "countNumber": 1})), None),
    # a pattern with five wildcards
    (policy(rule(1, {"tagStatus": "tagged", "tagPatternList": ["a*b*c*d*e*f"],
                     "countType": "imageCountMoreThan", "countNumber": 1})), None),
    (policy(), None),
]


@pytest.mark.parametrize("text,detail", BAD_POLICIES)
def test_invalid_policies_are_refused_with_aws_wording(own_server, own_raw, text, detail):
    repo = eh.unique("lc")
    own_raw.create_repository(repositoryName=repo)
    if len(text) < 100:
        text = text + " " * (100 - len(text))
    with pytest.raises(ClientError) as e:
        own_raw.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    msg = eh.client_error(e.value, "InvalidParameterException")
    assert msg.startswith(INVALID), msg
    assert msg.endswith("'"), msg
    if detail:
        assert detail in msg, msg
    with pytest.raises(ClientError) as e:
        own_raw.get_lifecycle_policy(repositoryName=repo)
    eh.client_error(e.value, "LifecyclePolicyNotFoundException")


def test_length_limits_and_missing_repository(own_server, own_raw):
    repo = eh.unique("lc")
    own_raw.create_repository(repositoryName=repo)
    for text in ("{}", "x" * 30_721):
        with pytest.raises(ClientError) as e:
            own_raw.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
        assert "lifecyclePolicyText" in eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_raw.put_lifecycle_policy(repositoryName=eh.unique("missing"),
                                 lifecyclePolicyText=policy(KEEP_THREE_V))
    eh.client_error(e.value, "RepositoryNotFoundException")


def test_preview_end_to_end(own_server, own_ecr):
    """Six v* images, one other tag, two untagged: the preview expires the oldest untagged
    image (rule 1) and the three oldest v* images (rule 2), and changes nothing."""
    repo = eh.unique("lc")
    imgs = {}
    for t in ("v1", "v2", "v3", "v4", "v5", "v6", "latest"):
        imgs[t] = push(own_server, repo, t)
    old, new = push(own_server, repo, "old-untagged"), push(own_server, repo, "new-untagged")
    untag(own_server, repo, "old-untagged")
    untag(own_server, repo, "new-untagged")
    before = own_ecr.list_images(repositoryName=repo)["imageIds"]

    res = eh.aws(own_server, own_server.admin, "get-lifecycle-policy-preview", "--repository-name",
                 repo, check=False)
    eh.assert_cli_error(res, "LifecyclePolicyPreviewNotFoundException", "GetLifecyclePolicyPreview")
    res = eh.aws(own_server, own_server.admin, "start-lifecycle-policy-preview", "--repository-name",
                 repo, check=False)
    eh.assert_cli_error(res, "LifecyclePolicyNotFoundException", "StartLifecyclePolicyPreview")

    text = policy(ONE_UNTAGGED, KEEP_THREE_V)
    out = eh.aws(own_server, own_server.admin, "start-lifecycle-policy-preview", "--repository-name",
                 repo, "--lifecycle-policy-text", text)
    assert out["lifecyclePolicyText"] == text and out["repositoryName"] == repo
    assert out["status"] == "COMPLETE"  # evaluated when started
    eh.aws(own_server, own_server.admin, "wait", "lifecycle-policy-preview-complete",
           "--repository-name", repo)
    out = eh.aws(own_server, own_server.admin, "get-lifecycle-policy-preview", "--repository-name", repo)
    assert out["status"] == "COMPLETE" and out["lifecyclePolicyText"] == text
    results = out["previewResults"]
    got = {(r["imageDigest"], r["appliedRulePriority"]) for r in results}
    want = {(old.digest, 1)} | {(imgs[t].digest, 2) for t in ("v1", "v2", "v3")}
    assert got == want, results
    for r in results:
        assert r["action"] == {"type": "EXPIRE"}
        # (Debian's CLI 2.9 predates storageClass and drops it; boto3 shows it below.)
        assert r.get("storageClass", "STANDARD") == "STANDARD"
        assert r["imagePushedAt"]  # the CLI prints timestamps as ISO 8601
    tags = {r["imageDigest"]: r.get("imageTags") for r in results}
    assert tags[imgs["v1"].digest] == ["v1"] and tags[old.digest] is None
    assert out["summary"]["expiringImageTotalCount"] == 4
    # A preview changes nothing, and the stored policy is not involved.
    assert sorted(map(json.dumps, own_ecr.list_images(repositoryName=repo)["imageIds"])) == \
        sorted(map(json.dumps, before))
    with pytest.raises(ClientError) as e:
        own_ecr.get_lifecycle_policy(repositoryName=repo)
    eh.client_error(e.value, "LifecyclePolicyNotFoundException")

    # Pages of one through the boto3 paginator; the summary counts every result.
    pages = list(own_ecr.get_paginator("get_lifecycle_policy_preview").paginate(
        repositoryName=repo, PaginationConfig={"PageSize": 1}))
    assert len(pages) == 4
    assert [p["previewResults"][0]["imageDigest"] for p in pages] == \
        [r["imageDigest"] for r in results]
    assert all(p["previewResults"][0]["storageClass"] == "STANDARD" for p in pages)
    assert all(p["summary"]["expiringImageTotalCount"] == 4 for p in pages)
    assert "nextToken" not in pages[-1]
    # Filters: tag status; image ids.
    r = own_ecr.get_lifecycle_policy_preview(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert [x["imageDigest"] for x in r["previewResults"]] == [old.digest]
    r = own_ecr.get_lifecycle_policy_preview(repositoryName=repo, filter={"tagStatus": "TAGGED"})
    assert len(r["previewResults"]) == 3
    r = own_ecr.get_lifecycle_policy_preview(
        repositoryName=repo, imageIds=[{"imageTag": "v2"}, {"imageDigest": new.digest}])
    assert [x["imageDigest"] for x in r["previewResults"]] == [imgs["v2"].digest]
    with pytest.raises(ClientError) as e:
        own_ecr.get_lifecycle_policy_preview(repositoryName=repo, imageIds=[{"imageTag": "v2"}],
                                         maxResults=5)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.get_lifecycle_policy_preview(repositoryName=repo, nextToken="garbage")
    eh.client_error(e.value, "InvalidParameterException")

    # Without text, the stored policy is previewed; a new preview replaces the old one.
    own_ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy(ONE_UNTAGGED))
    own_ecr.start_lifecycle_policy_preview(repositoryName=repo)
    own_ecr.get_waiter("lifecycle_policy_preview_complete").wait(
        repositoryName=repo, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    r = own_ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert [x["imageDigest"] for x in r["previewResults"]] == [old.digest]
    assert r["summary"]["expiringImageTotalCount"] == 1


def test_preview_never_expires_the_manifests_of_an_index(own_server, own_ecr):
    """Untagged children of a tagged index are not candidates of their own."""
    repo = eh.unique("lc")
    children = [push(own_server, repo, f"c{i}") for i in range(2)]
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": eh.OCI_MANIFEST, "digest": c.digest, "size": len(c.manifest)}
        for c in children]}).encode()
    r = eh.v2(own_server, "PUT", f"/v2/{repo}/manifests/multi", own_server.admin, data=index,
              headers={"Content-Type": INDEX})
    assert r.status_code == 201, r.text
    push(own_server, repo, "lone")
    for t in ("c0", "c1", "lone"):
        untag(own_server, repo, t)
    own_ecr.start_lifecycle_policy_preview(
        repositoryName=repo,
        lifecyclePolicyText=policy(rule(1, {"tagStatus": "untagged",
                                            "countType": "imageCountMoreThan",
                                            "countNumber": 1}),
                                   rule(2, {"tagStatus": "any",
                                            "countType": "imageCountMoreThan",
                                            "countNumber": 1})))
    r = own_ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert r["status"] == "COMPLETE"
    # The untagged images are `lone` (the newest image of all) and the index's two children.
    # Rule 1 keeps `lone` and would expire the children, and rule 2 keeps `lone` and expires
    # the older images, but the children go with their index and are expired by no rule: the
    # one image to expire is the index.
    got = [(x["imageDigest"], x.get("imageTags"), x["appliedRulePriority"], x["action"])
           for x in r["previewResults"]]
    assert got == [(eh.sha256(index), ["multi"], 2, {"type": "EXPIRE"})], r["previewResults"]
    assert r["summary"] == {"expiringImageTotalCount": 1}


def test_lifecycle_operations_are_authorized(own_server, own_ecr):
    repo = eh.unique("lc")
    own_ecr.create_repository(repositoryName=repo)
    p = eh.create_principal(own_server, [("get-only", eh.identity_policy(["ecr:GetLifecyclePolicy"]))])
    eh.wait_known(own_server, p.key)
    client = eh.boto_client(own_server, p.key)
    with pytest.raises(ClientError) as e:
        client.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=policy(KEEP_THREE_V))
    msg = eh.client_error(e.value, "AccessDeniedException")
    assert "ecr:PutLifecyclePolicy" in msg and eh.repo_arn(repo) in msg
    for call in (lambda: client.start_lifecycle_policy_preview(repositoryName=repo),
                 lambda: client.get_lifecycle_policy_preview(repositoryName=repo),
                 lambda: client.delete_lifecycle_policy(repositoryName=repo)):
        with pytest.raises(ClientError) as e:
            call()
        eh.client_error(e.value, "AccessDeniedException")
    with pytest.raises(ClientError) as e:
        client.get_lifecycle_policy(repositoryName=repo)
    eh.client_error(e.value, "LifecyclePolicyNotFoundException")


def test_last_recorded_pull_time(own_server, own_ecr):
    """A manifest GET and BatchGetImage record a pull, a HEAD does not; DescribeImages reports
    it once the batch it was noted in is written."""
    repo = eh.unique("lc")
    headed = push(own_server, repo, "v1")
    got = push(own_server, repo, "v2")
    r = eh.v2(own_server, "HEAD", f"/v2/{repo}/manifests/v1", own_server.admin,
              headers={"Accept": eh.OCI_MANIFEST})
    assert r.status_code == 200
    start = time.time()
    r = eh.get_manifest(own_server, own_server.admin, repo, "v2")
    assert r.status_code == 200

    def pulled(tag):
        d = own_ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"][0]
        assert "lastRecordedPullTime" in d, d
        return d
    d = eh.eventually(lambda: pulled("v2"), timeout=10)
    assert d["imageDigest"] == got.digest
    t = d["lastRecordedPullTime"].timestamp()
    assert start - 2 <= t <= time.time() + 1, (start, t)
    # A flush writes every pull noted before it, and the HEAD came before the GET: had the
    # HEAD been noted as a pull, v1 would show it now.
    d = own_ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}])["imageDetails"][0]
    assert "lastRecordedPullTime" not in d, d
    own_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}])
    assert eh.eventually(lambda: pulled("v1"), timeout=10)["imageDigest"] == headed.digest
