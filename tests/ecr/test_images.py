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
from v2client import client
from berth_server import BerthServer

INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def push(server, repo, tag="latest", img=None):
    return eh.push_image(server, server.admin, repo, tag=tag, img=img)


def push_blobs(server, repo, img):
    """Only the blobs of `img`, through /v2 (no manifest)."""
    client(server).push_blobs(repo, img)


def put_v2(server, repo, ref, body, media_type=eh.OCI_MANIFEST):
    return client(server).push_manifest(repo, ref, body, media_type)


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

def test_list_images_one_entry_per_tag_and_untagged_by_digest(own_server, own_ecr):
    repo = eh.unique("li")
    a = push(own_server, repo, "t1")
    put_v2(own_server, repo, "t2", a.manifest)
    b = push(own_server, repo, "x")
    c = push(own_server, repo, "x")  # moves x: b is left untagged
    everything = own_ecr.list_images(repositoryName=repo)
    assert "nextToken" not in everything
    assert ids(everything) == sorted([(a.digest, "t1"), (a.digest, "t2"), (c.digest, "x"),
                                      (b.digest, None)])
    tagged = own_ecr.list_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
    assert ids(tagged) == sorted([(a.digest, "t1"), (a.digest, "t2"), (c.digest, "x")])
    untagged = own_ecr.list_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert untagged["imageIds"] == [{"imageDigest": b.digest}]
    out = eh.aws(own_server, own_server.admin, "list-images", "--repository-name", repo,
                 "--filter", "tagStatus=UNTAGGED")
    assert out["imageIds"] == [{"imageDigest": b.digest}]


def test_list_images_pages(own_server, own_ecr):
    repo = eh.unique("lp")
    want = []
    for i in range(4):
        img = push(own_server, repo, f"v{i}")
        put_v2(own_server, repo, f"w{i}", img.manifest)
        want += [(img.digest, f"v{i}"), (img.digest, f"w{i}")]
    extra = push(own_server, repo, "gone")
    eh.v2(own_server, "DELETE", f"/v2/{repo}/manifests/gone", own_server.admin)
    want.append((extra.digest, None))
    seen, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        r = own_ecr.list_images(repositoryName=repo, maxResults=3, **kw)
        assert len(r["imageIds"]) <= 3
        seen += [(i["imageDigest"], i.get("imageTag")) for i in r["imageIds"]]
        pages += 1
        token = r.get("nextToken")
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == sorted(want) and len(seen) == len(set(seen))
    pager = own_ecr.get_paginator("list_images")
    flat = [i for p in pager.paginate(repositoryName=repo, PaginationConfig={"PageSize": 2})
            for i in p["imageIds"]]
    assert len(flat) == 9
    out = eh.aws(own_server, own_server.admin, "list-images", "--repository-name", repo,
                 "--page-size", "2")
    assert sorted((i["imageDigest"], i.get("imageTag")) for i in out["imageIds"]) == sorted(want)


def test_list_images_errors(own_server, own_ecr):
    repo = eh.unique("le")
    push(own_server, repo)
    with pytest.raises(ClientError) as e:
        own_ecr.list_images(repositoryName=repo, nextToken="garbage")
    assert "nextToken" in eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.list_images(repositoryName=repo, maxResults=1001)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.list_images(repositoryName=repo, filter={"tagStatus": "SOME"})
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.list_images(repositoryName=eh.unique("missing"))
    eh.client_error(e.value, "RepositoryNotFoundException")
    out = eh.aws(own_server, own_server.admin, "list-images", "--repository-name",
                 eh.unique("missing"), check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "ListImages")


# ---- BatchGetImage --------------------------------------------------------------------------

def test_batch_get_image_reads_v2_pushes_byte_for_byte(own_server, own_ecr):
    repo = eh.unique("bg")
    img = push(own_server, repo, "v1")
    r = own_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"},
                                                           {"imageDigest": img.digest}])
    assert r["failures"] == []
    assert len(r["images"]) == 2
    for got in r["images"]:
        assert got["imageManifest"].encode() == img.manifest
        assert got["imageManifestMediaType"] == eh.OCI_MANIFEST
        assert got["imageId"]["imageDigest"] == img.digest
        assert got["repositoryName"] == repo and got["registryId"] == eh.ACCOUNT
    assert r["images"][0]["imageId"]["imageTag"] == "v1"
    ok = own_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": "v1"}],
                             acceptedMediaTypes=[eh.OCI_MANIFEST, DOCKER_MANIFEST])
    assert len(ok["images"]) == 1
    out = eh.aws(own_server, own_server.admin, "batch-get-image", "--repository-name", repo,
                 "--image-ids", "imageTag=v1")
    assert out["images"][0]["imageManifest"].encode() == img.manifest


