"""ECR image operations against a running Berth, with boto3 and the real `aws` CLI: ListImages,
DescribeImages, BatchGetImage, BatchDeleteImage, PutImage and BatchCheckLayerAvailability.

The two surfaces are one registry: images pushed through /v2 read back byte for byte through
BatchGetImage and DescribeImages, and images put with PutImage pull through /v2.

Self-contained: one module-scoped server.
Run: BERTH_BIN=$PWD/target/debug/berth python3 -m pytest -q -p no:cacheprovider \
     tests/ecr/test_images.py
"""
import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import ecrhelp as eh
from berth_server import BerthServer

INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


@pytest.fixture(scope="module")
def iserver():
    srv = BerthServer(env=eh.SHARED_ENV)
    try:
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def ecr(iserver):
    return eh.boto_client(iserver, iserver.admin)


def push(server, repo, tag="latest", img=None):
    return eh.push_image(server, server.admin, repo, tag=tag, img=img)


def push_blobs(server, repo, img):
    """Only the blobs of `img`, through /v2 (no manifest)."""
    for d, data in img.blobs():
        r = eh.v2(server, "POST", f"/v2/{repo}/blobs/uploads/", server.admin)
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else server.url + loc
        sep = "&" if "?" in loc else "?"
        r = eh.v2(server, "PUT", f"{loc}{sep}digest={d}", server.admin, data=data,
                  headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text


def put_v2(server, repo, ref, body, media_type=eh.OCI_MANIFEST):
    r = eh.v2(server, "PUT", f"/v2/{repo}/manifests/{ref}", server.admin, data=body,
              headers={"Content-Type": media_type})
    assert r.status_code == 201, r.text
    return r.headers["Docker-Content-Digest"]


def ids(resp):
    return sorted((i["imageDigest"], i.get("imageTag")) for i in resp["imageIds"])


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def index_of(*digests):
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [{"mediaType": eh.OCI_MANIFEST, "digest": d, "size": 100,
                       "platform": {"architecture": "amd64", "os": "linux"}} for d in digests],
    }).encode()


# ---- ListImages -----------------------------------------------------------------------------

def test_list_images_one_entry_per_tag_and_untagged_by_digest(iserver, ecr):
    repo = eh.unique("li")
    a = push(iserver, repo, "t1")
    put_v2(iserver, repo, "t2", a.manifest)
    b = push(iserver, repo, "x")
    c = push(iserver, repo, "x")  # moves x: b is left untagged
    everything = ecr.list_images(repositoryName=repo)
    assert "nextToken" not in everything
    assert ids(everything) == sorted([(a.digest, "t1"), (a.digest, "t2"), (c.digest, "x"),
                                      (b.digest, None)])
    tagged = ecr.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
    assert ids(tagged) == sorted([(a.digest, "t1"), (a.digest, "t2"), (c.digest, "x")])
    untagged = ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert untagged["imageIds"] == [{"imageDigest": b.digest}]
    out = eh.aws(iserver, iserver.admin, "list-images", "--repository-name", repo,
                 "--filter", "tagStatus=UNTAGGED")
    assert out["imageIds"] == [{"imageDigest": b.digest}]


def test_list_images_pages(iserver, ecr):
    repo = eh.unique("lp")
    want = []
    for i in range(4):
        img = push(iserver, repo, f"v{i}")
        put_v2(iserver, repo, f"w{i}", img.manifest)
        want += [(img.digest, f"v{i}"), (img.digest, f"w{i}")]
    extra = push(iserver, repo, "gone")
    eh.v2(iserver, "DELETE", f"/v2/{repo}/manifests/gone", iserver.admin)
    want.append((extra.digest, None))
    seen, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        r = ecr.list_images(repositoryName=repo, maxResults=3, **kw)
        assert len(r["imageIds"]) <= 3
        seen += [(i["imageDigest"], i.get("imageTag")) for i in r["imageIds"]]
        pages += 1
        token = r.get("nextToken")
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == sorted(want) and len(seen) == len(set(seen))
    pager = ecr.get_paginator("list_images")
    flat = [i for p in pager.paginate(repositoryName=repo, PaginationConfig={"PageSize": 2})
            for i in p["imageIds"]]
    assert len(flat) == 9
    out = eh.aws(iserver, iserver.admin, "list-images", "--repository-name", repo,
                 "--page-size", "2")
    assert sorted((i["imageDigest"], i.get("imageTag")) for i in out["imageIds"]) == sorted(want)


