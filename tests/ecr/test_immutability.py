"""Racing pushes of one immutable tag, end to end: through /v2 (PUT manifest), through PutImage,
and through both at once. Exactly one push wins; every other one is refused (`TAG_INVALID` on
/v2, `ImageTagAlreadyExistsException` from PutImage, as the README and ECR name them), the tag
names the winner, and nothing of a refused push is kept.

The metadata layer's own race tests (PostgreSQL) prove the database statement; these prove the
whole path, on whichever deployment the suite runs (embedded or production).

Self-contained: one module-scoped server.
Run: BERTH_BIN=$PWD/target/release/berth python3 -m pytest -q -p no:cacheprovider \
     tests/ecr/test_immutability.py
"""
import json
import threading

import pytest
import requests
from botocore.exceptions import ClientError

import ecrhelp as eh

# Pushes per race, and races per test: each race is a fresh tag.
RACERS = 8
ROUNDS = 4


def refusal(tag, repo):
    return (f"The image tag '{tag}' already exists in the '{repo}' repository and cannot "
            f"be overwritten because the tag is immutable.")


def variants(img, n, salt):
    """`n` distinct manifests over the blobs of `img` (already pushed): they differ only in an
    annotation, so each has its own digest."""
    base = json.loads(img.manifest)
    out = []
    for i in range(n):
        m = dict(base, annotations={"racer": f"{salt}-{i}"})
        out.append(json.dumps(m, sort_keys=True).encode())
    return out


def race(calls):
    """Run the calls at once (released together from a barrier); their results in order. An
    exception raised by a call (other than botocore's ClientError, which is a result) fails
    the test."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)
    errors = []

    def run(i):
        try:
            barrier.wait(timeout=30)
            try:
                results[i] = calls[i]()
            except ClientError as e:
                results[i] = e
        except BaseException as e:  # reported below, on the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a racing push did not finish"
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module")
def admin(own_server):
    return eh.basic(*own_server.admin)


def immutable_repository(own_server, own_ecr, admin):
    repo = eh.unique("race")
    own_ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    img = eh.push_image(own_server, admin, repo, "base")
    return repo, img


def v2_pusher(own_server, admin, repo, tag, manifest):
    """A PUT of `manifest` under `tag` on a connection opened beforehand (so that the racers
    are not serialised by connection setup)."""
    s = requests.Session()
    r = s.get(own_server.url + "/v2/", auth=admin, timeout=eh.TIMEOUT)
    assert r.status_code == 200, r.text
    url = f"{own_server.url}/v2/{repo}/manifests/{tag}"
    return lambda: s.put(url, data=manifest, auth=admin, headers={"Content-Type": eh.OCI_MANIFEST},
                         timeout=eh.TIMEOUT)


def put_image_pusher(own_server, repo, tag, manifest):
    """A PutImage of `manifest` under `tag` by a client of its own, warmed up beforehand."""
    c = eh.boto_client(own_server, own_server.admin)
    c.describe_repositories(repositoryNames=[repo])
    return lambda: c.put_image(repositoryName=repo, imageTag=tag, imageManifest=manifest.decode(),
                               imageManifestMediaType=eh.OCI_MANIFEST)


def is_v2(result):
    return isinstance(result, requests.Response)


def won(result):
    if is_v2(result):
        return result.status_code == 201
    return not isinstance(result, ClientError)


def check_refused(result, repo, tag):
    if is_v2(result):
        assert result.status_code == 400, eh.describe(result)
        errors = result.json()["errors"]
        assert [(e["code"], e["message"]) for e in errors] == [
            ("TAG_INVALID", refusal(tag, repo))], result.text
    else:
        assert eh.client_error(result, "ImageTagAlreadyExistsException") == refusal(tag, repo)


def check_one_winner(own_server, own_ecr, admin, repo, tag, manifests, results):
    """Exactly one push won; the others were refused; the tag names the winner's manifest;
    the losers' manifests are not stored."""
    winners = [i for i, r in enumerate(results) if won(r)]
    assert len(winners) == 1, [(i, r.status_code if is_v2(r) else repr(r)[:200])
                               for i, r in enumerate(results)]
    w = winners[0]
    digests = [eh.sha256(m) for m in manifests]
    if is_v2(results[w]):
        assert results[w].headers.get("Docker-Content-Digest") == digests[w]
    else:
        assert results[w]["image"]["imageId"] == {"imageDigest": digests[w], "imageTag": tag}
    for i, r in enumerate(results):
        if i != w:
            check_refused(r, repo, tag)
    r = eh.get_manifest(own_server, admin, repo, tag)
    assert r.status_code == 200, r.text
    assert r.headers.get("Docker-Content-Digest") == digests[w] and r.content == manifests[w]
    for i, d in enumerate(digests):
        if i != w:
            r = eh.v2(own_server, "HEAD", f"/v2/{repo}/manifests/{d}", admin,
                      headers={"Accept": eh.OCI_MANIFEST})
            assert r.status_code == 404, f"refused manifest {i} was kept: {r.status_code}"
    details = own_ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"]) for d in details] == [(digests[w], [tag])]


@pytest.mark.parametrize("surfaces", ["v2", "api", "both"])
def test_racing_pushes_of_an_immutable_tag(own_server, own_ecr, admin, surfaces):
    """Racing pushes through /v2, through PutImage, or half through each: exactly one wins."""
    def pusher(i, tag, m):
        if surfaces == "v2" or (surfaces == "both" and i % 2):
            return v2_pusher(own_server, admin, repo, tag, m)
        return put_image_pusher(own_server, repo, tag, m)
    repo, img = immutable_repository(own_server, own_ecr, admin)
    for n in range(ROUNDS):
        tag = f"{surfaces}-race-{n}"
        manifests = variants(img, RACERS, tag)
        calls = [pusher(i, tag, m) for i, m in enumerate(manifests)]
        check_one_winner(own_server, own_ecr, admin, repo, tag, manifests, race(calls))