def test_batch_get_image_failures(own_server, own_ecr):
    repo = eh.unique("bf")
    img = push(own_server, repo, "v1")
    other = eh.sha256(b"other")
    r = own_ecr.batch_get_image(repositoryName=repo, imageIds=[
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
    r = own_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageDigest": img.digest}],
                            acceptedMediaTypes=[DOCKER_MANIFEST])
    assert r["images"] == [] and r["failures"][0]["failureCode"] == "ImageNotFound"
    with pytest.raises(ClientError) as e:
        own_ecr.batch_get_image(repositoryName=repo, imageIds=[{"imageTag": f"t{i}"} for i in range(101)])
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.batch_get_image(repositoryName=eh.unique("missing"), imageIds=[{"imageTag": "x"}])
    eh.client_error(e.value, "RepositoryNotFoundException")


# ---- DescribeImages -------------------------------------------------------------------------

def test_describe_images_of_a_v2_push(own_server, own_ecr):
    repo = eh.unique("di")
    before = time.time()
    img = push(own_server, repo, "b")
    put_v2(own_server, repo, "a", img.manifest)
    d = own_ecr.describe_images(repositoryName=repo)["imageDetails"]
    assert len(d) == 1
    d = d[0]
    assert d["imageDigest"] == img.digest
    assert d["imageTags"] == ["a", "b"]
    assert d["imageSizeInBytes"] == len(img.config) + len(img.layer)
    assert d["imageManifestMediaType"] == eh.OCI_MANIFEST
    assert d["artifactMediaType"] == eh.OCI_CONFIG
    assert d["registryId"] == eh.ACCOUNT and d["repositoryName"] == repo
    assert before - 5 <= d["imagePushedAt"].timestamp() <= time.time() + 5
    by_id = own_ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "a"},
                                                               {"imageDigest": img.digest}])
    assert [x["imageDigest"] for x in by_id["imageDetails"]] == [img.digest]
    out = eh.aws(own_server, own_server.admin, "describe-images", "--repository-name", repo,
                 "--image-ids", "imageTag=b")
    assert out["imageDetails"][0]["imageTags"] == ["a", "b"]
    assert isinstance(out["imageDetails"][0]["imageSizeInBytes"], int)


def test_describe_images_pages_and_filters(own_server, own_ecr):
    repo = eh.unique("dp")
    digests = set()
    for i in range(5):
        digests.add(push(own_server, repo, "moving").digest)
    seen, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        r = own_ecr.describe_images(repositoryName=repo, maxResults=2, **kw)
        seen += [x["imageDigest"] for x in r["imageDetails"]]
        pages += 1
        token = r.get("nextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(digests)
    tagged = own_ecr.describe_images(repositoryName=repo, filter={"tagStatus": "TAGGED"})
    assert len(tagged["imageDetails"]) == 1
    assert tagged["imageDetails"][0]["imageTags"] == ["moving"]
    untagged = own_ecr.describe_images(repositoryName=repo, filter={"tagStatus": "UNTAGGED"})
    assert len(untagged["imageDetails"]) == 4
    assert all("imageTags" not in x for x in untagged["imageDetails"])
    out = eh.aws(own_server, own_server.admin, "describe-images", "--repository-name", repo,
                 "--page-size", "2")
    assert sorted(x["imageDigest"] for x in out["imageDetails"]) == sorted(digests)


def test_describe_images_errors(own_server, own_ecr):
    repo = eh.unique("de")
    push(own_server, repo, "v1")
    with pytest.raises(ClientError) as e:
        own_ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "nope"}])
    assert "nope" in eh.client_error(e.value, "ImageNotFoundException")
    with pytest.raises(ClientError) as e:
        own_ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": "v1"}], maxResults=5)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.describe_images(repositoryName=repo, nextToken="Zm9v")
    eh.client_error(e.value, "InvalidParameterException")
    out = eh.aws(own_server, own_server.admin, "describe-images", "--repository-name", repo,
                 "--image-ids", "imageTag=nope", check=False)
    eh.assert_cli_error(out, "ImageNotFoundException", "DescribeImages")