def test_list_images_errors(iserver, ecr):
    repo = eh.unique("le")
    push(iserver, repo)
    with pytest.raises(ClientError) as e:
        ecr.list_images(repositoryName=repo, nextToken="garbage")
    assert "nextToken" in eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.list_images(repositoryName=repo, maxResults=1001)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.list_images(repositoryName=repo, filter={"tagStatus": "SOME"})
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.list_images(repositoryName=eh.unique("missing"))
    eh.client_error(e.value, "RepositoryNotFoundException")
    out = eh.aws(iserver, iserver.admin, "list-images", "--repository-name",
                 eh.unique("missing"), check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "ListImages")


# ---- BatchGetImage --------------------------------------------------------------------------

def test_batch_get_image_reads_v2_pushes_byte_for_byte(iserver, ecr):
    repo = eh.unique("bg")
    img = push(iserver, repo, "v1")
    r = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"},
                                                           {"imageDigest": img.digest}])
    assert r["failures"] == []
    assert len(r["images"]) == 2
    for got in r["images"]:
        assert got["imageManifest"].encode() == img.manifest
        assert got["imageManifestMediaType"] == eh.OCI_MANIFEST
        assert got["imageId"]["imageDigest"] == img.digest
        assert got["repositoryName"] == repo and got["registryId"] == eh.ACCOUNT
    assert r["images"][0]["imageId"]["imageTag"] == "v1"
    ok = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}],
                             acceptedMediaTypes=[eh.OCI_MANIFEST, DOCKER_MANIFEST])
    assert len(ok["images"]) == 1
    out = eh.aws(iserver, iserver.admin, "batch-get-image", "--repository-name", repo,
                 "--image-ids", "imageTag=v1")
    assert out["images"][0]["imageManifest"].encode() == img.manifest


def test_batch_get_image_failures(iserver, ecr):
    repo = eh.unique("bf")
    img = push(iserver, repo, "v1")
    other = eh.sha256(b"other")
    r = ecr.batch_get_image(repositoryName=repo, imageIds=[
        {"imageTag": "nope"},
        {"imageDigest": other},
        {"imageDigest": "sha256:xyz"},
        {"imageTag": "v1", "imageDigest": other},
        {},
    ])
    assert r["images"] == []
    codes = [(f["imageId"], f["failureCode"]) for f in r["failures"]]
    assert codes == [
        ({"imageTag": "nope"}, "ImageNotFound"),
        ({"imageDigest": other}, "ImageNotFound"),
        ({"imageDigest": "sha256:xyz"}, "InvalidImageDigest"),
        ({"imageTag": "v1", "imageDigest": other}, "ImageTagDoesNotMatchDigest"),
        ({}, "MissingDigestAndTag"),
    ]
    assert all(f["failureReason"] for f in r["failures"])
    # No conversion between formats: a manifest of an unaccepted type is a failure.
    r = ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageDigest": img.digest}],
                            acceptedMediaTypes=[DOCKER_MANIFEST])
    assert r["images"] == [] and r["failures"][0]["failureCode"] == "ImageNotFound"
    with pytest.raises(ClientError) as e:
        ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": f"t{i}"} for i in range(101)])
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.batch_get_image(repositoryName=eh.unique("missing"), imageIds=[{"imageTag": "x"}])
    eh.client_error(e.value, "RepositoryNotFoundException")


# ---- DescribeImages -------------------------------------------------------------------------