# ---- PutImage -------------------------------------------------------------------------------

def test_put_image_pulls_through_v2(own_server, own_ecr):
    repo = eh.unique("pi")
    own_ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    push_blobs(own_server, repo, img)
    manifest = img.manifest.decode()
    r = own_ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    got = r["image"]
    assert got["imageId"] == {"imageDigest": img.digest, "imageTag": "v1"}
    assert got["imageManifest"] == manifest
    assert got["imageManifestMediaType"] == eh.OCI_MANIFEST
    pulled = eh.get_manifest(own_server, own_server.admin, repo, "v1")
    assert pulled.status_code == 200
    assert pulled.content == img.manifest
    assert pulled.headers["Docker-Content-Digest"] == img.digest
    # The same manifest and tag again changes nothing.
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    eh.client_error(e.value, "ImageAlreadyExistsException")
    # Retagging: the same manifest under a second tag, with its digest checked.
    own_ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v2",
                  imageDigest=img.digest)
    assert eh.get_manifest(own_server, own_server.admin, repo, "v2").content == img.manifest
    out = eh.aws(own_server, own_server.admin, "put-image", "--repository-name", repo,
                 "--image-manifest", manifest, "--image-tag", "v3")
    assert out["image"]["imageId"]["imageDigest"] == img.digest
    tags = sorted(i.get("imageTag") for i in own_ecr.list_images(repositoryName=repo)["imageIds"])
    assert tags == ["v1", "v2", "v3"]


def test_put_image_untagged_and_media_type_parameter(own_server, own_ecr):
    repo = eh.unique("pu")
    own_ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    push_blobs(own_server, repo, img)
    body = json.loads(img.manifest)
    del body["mediaType"]
    text = json.dumps(body)
    digest = eh.sha256(text.encode())
    r = own_ecr.put_image(repositoryName=repo, imageManifest=text,
                      imageManifestMediaType=eh.OCI_MANIFEST)
    assert r["image"]["imageId"] == {"imageDigest": digest}
    assert own_ecr.list_images(repositoryName=repo)["imageIds"] == [{"imageDigest": digest}]
    pulled = eh.get_manifest(own_server, own_server.admin, repo, digest)
    assert pulled.content == text.encode()
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=text,
                      imageManifestMediaType=eh.OCI_MANIFEST)
    eh.client_error(e.value, "ImageAlreadyExistsException")


def test_put_image_errors(own_server, own_ecr):
    repo = eh.unique("pe")
    own_ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    manifest = img.manifest.decode()
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1")
    assert eh.sha256(img.config) in eh.client_error(e.value, "LayersNotFoundException")
    push_blobs(own_server, repo, img)
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="v1",
                      imageDigest=eh.sha256(b"something else"))
    eh.client_error(e.value, "ImageDigestDoesNotMatchException")
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest="{not json", imageTag="v1")
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=manifest, imageTag="x" * 301)
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=index_of(eh.sha256(b"absent")).decode(),
                      imageTag="idx")
    eh.client_error(e.value, "ReferencedImagesNotFoundException")
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=eh.unique("missing"), imageManifest=manifest)
    eh.client_error(e.value, "RepositoryNotFoundException")
    out = eh.aws(own_server, own_server.admin, "put-image", "--repository-name", repo,
                 "--image-manifest", manifest, "--image-tag", "v1",
                 "--image-digest", eh.sha256(b"nope"), check=False)
    eh.assert_cli_error(out, "ImageDigestDoesNotMatchException", "PutImage")


def test_put_image_layers_not_found(own_server, own_ecr):
    repo = eh.unique("pl")
    own_ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=img.manifest.decode(), imageTag="v1")
    eh.client_error(e.value, "LayersNotFoundException")
    assert own_ecr.list_images(repositoryName=repo)["imageIds"] == []