def test_describe_images_of_a_v2_push(iserver, ecr):
    repo = eh.unique("di")
    before = time.time()
    img = push(iserver, repo, "b")
    put_v2(iserver, repo, "a", img.manifest)
    d = ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert len(d) == 1
    d = d[0]
    assert d["imageDigest"] == img.digest
    assert d["imageTags"] == ["a", "b"]
    assert d["imageSizeInBytes"] == len(img.config) + len(img.layer)
    assert d["imageManifestMediaType"] == eh.OCI_MANIFEST
    assert d["artifactMediaType"] == eh.OCI_CONFIG
    assert d["registryId"] == eh.ACCOUNT and d["repositoryName"] == repo
    assert before - 5 <= d["imagePushedAt"].timestamp() <= time.time() + 5
    by_id = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "a"},
                                                               {"imageDigest": img.digest}])
    assert [x["imageDigest"] for x in by_id["imageDetails"]] == [img.digest]
    out = eh.aws(iserver, iserver.admin, "describe-images", "--repository-name", repo,
                 "--image-ids", "imageTag=b")
    assert out["imageDetails"][0]["imageTags"] == ["a", "b"]
    assert isinstance(out["imageDetails"][0]["imageSizeInBytes"], int)


def test_describe_images_pages_and_filters(iserver, ecr):
    repo = eh.unique("dp")
    digests = set()
    for i in range(5):
        digests.add(push(iserver, repo, "moving").digest)
    seen, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        r = ecr.describe_images(repositoryName=repo, maxResults=2, **kw)
        seen += [x["imageDigest"] for x in r["imageDetails"]]
        pages += 1
        token = r.get("nextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(digests)
    tagged = ecr.describe_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
    assert len(tagged["imageDetails"]) == 1
    assert tagged["imageDetails"][0]["imageTags"] == ["moving"]
    untagged = ecr.describe_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert len(untagged["imageDetails"]) == 4
    assert all("imageTags" not in x for x in untagged["imageDetails"])
    out = eh.aws(iserver, iserver.admin, "describe-images", "--repository-name", repo,
                 "--page-size", "2")
    assert sorted(x["imageDigest"] for x in out["imageDetails"]) == sorted(digests)


def test_describe_images_errors(iserver, ecr):
    repo = eh.unique("de")
    push(iserver, repo, "v1")
    with pytest.raises(ClientError) as e:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "nope"}])
    assert "nope" in eh.client_error(e.value, "ImageNotFoundException")
    with pytest.raises(ClientError) as e:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}], maxResults=5)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.describe_images(repositoryName=repo, nextToken="Zm9v")
    eh.client_error(e.value, "InvalidParameterException")
    out = eh.aws(iserver, iserver.admin, "describe-images", "--repository-name", repo,
                 "--image-ids", "imageTag=nope", check=False)
    eh.assert_cli_error(out, "ImageNotFoundException", "DescribeImages")


# ---- PutImage -------------------------------------------------------------------------------

def test_put_image_pulls_through_v2(iserver, ecr):
    repo = eh.unique("pi")
    ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    push_blobs(iserver, repo, img)
    manifest = img.manifest.decode()
    r = ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    got = r["image"]
    assert got["imageId"] == {"imageDigest": img.digest, "imageTag": "v1"}
    assert got["imageManifest"] == manifest
    assert got["imageManifestMediaType"] == eh.OCI_MANIFEST
    pulled = eh.get_manifest(iserver, iserver.admin, repo, "v1")
    assert pulled.status_code == 200
    assert pulled.content == img.manifest
    assert pulled.headers["Docker-Content-Digest"] == img.digest
    # The same manifest and tag again changes nothing.
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    eh.client_error(e.value, "ImageAlreadyExistsException")
    # Retagging: the same manifest under a second tag, with its digest checked.
    ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v2",
                  imageDigest=img.digest)
    assert eh.get_manifest(iserver, iserver.admin, repo, "v2").content == img.manifest
    out = eh.aws(iserver, iserver.admin, "put-image", "--repository-name", repo,
                 "--image-manifest", manifest, "--image-tag", "v3")
    assert out["image"]["imageId"]["imageDigest"] == img.digest
    tags = sorted(i.get("imageTag") for i in ecr.list_images(repositoryName=repo)["imageIds"])
    assert tags == ["v1", "v2", "v3"]