def test_put_image_respects_immutable_tags(own_server, own_ecr):
    repo = eh.unique("pm")
    own_ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    a, b = eh.Image(), eh.Image()
    push_blobs(own_server, repo, a)
    push_blobs(own_server, repo, b)
    own_ecr.put_image(repositoryName=repo, imageManifest=a.manifest.decode(), imageTag="v1")
    with pytest.raises(ClientError) as e:
        own_ecr.put_image(repositoryName=repo, imageManifest=b.manifest.decode(), imageTag="v1")
    assert "v1" in eh.client_error(e.value, "ImageTagAlreadyExistsException")
    assert eh.get_manifest(own_server, own_server.admin, repo, "v1").content == a.manifest


def test_put_image_index_after_its_children(own_server, own_ecr):
    repo = eh.unique("px")
    child = push(own_server, repo, "child")
    idx = index_of(child.digest).decode()
    r = own_ecr.put_image(repositoryName=repo, imageManifest=idx, imageTag="multi")
    assert r["image"]["imageManifestMediaType"] == INDEX
    pulled = eh.v2(own_server, "GET", f"/v2/{repo}/manifests/multi", own_server.admin,
                   headers={"Accept": INDEX})
    assert pulled.content == idx.encode()
    assert pulled.headers["Docker-Content-Digest"] == eh.sha256(idx.encode())
    # A manifest an index needs cannot be deleted by digest.
    r = own_ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": child.digest}])
    assert r["imageIds"] == []
    assert r["failures"][0]["failureCode"] == "ImageReferencedByManifestList"


# ---- PutImage's manifest size limit -----------------------------------------------------------

DEFAULT_MAX_MANIFEST = 4 * 1024 * 1024


def padded_manifest(img, size, fill="a"):
    """`img`'s manifest grown by an annotation to exactly `size` bytes of UTF-8: as many `fill`
    characters (one character of one or more bytes) as fit, then ASCII up to the byte."""
    doc = json.loads(img.manifest)
    doc["annotations"] = {"pad": ""}
    room = size - len(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())
    width = len(fill.encode())
    doc["annotations"]["pad"] = fill * (room // width) + "a" * (room % width)
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False)
    assert len(text.encode()) == size
    return text


def assert_manifest_limit(server, ecr, limit):
    """PutImage takes a manifest of exactly `limit` bytes (the server's
    `registry.max_manifest_bytes`) and refuses one byte more, counting UTF-8 bytes, not
    characters; /v2 agrees."""
    repo = eh.unique("limit")
    ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    push_blobs(server, repo, img)
    reason = (f"Invalid parameter at 'imageManifest' failed to satisfy constraint: "
              f"'must have length between 1 and {limit} bytes'")

    at_limit = padded_manifest(img, limit)
    r = ecr.put_image(repositoryName=repo, imageManifest=at_limit, imageTag="fits")
    digest = eh.sha256(at_limit.encode())
    assert r["image"]["imageId"] == {"imageDigest": digest, "imageTag": "fits"}
    pulled = eh.get_manifest(server, server.admin, repo, "fits")
    assert pulled.status_code == 200
    assert pulled.content == at_limit.encode()

    over = padded_manifest(img, limit + 1)
    # Two-byte characters: fewer characters than the limit, more bytes.
    wide = padded_manifest(img, limit + 1, fill="\u00e9")
    assert len(wide) < limit < len(wide.encode())
    for tag, text in (("over", over), ("wide", wide)):
        with pytest.raises(ClientError) as e:
            ecr.put_image(repositoryName=repo, imageManifest=text, imageTag=tag)
        assert eh.client_error(e.value, "InvalidParameterException") == reason, tag
        r = eh.v2(server, "PUT", f"/v2/{repo}/manifests/{tag}", server.admin,
                  data=text.encode(), headers={"Content-Type": eh.OCI_MANIFEST})
        assert r.status_code == 413, r.text
        assert r.json()["errors"][0]["code"] == "SIZE_INVALID"
    # Nothing but the manifest that fits was stored.
    listed = ecr.list_images(repositoryName=repo)["imageIds"]
    assert listed == [{"imageDigest": digest, "imageTag": "fits"}]


def test_put_image_manifest_limit_is_in_bytes(own_server, own_ecr):
    assert_manifest_limit(own_server, own_ecr, DEFAULT_MAX_MANIFEST)