def test_put_image_untagged_and_media_type_parameter(iserver, ecr):
    repo = eh.unique("pu")
    ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    push_blobs(iserver, repo, img)
    body = json.loads(img.manifest)
    del body["mediaType"]
    text = json.dumps(body)
    digest = eh.sha256(text.encode())
    r = ecr.put_image(repositoryName=repo, imageManifest=text,
                      imageManifestMediaType=eh.OCI_MANIFEST)
    assert r["image"]["imageId"] == {"imageDigest": digest}
    assert ecr.list_images(repositoryName=repo)["imageIds"] == [{"imageDigest": digest}]
    pulled = eh.get_manifest(iserver, iserver.admin, repo, digest)
    assert pulled.content == text.encode()
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=text,
                      imageManifestMediaType=eh.OCI_MANIFEST)
    eh.client_error(e.value, "ImageAlreadyExistsException")


def test_put_image_errors(iserver, ecr):
    repo = eh.unique("pe")
    ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    manifest = img.manifest.decode()
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    assert eh.sha256(img.config) in eh.client_error(e.value, "LayersNotFoundException")
    push_blobs(iserver, repo, img)
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1",
                      imageDigest=eh.sha256(b"something else"))
    eh.client_error(e.value, "ImageDigestDoesNotMatchException")
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest="{not json", imageTag="v1")
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="x" * 301)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=index_of(eh.sha256(b"absent")).decode(),
                      imageTag="idx")
    eh.client_error(e.value, "ReferencedImagesNotFoundException")
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=eh.unique("missing"), imageManifest=manifest)
    eh.client_error(e.value, "RepositoryNotFoundException")
    out = eh.aws(iserver, iserver.admin, "put-image", "--repository-name", repo,
                 "--image-manifest", manifest, "--image-tag", "v1",
                 "--image-digest", eh.sha256(b"nope"), check=False)
    eh.assert_cli_error(out, "ImageDigestDoesNotMatchException", "PutImage")


def test_put_image_layers_not_found(iserver, ecr):
    repo = eh.unique("pl")
    ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=img.manifest.decode(), imageTag="v1")
    eh.client_error(e.value, "LayersNotFoundException")
    assert ecr.list_images(repositoryName=repo)["imageIds"] == []


def test_put_image_respects_immutable_tags(iserver, ecr):
    repo = eh.unique("pm")
    ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    a, b = eh.Image(), eh.Image()
    push_blobs(iserver, repo, a)
    push_blobs(iserver, repo, b)
    ecr.put_image(repositoryName=repo, imageManifest=a.manifest.decode(), imageTag="v1")
    with pytest.raises(ClientError) as e:
        ecr.put_image(repositoryName=repo, imageManifest=b.manifest.decode(), imageTag="v1")
    assert "v1" in eh.client_error(e.value, "ImageTagAlreadyExistsException")
    assert eh.get_manifest(iserver, iserver.admin, repo, "v1").content == a.manifest


def test_put_image_index_after_its_children(iserver, ecr):
    repo = eh.unique("px")
    child = push(iserver, repo, "child")
    idx = index_of(child.digest).decode()
    r = ecr.put_image(repositoryName=repo, imageManifest=idx, imageTag="multi")
    assert r["image"]["imageManifestMediaType"] == INDEX
    pulled = eh.v2(iserver, "GET", f"/v2/{repo}/manifests/multi", iserver.admin,
                   headers={"Accept": INDEX})
    assert pulled.content == idx.encode()
    assert pulled.headers["Docker-Content-Digest"] == eh.sha256(idx.encode())
    # A manifest an index needs cannot be deleted by digest.
    r = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": child.digest}])
    assert r["imageIds"] == []
    assert r["failures"][0]["failureCode"] == "ImageReferencedByManifestList"


# ---- BatchDeleteImage -----------------------------------------------------------------------

def test_batch_delete_image(iserver, ecr):
    repo = eh.unique("bd")
    a = push(iserver, repo, "a1")
    put_v2(iserver, repo, "a2", a.manifest)
    b = push(iserver, repo, "b1")
    put_v2(iserver, repo, "b2", b.manifest)
    # By tag: only the tag goes while others remain.
    r = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "a1"}])
    assert r == {**r, "imageIds": [{"imageDigest": a.digest, "imageTag": "a1"}], "failures": []}
    assert eh.get_manifest(iserver, iserver.admin, repo, a.digest).status_code == 200
    assert eh.get_manifest(iserver, iserver.admin, repo, "a1").status_code == 404
    # Removing the last tag removes the image.
    r = ecr.batch_delete_image(repositoryName=repo,
                               imageIds=[{"imageTag": "a2", "imageDigest": a.digest}])
    assert r["imageIds"] == [{"imageDigest": a.digest, "imageTag": "a2"}]
    assert eh.get_manifest(iserver, iserver.admin, repo, a.digest).status_code == 404
    # By digest: the image and every tag on it.
    r = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": b.digest}])
    assert ids(r) == [(b.digest, "b1"), (b.digest, "b2")]
    assert eh.get_manifest(iserver, iserver.admin, repo, "b2").status_code == 404
    assert ecr.list_images(repositoryName=repo)["imageIds"] == []
    r = ecr.batch_delete_image(repositoryName=repo, imageIds=[
        {"imageDigest": b.digest}, {"imageTag": "zzz"}, {"imageDigest": "bogus"}, {}])
    assert r["imageIds"] == []
    assert [f["failureCode"] for f in r["failures"]] == [
        "ImageNotFound", "ImageNotFound", "InvalidImageDigest", "MissingDigestAndTag"]


def test_batch_delete_image_with_the_cli(iserver, ecr):
    repo = eh.unique("bc")
    a = push(iserver, repo, "v1")
    out = eh.aws(iserver, iserver.admin, "batch-delete-image", "--repository-name", repo,
                 "--image-ids", "imageTag=v1", "imageTag=v9")
    assert out["imageIds"] == [{"imageDigest": a.digest, "imageTag": "v1"}]
    assert out["failures"][0]["failureCode"] == "ImageNotFound"
    out = eh.aws(iserver, iserver.admin, "batch-delete-image", "--repository-name",
                 eh.unique("missing"), "--image-ids", "imageTag=v1", check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "BatchDeleteImage")


# ---- BatchCheckLayerAvailability -------------------------------------------------------------

def test_batch_check_layer_availability(iserver, ecr):
    repo = eh.unique("bl")
    img = push(iserver, repo)
    config = eh.sha256(img.config)
    missing = eh.sha256(b"missing")
    r = ecr.batch_check_layer_availability(repositoryName=repo,
                                           layerDigests=[config, missing, "not-a-digest"])
    assert r["layers"] == [{"layerDigest": config, "layerAvailability": "AVAILABLE",
                            "layerSize": len(img.config)}]
    assert [(f["layerDigest"], f["failureCode"]) for f in r["failures"]] == [
        (missing, "MissingLayerDigest"), ("not-a-digest", "InvalidLayerDigest")]
    # Blobs are per repository.
    other = eh.unique("bl")
    push(iserver, other)
    r = ecr.batch_check_layer_availability(repositoryName=other, layerDigests=[config])
    assert r["layers"] == [] and r["failures"][0]["failureCode"] == "MissingLayerDigest"
    out = eh.aws(iserver, iserver.admin, "batch-check-layer-availability", "--repository-name",
                 repo, "--layer-digests", eh.sha256(img.layer))
    assert out["layers"][0]["layerSize"] == len(img.layer)


# ---- authorization --------------------------------------------------------------------------

def test_image_operations_are_authorized_before_existence_is_revealed(iserver, ecr):
    repo = eh.unique("az")
    push(iserver, repo, "v1")
    p = eh.create_principal(iserver, [("list-only", eh.identity_policy(["ecr:ListImages"]))])
    eh.wait_known(iserver, p.key)
    client = eh.boto_client(iserver, p.key)

    def listed():
        return client.list_images(repositoryName=repo)
    r = eh.eventually(listed)
    assert [i["imageTag"] for i in r["imageIds"]] == ["v1"]
    for call in (
        lambda: client.describe_images(repositoryName=repo),
        lambda: client.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}]),
        lambda: client.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}]),
        lambda: client.describe_images(repositoryName=eh.unique("missing")),
    ):
        with pytest.raises(ClientError) as e:
            call()
        eh.client_error(e.value, "AccessDeniedException")
    assert ecr.list_images(repositoryName=repo)["imageIds"][0]["imageTag"] == "v1"