def test_put_image_follows_the_configured_manifest_limit():
    # Above the default: PutImage must not keep a limit of its own.
    limit = DEFAULT_MAX_MANIFEST + 1024 * 1024
    env = dict(eh.SHARED_ENV, BERTH_REGISTRY__MAX_MANIFEST_BYTES=str(limit))
    with BerthServer(env=env) as srv:
        assert_manifest_limit(srv, eh.boto_client(srv, srv.admin), limit)


# ---- BatchDeleteImage -----------------------------------------------------------------------

def test_batch_delete_image(own_server, own_ecr):
    repo = eh.unique("bd")
    a = push(own_server, repo, "a1")
    put_v2(own_server, repo, "a2", a.manifest)
    b = push(own_server, repo, "b1")
    put_v2(own_server, repo, "b2", b.manifest)
    # By tag: only the tag goes while others remain.
    r = own_ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageTag": "a1"}])
    assert r == {**r, "imageIds": [{"imageDigest": a.digest, "imageTag": "a1"}], "failures": []}
    assert eh.get_manifest(own_server, own_server.admin, repo, a.digest).status_code == 200
    assert eh.get_manifest(own_server, own_server.admin, repo, "a1").status_code == 404
    # Removing the last tag removes the image.
    r = own_ecr.batch_delete_image(repositoryName=repo,
                               imageIds=[{"imageTag": "a2", "imageDigest": a.digest}])
    assert r["imageIds"] == [{"imageDigest": a.digest, "imageTag": "a2"}]
    assert eh.get_manifest(own_server, own_server.admin, repo, a.digest).status_code == 404
    # By digest: the image and every tag on it.
    r = own_ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": b.digest}])
    assert ids(r) == [(b.digest, "b1"), (b.digest, "b2")]
    assert eh.get_manifest(own_server, own_server.admin, repo, "b2").status_code == 404
    assert own_ecr.list_images(repositoryName=repo)["imageIds"] == []
    r = own_ecr.batch_delete_image(repositoryName=repo, imageIds=[
        {"imageDigest": b.digest}, {"imageTag": "zzz"}, {"imageDigest": "bogus"}, {}])
    assert r["imageIds"] == []
    assert [f["failureCode"] for f in r["failures"]] == [
        "ImageNotFound", "ImageNotFound", "InvalidImageDigest", "MissingDigestAndTag"]


def test_batch_delete_image_with_the_cli(own_server, own_ecr):
    repo = eh.unique("bc")
    a = push(own_server, repo, "v1")
    out = eh.aws(own_server, own_server.admin, "batch-delete-image", "--repository-name", repo,
                 "--image-ids", "imageTag=v1", "imageTag=v9")
    assert out["imageIds"] == [{"imageDigest": a.digest, "imageTag": "v1"}]
    assert out["failures"][0]["failureCode"] == "ImageNotFound"
    out = eh.aws(own_server, own_server.admin, "batch-delete-image", "--repository-name",
                 eh.unique("missing"), "--image-ids", "imageTag=v1", check=False)
    eh.assert_cli_error(out, "RepositoryNotFoundException", "BatchDeleteImage")


# ---- BatchCheckLayerAvailability -------------------------------------------------------------

def test_batch_check_layer_availability(own_server, own_ecr):
    repo = eh.unique("bl")
    img = push(own_server, repo)
    config = eh.sha256(img.config)
    missing = eh.sha256(b"missing")
    r = own_ecr.batch_check_layer_availability(repositoryName=repo,
                                           layerDigests=[config, missing, "not-a-digest"])
    assert r["layers"] == [{"layerDigest": config, "layerAvailability": "AVAILABLE",
                            "layerSize": len(img.config)}]
    assert [(f["layerDigest"], f["failureCode"]) for f in r["failures"]] == [
        (missing, "MissingLayerDigest"), ("not-a-digest", "InvalidLayerDigest")]
    # Blobs are per repository.
    other = eh.unique("bl")
    push(own_server, other)
    r = own_ecr.batch_check_layer_availability(repositoryName=other, layerDigests=[config])
    assert r["layers"] == [] and r["failures"][0]["failureCode"] == "MissingLayerDigest"
    out = eh.aws(own_server, own_server.admin, "batch-check-layer-availability", "--repository-name",
                 repo, "--layer-digests", eh.sha256(img.layer))
    assert out["layers"][0]["layerSize"] == len(img.layer)


# ---- authorization --------------------------------------------------------------------------