# ---- layer uploads ---------------------------------------------------------------------------

def upload_layer(ecr, repo, data, part=None):
    """InitiateLayerUpload, UploadLayerPart (in parts of `part` bytes), CompleteLayerUpload."""
    up = ecr.initiate_layer_upload(repositoryName=repo)
    assert up["partSize"] > 0
    part = part or len(data)
    for start in range(0, len(data), part):
        chunk = data[start:start + part]
        r = ecr.upload_layer_part(repositoryName=repo, uploadId=up["uploadId"],
                                  partFirstByte=start, partLastByte=start + len(chunk) - 1,
                                  layerPartBlob=chunk)
        assert r["lastByteReceived"] == start + len(chunk) - 1
    r = ecr.complete_layer_upload(repositoryName=repo, uploadId=up["uploadId"],
                                  layerDigests=[eh.sha256(data)])
    assert r["layerDigest"] == eh.sha256(data) and r["uploadId"] == up["uploadId"]
    return r


def test_layer_upload_then_put_image_pulls_through_v2(iserver, ecr):
    repo = eh.unique("lu")
    ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    upload_layer(ecr, repo, img.config)
    upload_layer(ecr, repo, img.layer, part=700)
    r = ecr.batch_check_layer_availability(repositoryName=repo,
                                           layerDigests=[d for d, _ in img.blobs()])
    assert [x["layerAvailability"] for x in r["layers"]] == ["AVAILABLE", "AVAILABLE"]
    blob = eh.v2(iserver, "GET", f"/v2/{repo}/blobs/{eh.sha256(img.layer)}", iserver.admin)
    if blob.status_code in (302, 307):
        blob = eh.v2(iserver, "GET", blob.headers["Location"], None)
    assert blob.status_code == 200 and blob.content == img.layer
    ecr.put_image(repositoryName=repo, imageManifest=img.manifest.decode(), imageTag="api")
    pulled = eh.get_manifest(iserver, iserver.admin, repo, "api")
    assert pulled.content == img.manifest
    assert pulled.headers["Docker-Content-Digest"] == img.digest


def test_layer_upload_errors(iserver, ecr):
    repo = eh.unique("lx")
    other = eh.unique("lx")
    ecr.create_repository(repositoryName=repo)
    ecr.create_repository(repositoryName=other)
    up = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    # Completing with no parts.
    with pytest.raises(ClientError) as e:
        ecr.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=[eh.sha256(b"x")])
    eh.client_error(e.value, "EmptyUploadException")
    ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=0, partLastByte=4,
                          layerPartBlob=b"hello")
    # A part that does not continue where the upload ends.
    with pytest.raises(ClientError) as e:
        ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=7,
                              partLastByte=8, layerPartBlob=b"xx")
    eh.client_error(e.value, "InvalidLayerPartException")
    assert e.value.response["lastValidByteReceived"] == 4
    # A part whose size disagrees with its byte range.
    with pytest.raises(ClientError) as e:
        ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=5,
                              partLastByte=9, layerPartBlob=b"xx")
    eh.client_error(e.value, "InvalidLayerPartException")
    # Uploads belong to their repository.
    with pytest.raises(ClientError) as e:
        ecr.upload_layer_part(repositoryName=other, uploadId=up, partFirstByte=5,
                              partLastByte=6, layerPartBlob=b"xx")
    eh.client_error(e.value, "UploadNotFoundException")
    with pytest.raises(ClientError) as e:
        ecr.complete_layer_upload(repositoryName=repo, uploadId=str(uuid.uuid4()),
                                  layerDigests=[eh.sha256(b"hello")])
    eh.client_error(e.value, "UploadNotFoundException")
    with pytest.raises(ClientError) as e:
        ecr.complete_layer_upload(repositoryName=repo, uploadId="not-an-upload-id",
                                  layerDigests=[eh.sha256(b"hello")])
    eh.client_error(e.value, "InvalidParameterException")
    # The wrong digest.
    with pytest.raises(ClientError) as e:
        ecr.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=[eh.sha256(b"other")])
    eh.client_error(e.value, "InvalidLayerException")
    # A layer the repository already holds.
    upload_layer(ecr, repo, b"hello")
    up = ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=0, partLastByte=4,
                          layerPartBlob=b"hello")
    with pytest.raises(ClientError) as e:
        ecr.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=[eh.sha256(b"hello")])
    eh.client_error(e.value, "LayerAlreadyExistsException")


def test_layer_upload_with_the_cli(iserver, ecr, tmp_path):
    repo = eh.unique("lc")
    ecr.create_repository(repositoryName=repo)
    data = b"hello-layer"
    blob = tmp_path / "part"
    blob.write_bytes(data)
    up = eh.aws(iserver, iserver.admin, "initiate-layer-upload", "--repository-name", repo)
    out = eh.aws(iserver, iserver.admin, "upload-layer-part", "--repository-name", repo,
                 "--upload-id", up["uploadId"], "--part-first-byte", "0",
                 "--part-last-byte", str(len(data) - 1), "--layer-part-blob", f"fileb://{blob}")
    assert out["lastByteReceived"] == len(data) - 1
    out = eh.aws(iserver, iserver.admin, "complete-layer-upload", "--repository-name", repo,
                 "--upload-id", up["uploadId"], "--layer-digests", eh.sha256(data))
    assert out["layerDigest"] == eh.sha256(data)
    out = eh.aws(iserver, iserver.admin, "complete-layer-upload", "--repository-name", repo,
                 "--upload-id", up["uploadId"], "--layer-digests", eh.sha256(data), check=False)
    eh.assert_cli_error(out, "UploadNotFoundException", "CompleteLayerUpload")


# ---- GetDownloadUrlForLayer ------------------------------------------------------------------

def test_download_url_is_fetched_with_a_bare_get(iserver, ecr):
    repo = eh.unique("dl")
    img = push(iserver, repo, "v1")
    out = eh.aws(iserver, iserver.admin, "get-download-url-for-layer", "--repository-name", repo,
                 "--layer-digest", img.layer_digest)
    assert out["layerDigest"] == img.layer_digest
    url = out["downloadUrl"]
    assert url.startswith(iserver.url + "/"), url
    # No credentials at all.
    r = eh.v2(iserver, "GET", url, eh.ANON)
    assert r.status_code == 200, r.text
    assert r.content == img.layer and eh.sha256(r.content) == img.layer_digest
    assert r.headers.get("Docker-Content-Digest") == img.layer_digest
    r = eh.v2(iserver, "GET", url, eh.ANON, headers={"Range": "bytes=5-14"})
    assert r.status_code == 206 and r.content == img.layer[5:15]
    assert r.headers["Content-Range"] == f"bytes 5-14/{len(img.layer)}"
    assert eh.v2(iserver, "HEAD", url, eh.ANON).status_code == 200
    # The config blob too; boto3 gives the same kind of URL.
    cfg = ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=img.config_digest)
    assert eh.v2(iserver, "GET", cfg["downloadUrl"], eh.ANON).content == img.config
    # A URL is for its one blob: tampering with the token breaks the signature.
    token = url.rsplit("/", 1)[1]
    header, claims, sig = token.split(".")
    tampered = f"{iserver.url}/download/{header}.{claims}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    r = eh.v2(iserver, "GET", tampered, eh.ANON)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED", r.text
    assert eh.v2(iserver, "GET", f"{iserver.url}/download/garbage", eh.ANON).status_code == 403