def test_image_operations_are_authorized_before_existence_is_revealed(own_server, own_ecr):
    repo = eh.unique("az")
    push(own_server, repo, "v1")
    p = eh.create_principal(own_server, [("list-only", eh.identity_policy(["ecr:ListImages"]))])
    eh.wait_known(own_server, p.key)
    client = eh.boto_client(own_server, p.key)

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
    assert own_ecr.list_images(repositoryName=repo)["imageIds"][0]["imageTag"] == "v1"


# ---- layer uploads ---------------------------------------------------------------------------

def upload_layer(own_ecr, repo, data, part=None):
    """InitiateLayerUpload, UploadLayerPart (in parts of `part` bytes), CompleteLayerUpload."""
    up = own_ecr.initiate_layer_upload(repositoryName=repo)
    assert up["partSize"] > 0
    part = part or len(data)
    for start in range(0, len(data), part):
        chunk = data[start:start + part]
        r = own_ecr.upload_layer_part(repositoryName=repo, uploadId=up["uploadId"],
                                  partFirstByte=start, partLastByte=start + len(chunk) - 1,
                                  layerPartBlob=chunk)
        assert r["lastByteReceived"] == start + len(chunk) - 1
    r = own_ecr.complete_layer_upload(repositoryName=repo, uploadId=up["uploadId"],
                                  layerDigests=[eh.sha256(data)])
    assert r["layerDigest"] == eh.sha256(data) and r["uploadId"] == up["uploadId"]
    return r


def test_layer_upload_then_put_image_pulls_through_v2(own_server, own_ecr):
    repo = eh.unique("lu")
    own_ecr.create_repository(repositoryName=repo)
    img = eh.Image()
    upload_layer(own_ecr, repo, img.config)
    upload_layer(own_ecr, repo, img.layer, part=700)
    r = own_ecr.batch_check_layer_availability(repositoryName=repo,
                                           layerDigests=[d for d, _ in img.blobs()])
    assert [x["layerAvailability"] for x in r["layers"]] == ["AVAILABLE", "AVAILABLE"]
    blob = eh.v2(own_server, "GET", f"/v2/{repo}/blobs/{eh.sha256(img.layer)}", own_server.admin)
    if blob.status_code in (302, 307):
        blob = eh.v2(own_server, "GET", blob.headers["Location"], None)
    assert blob.status_code == 200 and blob.content == img.layer
    own_ecr.put_image(repositoryName=repo, imageManifest=img.manifest.decode(), imageTag="api")
    pulled = eh.get_manifest(own_server, own_server.admin, repo, "api")
    assert pulled.content == img.manifest
    assert pulled.headers["Docker-Content-Digest"] == img.digest


def test_layer_upload_errors(own_server, own_ecr):
    repo = eh.unique("lx")
    other = eh.unique("lx")
    own_ecr.create_repository(repositoryName=repo)
    own_ecr.create_repository(repositoryName=other)
    up = own_ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    # Completing with no parts.
    with pytest.raises(ClientError) as e:
        own_ecr.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=[eh.sha256(b"x")])
    eh.client_error(e.value, "EmptyUploadException")
    own_ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=0, partLastByte=4,
                          layerPartBlob=b"hello")
    # A part that does not continue where the upload ends.
    with pytest.raises(ClientError) as e:
        own_ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=7,
                              partLastByte=8, layerPartBlob=b"xx")
    eh.client_error(e.value, "InvalidLayerPartException")
    assert e.value.response["lastValidByteReceived"] == 4
    # A part whose size disagrees with its byte range.
    with pytest.raises(ClientError) as e:
        own_ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=5,
                              partLastByte=9, layerPartBlob=b"xx")
    eh.client_error(e.value, "InvalidLayerPartException")
    # Uploads belong to their repository.
    with pytest.raises(ClientError) as e:
        own_ecr.upload_layer_part(repositoryName=other, uploadId=up, partFirstByte=5,
                              partLastByte=6, layerPartBlob=b"xx")
    eh.client_error(e.value, "UploadNotFoundException")
    with pytest.raises(ClientError) as e:
        own_ecr.complete_layer_upload(repositoryName=repo, uploadId=str(uuid.uuid4()),
                                  layerDigests=[eh.sha256(b"hello")])
    eh.client_error(e.value, "UploadNotFoundException")
    with pytest.raises(ClientError) as e:
        own_ecr.complete_layer_upload(repositoryName=repo, uploadId="not-an-upload-id",
                                  layerDigests=[eh.sha256(b"hello")])
    eh.client_error(e.value, "InvalidParameterException")
    # The wrong digest.
    with pytest.raises(ClientError) as e:
        own_ecr.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=[eh.sha256(b"other")])
    eh.client_error(e.value, "InvalidLayerException")
    # A layer the repository already holds.
    upload_layer(own_ecr, repo, b"hello")
    up = own_ecr.initiate_layer_upload(repositoryName=repo)["uploadId"]
    own_ecr.upload_layer_part(repositoryName=repo, uploadId=up, partFirstByte=0, partLastByte=4,
                          layerPartBlob=b"hello")
    with pytest.raises(ClientError) as e:
        own_ecr.complete_layer_upload(repositoryName=repo, uploadId=up,
                                  layerDigests=[eh.sha256(b"hello")])
    eh.client_error(e.value, "LayerAlreadyExistsException")