def test_download_url_errors_and_revocation(iserver, ecr):
    repo = eh.unique("dl")
    img = push(iserver, repo, "v1")
    for digest in (eh.sha256(b"never pushed"), img.digest):  # a manifest is not a layer
        with pytest.raises(ClientError) as e:
            ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
        assert digest in eh.client_error(e.value, "LayersNotFoundException")
    raw = eh.boto_client(iserver, iserver.admin, validate=False)
    with pytest.raises(ClientError) as e:
        raw.get_download_url_for_layer(repositoryName=repo, layerDigest="sha256:xyz")
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.get_download_url_for_layer(repositoryName=eh.unique("missing"),
                                       layerDigest=img.layer_digest)
    eh.client_error(e.value, "RepositoryNotFoundException")

    # A URL stands for the principal who asked for it: disabling its key ends it.
    p = eh.create_principal(iserver, [("pull", eh.identity_policy(
        ["ecr:GetDownloadUrlForLayer"]))])
    eh.wait_known(iserver, p.key)
    client = eh.boto_client(iserver, p.key)
    url = eh.eventually(lambda: client.get_download_url_for_layer(
        repositoryName=repo, layerDigest=img.layer_digest))["downloadUrl"]
    assert eh.v2(iserver, "GET", url, eh.ANON).content == img.layer
    iserver.cli("key", "disable", p.key[0])

    def refused():
        r = eh.v2(iserver, "GET", url, eh.ANON)
        assert r.status_code == 403, r.status_code
    eh.eventually(refused)


# ---- ListImageReferrers ----------------------------------------------------------------------

def referrer(subject, artifact_type, n):
    cfg = b"{}"
    return json.dumps({
        "schemaVersion": 2, "mediaType": eh.OCI_MANIFEST, "artifactType": artifact_type,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": eh.sha256(cfg),
                   "size": len(cfg)},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": eh.sha256(cfg),
                    "size": len(cfg)}],
        "subject": {"mediaType": eh.OCI_MANIFEST, "digest": subject.digest,
                    "size": len(subject.manifest)},
        "annotations": {"n": str(n)},
    }).encode()


def test_list_image_referrers(iserver, ecr):
    repo = eh.unique("ref")
    img = push(iserver, repo, "v1")
    empty = b"{}"
    r = eh.v2(iserver, "POST", f"/v2/{repo}/blobs/uploads/?digest={eh.sha256(empty)}",
              iserver.admin, data=empty, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    made = {}
    for n, kind in enumerate(["application/x.sig", "application/x.sig", "application/x.sbom"]):
        body = referrer(img, kind, n)
        put_v2(iserver, repo, eh.sha256(body), body)
        made[eh.sha256(body)] = (kind, n, len(body))

    r = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest})
    got = {x["digest"]: x for x in r["referrers"]}
    assert set(got) == set(made) and "nextToken" not in r
    for d, (kind, n, size) in made.items():
        assert got[d]["artifactType"] == kind and got[d]["size"] == size
        assert got[d]["mediaType"] == eh.OCI_MANIFEST and got[d]["artifactStatus"] == "ACTIVE"
        assert got[d]["annotations"] == {"n": str(n)}
    r = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                 filter={"artifactTypes": ["application/x.sbom"]})
    assert [x["artifactType"] for x in r["referrers"]] == ["application/x.sbom"]
    r = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                 filter={"artifactStatus": "ARCHIVED"})
    assert r["referrers"] == []
    # Pages of two, then one.
    p1 = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                  maxResults=2)
    p2 = ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                  maxResults=2, nextToken=p1["nextToken"])
    assert len(p1["referrers"]) == 2 and len(p2["referrers"]) == 1 and "nextToken" not in p2
    assert {x["digest"] for x in p1["referrers"] + p2["referrers"]} == set(made)
    # An unknown subject has none.
    r = ecr.list_image_referrers(repositoryName=repo,
                                 subjectId={"imageDigest": eh.sha256(b"nothing")})
    assert r["referrers"] == []

    raw = eh.boto_client(iserver, iserver.admin, validate=False)
    for kw in ({"subjectId": {"imageDigest": "nope"}},
               {"subjectId": {"imageDigest": img.digest}, "maxResults": 51},
               {"subjectId": {"imageDigest": img.digest}, "nextToken": "garbage"},
               {"subjectId": {"imageDigest": img.digest},
                "filter": {"artifactTypes": ["a"] * 6}},
               {"subjectId": {"imageDigest": img.digest}, "filter": {"artifactStatus": "GONE"}}):
        with pytest.raises(ClientError) as e:
            raw.list_image_referrers(repositoryName=repo, **kw)
        eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        ecr.list_image_referrers(repositoryName=eh.unique("missing"),
                                 subjectId={"imageDigest": img.digest})
    eh.client_error(e.value, "RepositoryNotFoundException")