def test_layer_upload_with_the_cli(own_server, own_ecr, tmp_path):
    repo = eh.unique("lc")
    own_ecr.create_repository(repositoryName=repo)
    data = b"hello-layer"
    blob = tmp_path / "part"
    blob.write_bytes(data)
    up = eh.aws(own_server, own_server.admin, "initiate-layer-upload", "--repository-name", repo)
    out = eh.aws(own_server, own_server.admin, "upload-layer-part", "--repository-name", repo,
                 "--upload-id", up["uploadId"], "--part-first-byte", "0",
                 "--part-last-byte", str(len(data) - 1), "--layer-part-blob", f"fileb://{blob}")
    assert out["lastByteReceived"] == len(data) - 1
    out = eh.aws(own_server, own_server.admin, "complete-layer-upload", "--repository-name", repo,
                 "--upload-id", up["uploadId"], "--layer-digests", eh.sha256(data))
    assert out["layerDigest"] == eh.sha256(data)
    out = eh.aws(own_server, own_server.admin, "complete-layer-upload", "--repository-name", repo,
                 "--upload-id", up["uploadId"], "--layer-digests", eh.sha256(data), check=False)
    eh.assert_cli_error(out, "UploadNotFoundException", "CompleteLayerUpload")


# ---- GetDownloadUrlForLayer ------------------------------------------------------------------

def test_download_url_is_fetched_with_a_bare_get(own_server, own_ecr):
    repo = eh.unique("dl")
    img = push(own_server, repo, "v1")
    out = eh.aws(own_server, own_server.admin, "get-download-url-for-layer", "--repository-name", repo,
                 "--layer-digest", img.layer_digest)
    assert out["layerDigest"] == img.layer_digest
    url = out["downloadUrl"]
    assert url.startswith(own_server.url + "/"), url
    # No credentials at all.
    r = eh.v2(own_server, "GET", url, eh.ANON)
    assert r.status_code == 200, r.text
    assert r.content == img.layer and eh.sha256(r.content) == img.layer_digest
    assert r.headers.get("Docker-Content-Digest") == img.layer_digest
    r = eh.v2(own_server, "GET", url, eh.ANON, headers={"Range": "bytes=5-14"})
    assert r.status_code == 206 and r.content == img.layer[5:15]
    assert r.headers["Content-Range"] == f"bytes 5-14/{len(img.layer)}"
    assert eh.v2(own_server, "HEAD", url, eh.ANON).status_code == 200
    # The config blob too; boto3 gives the same kind of URL.
    cfg = own_ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=img.config_digest)
    assert eh.v2(own_server, "GET", cfg["downloadUrl"], eh.ANON).content == img.config
    # A URL is for its one blob: tampering with the token breaks the signature.
    token = url.rsplit("/", 1)[1]
    header, claims, sig = token.split(".")
    tampered = f"{own_server.url}/download/{header}.{claims}.{sig[:-2]}{'AA' if sig[-2:] != 'AA' else 'BB'}"
    r = eh.v2(own_server, "GET", tampered, eh.ANON)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED", r.text
    assert eh.v2(own_server, "GET", f"{own_server.url}/download/garbage", eh.ANON).status_code == 403


def test_download_url_errors_and_revocation(own_server, own_ecr, own_raw):
    repo = eh.unique("dl")
    img = push(own_server, repo, "v1")
    for digest in (eh.sha256(b"never pushed"), img.digest):  # a manifest is not a layer
        with pytest.raises(ClientError) as e:
            own_ecr.get_download_url_for_layer(repositoryName=repo, layerDigest=digest)
        assert digest in eh.client_error(e.value, "LayersNotFoundException")
    with pytest.raises(ClientError) as e:
        own_raw.get_download_url_for_layer(repositoryName=repo, layerDigest="sha256:xyz")
    eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.get_download_url_for_layer(repositoryName=eh.unique("missing"),
                                       layerDigest=img.layer_digest)
    eh.client_error(e.value, "RepositoryNotFoundException")

    # A URL stands for the principal who asked for it: disabling its key ends it.
    p = eh.create_principal(own_server, [("pull", eh.identity_policy(
        ["ecr:GetDownloadUrlForLayer"]))])
    eh.wait_known(own_server, p.key)
    client = eh.boto_client(own_server, p.key)
    url = eh.eventually(lambda: client.get_download_url_for_layer(
        repositoryName=repo, layerDigest=img.layer_digest))["downloadUrl"]
    assert eh.v2(own_server, "GET", url, eh.ANON).content == img.layer
    own_server.cli("key", "disable", p.key[0])

    def refused():
        r = eh.v2(own_server, "GET", url, eh.ANON)
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


def test_list_image_referrers(own_server, own_ecr, own_raw):
    repo = eh.unique("ref")
    img = push(own_server, repo, "v1")
    empty = b"{}"
    r = eh.v2(own_server, "POST", f"/v2/{repo}/blobs/uploads/?digest={eh.sha256(empty)}",
              own_server.admin, data=empty, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 201, r.text
    made = {}
    for n, kind in enumerate(["application/x.sig", "application/x.sig", "application/x.sbom"]):
        body = referrer(img, kind, n)
        put_v2(own_server, repo, eh.sha256(body), body)
        made[eh.sha256(body)] = (kind, n, len(body))

    r = own_ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest})
    got = {x["digest"]: x for x in r["referrers"]}
    assert set(got) == set(made) and "nextToken" not in r
    for d, (kind, n, size) in made.items():
        assert got[d]["artifactType"] == kind and got[d]["size"] == size
        assert got[d]["mediaType"] == eh.OCI_MANIFEST and got[d]["artifactStatus"] == "ACTIVE"
        assert got[d]["annotations"] == {"n": str(n)}
    r = own_ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                 filter={"artifactTypes": ["application/x.sbom"]})
    assert [x["artifactType"] for x in r["referrers"]] == ["application/x.sbom"]
    r = own_ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                 filter={"artifactStatus": "ARCHIVED"})
    assert r["referrers"] == []
    # Pages of two, then one.
    p1 = own_ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                  maxResults=2)
    p2 = own_ecr.list_image_referrers(repositoryName=repo, subjectId={"imageDigest": img.digest},
                                  maxResults=2, nextToken=p1["nextToken"])
    assert len(p1["referrers"]) == 2 and len(p2["referrers"]) == 1 and "nextToken" not in p2
    assert {x["digest"] for x in p1["referrers"] + p2["referrers"]} == set(made)
    # An unknown subject has none.
    r = own_ecr.list_image_referrers(repositoryName=repo,
                                 subjectId={"imageDigest": eh.sha256(b"nothing")})
    assert r["referrers"] == []

    for kw in ({"subjectId": {"imageDigest": "nope"}},
               {"subjectId": {"imageDigest": img.digest}, "maxResults": 51},
               {"subjectId": {"imageDigest": img.digest}, "nextToken": "garbage"},
               {"subjectId": {"imageDigest": img.digest},
                "filter": {"artifactTypes": ["a"] * 6}},
               {"subjectId": {"imageDigest": img.digest}, "filter": {"artifactStatus": "GONE"}}):
        with pytest.raises(ClientError) as e:
            own_raw.list_image_referrers(repositoryName=repo, **kw)
        eh.client_error(e.value, "InvalidParameterException")
    with pytest.raises(ClientError) as e:
        own_ecr.list_image_referrers(repositoryName=eh.unique("missing"),
                                 subjectId={"imageDigest": img.digest})
    eh.client_error(e.value, "RepositoryNotFoundException")
