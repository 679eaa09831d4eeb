"""Content discovery: tags list (sorted, n/last, Link), catalog, referrers API."""
import urllib.parse
import uuid

import pytest

from ocihelp import (
    OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, assert_error, assert_status, canonical, config_bytes,
    descriptor, image_manifest, parse_link, push_artifact, push_blob, push_image, push_manifest,
    sha256,
)


def _tag_all(client, repo, tags):
    """Push one image and tag it with every name in `tags`."""
    img = push_image(client, repo, tags[0])
    for t in tags[1:]:
        push_manifest(client, repo, t, img["manifest"])
    return img


def _link_query(link, expected_path):
    u = urllib.parse.urlsplit(link)
    assert u.path == expected_path, link
    return dict(urllib.parse.parse_qsl(u.query))


# --- tags list --------------------------------------------------------------------

def test_tags_list_sorted(client, repo):
    tags = ["v10", "latest", "1.0", "v2", "0", "a_b", "a-b", "a.b", "zz", "v1"]
    _tag_all(client, repo, tags)
    r = client.get(f"/v2/{repo}/tags/list")
    assert_status(r, 200)
    body = r.json()
    assert body["name"] == repo
    assert body["tags"] == sorted(tags)
    assert not parse_link(r.headers.get("Link"))


@pytest.mark.berth
def test_tags_list_byte_order_mixed_case(client, repo):
    tags = ["b", "B", "a", "A", "_x", "Z9"]
    _tag_all(client, repo, tags)
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == sorted(tags)


def test_tags_list_n(client, repo):
    tags = [f"t{i:02d}" for i in range(7)]
    _tag_all(client, repo, tags)
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 3})
    assert_status(r, 200)
    assert r.json()["tags"] == tags[:3]
    link = parse_link(r.headers.get("Link"))
    assert link, "Link header with rel=\"next\" expected when more tags remain"
    q = _link_query(link, f"/v2/{repo}/tags/list")
    assert q.get("n") == "3" and q.get("last") == "t02"


def test_tags_list_last(client, repo):
    tags = [f"t{i:02d}" for i in range(7)]
    _tag_all(client, repo, tags)
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "t03"})
    assert_status(r, 200)
    assert r.json()["tags"] == ["t04", "t05"]
    r = client.get(f"/v2/{repo}/tags/list", params={"last": "t03"})
    assert r.json()["tags"] == ["t04", "t05", "t06"]


def test_tags_list_last_not_a_tag(client, repo):
    """`last` need not name an existing tag: results are those after it in order."""
    _tag_all(client, repo, ["a", "c", "e"])
    r = client.get(f"/v2/{repo}/tags/list", params={"last": "b"})
    assert_status(r, 200)
    assert r.json()["tags"] == ["c", "e"]


def test_tags_list_pagination_walk(client, repo):
    tags = sorted(f"tag-{i}" for i in range(11))
    _tag_all(client, repo, tags)
    seen = []
    url = f"/v2/{repo}/tags/list?n=4"
    pages = 0
    while url:
        r = client.get(url)
        assert_status(r, 200)
        page = r.json()["tags"]
        assert len(page) <= 4
        seen += page
        url = parse_link(r.headers.get("Link"))
        if url:
            url = urllib.parse.urljoin(r.url, url)
        pages += 1
        assert pages < 10
    assert seen == tags
    assert pages == 3


def test_tags_list_exact_multiple_has_no_dangling_link(client, repo):
    tags = ["a", "b", "c", "d"]
    _tag_all(client, repo, tags)
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 4})
    assert r.json()["tags"] == tags
    assert not parse_link(r.headers.get("Link"))
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 2, "last": "b"})
    assert r.json()["tags"] == ["c", "d"]
    assert not parse_link(r.headers.get("Link"))


def test_tags_list_n_larger_than_count(client, repo):
    _tag_all(client, repo, ["x", "y"])
    r = client.get(f"/v2/{repo}/tags/list", params={"n": 1000})
    assert r.json()["tags"] == ["x", "y"]
    assert not parse_link(r.headers.get("Link"))


def test_tags_list_unknown_repository(client, repo):
    assert_error(client.get(f"/v2/{repo}/tags/list"), 404, "NAME_UNKNOWN")


@pytest.mark.berth
def test_tags_list_repository_without_tags(client, repo):
    img = push_image(client, repo)  # pushed by digest only
    assert img["digest"]
    r = client.get(f"/v2/{repo}/tags/list")
    assert_status(r, 200)
    assert r.json() == {"name": repo, "tags": []}


@pytest.mark.berth
def test_tags_list_excludes_deleted_tag(client, repo):
    img = _tag_all(client, repo, ["keep", "drop"])
    assert_status(client.delete(f"/v2/{repo}/manifests/drop"), 202)
    assert client.get(f"/v2/{repo}/tags/list").json()["tags"] == ["keep"]
    assert img


# --- catalog ----------------------------------------------------------------------

def _catalog_walk(client, n=None):
    url = "/v2/_catalog" + (f"?n={n}" if n else "")
    out = []
    for _ in range(10000):
        r = client.get(url)
        assert_status(r, 200)
        out += r.json()["repositories"]
        nxt = parse_link(r.headers.get("Link"))
        if not nxt:
            return out
        url = urllib.parse.urljoin(r.url, nxt)
    raise AssertionError("catalog pagination did not end")


def test_catalog_lists_repositories_sorted(client):
    prefix = f"conf/catalog-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}/b", f"{prefix}/a", f"{prefix}/a/deeper", f"{prefix}/c-1"]
    for n in names:
        push_image(client, n, "t")
    allrepos = _catalog_walk(client, n=100)
    assert allrepos == sorted(allrepos)
    assert len(set(allrepos)) == len(allrepos)
    mine = [r for r in allrepos if r.startswith(prefix + "/")]
    assert mine == sorted(names)


def test_catalog_n_last_link(client):
    prefix = f"conf/catpage-{uuid.uuid4().hex[:8]}"
    names = sorted(f"{prefix}/r{i}" for i in range(5))
    for n in names:
        push_image(client, n, "t")
    r = client.get("/v2/_catalog", params={"n": 2, "last": prefix})
    assert_status(r, 200)
    assert r.json()["repositories"] == names[:2]
    link = parse_link(r.headers.get("Link"))
    assert link
    q = _link_query(link, "/v2/_catalog")
    assert q.get("n") == "2" and q.get("last") == names[1]
    r = client.get(urllib.parse.urljoin(r.url, link))
    assert r.json()["repositories"] == names[2:4]
    r = client.get("/v2/_catalog", params={"n": 2, "last": names[1]})
    assert r.json()["repositories"] == names[2:4]


def test_catalog_small_pages(client):
    prefix = f"conf/catsmall-{uuid.uuid4().hex[:8]}"
    names = sorted(f"{prefix}/r{i}" for i in range(3))
    for n in names:
        push_image(client, n, "t")
    seen = []
    url = f"/v2/_catalog?n=1&last={prefix}"
    while url and len(seen) < 3:
        r = client.get(url)
        assert_status(r, 200)
        page = r.json()["repositories"]
        assert len(page) == 1
        seen += page
        url = parse_link(r.headers.get("Link"))
        url = url and urllib.parse.urljoin(r.url, url)
    assert seen == names


# --- referrers ------------------------------------------------------------------

def _referrers(client, repo, d, **params):
    return client.get(f"/v2/{repo}/referrers/{d}", params=params or None)


def test_referrers_list(client, repo):
    subj = push_image(client, repo, "v1")
    sd = descriptor(OCI_MANIFEST, subj["manifest"])
    sig = push_artifact(client, repo, artifact_type="application/vnd.example.signature",
                        subject=sd, annotations={"org.example.k": "v"})
    sbom = push_artifact(client, repo, artifact_type="application/vnd.example.sbom", subject=sd)
    # no artifactType: falls back to the config media type
    cfgtyped = push_artifact(client, repo, subject=sd, config_type="application/vnd.example.config.v1+json")
    # an unrelated artifact must not show up
    push_artifact(client, repo, artifact_type="application/vnd.example.signature")

    r = _referrers(client, repo, subj["digest"])
    assert_status(r, 200)
    assert r.headers.get("Content-Type", "").split(";")[0] == OCI_INDEX
    idx = r.json()
    assert idx["schemaVersion"] == 2
    assert idx.get("mediaType") == OCI_INDEX
    got = {m["digest"]: m for m in idx["manifests"]}
    assert set(got) == {sig["digest"], sbom["digest"], cfgtyped["digest"]}
    for art in (sig, sbom, cfgtyped):
        m = got[art["digest"]]
        assert m["mediaType"] == OCI_MANIFEST
        assert m["size"] == art["size"]
    assert got[sig["digest"]]["artifactType"] == "application/vnd.example.signature"
    assert got[sig["digest"]]["annotations"] == {"org.example.k": "v"}
    assert got[sbom["digest"]]["artifactType"] == "application/vnd.example.sbom"
    assert got[cfgtyped["digest"]]["artifactType"] == "application/vnd.example.config.v1+json"


def test_referrers_artifact_type_filter(client, repo):
    subj = push_image(client, repo, "v1")
    sd = descriptor(OCI_MANIFEST, subj["manifest"])
    sig = push_artifact(client, repo, artifact_type="application/vnd.example.signature", subject=sd)
    push_artifact(client, repo, artifact_type="application/vnd.example.sbom", subject=sd)
    r = _referrers(client, repo, subj["digest"], artifactType="application/vnd.example.signature")
    assert_status(r, 200)
    assert r.headers.get("OCI-Filters-Applied") == "artifactType"
    ms = r.json()["manifests"]
    assert [m["digest"] for m in ms] == [sig["digest"]]
    assert ms[0]["artifactType"] == "application/vnd.example.signature"
    r = _referrers(client, repo, subj["digest"], artifactType="application/vnd.example.none")
    assert_status(r, 200)
    assert r.json()["manifests"] == []


def test_referrers_unfiltered_has_no_filters_header(client, repo):
    subj = push_image(client, repo, "v1")
    r = _referrers(client, repo, subj["digest"])
    assert_status(r, 200)
    assert "artifactType" not in r.headers.get("OCI-Filters-Applied", "")


def test_referrers_unknown_subject_empty(client, repo):
    push_image(client, repo, "v1")
    r = _referrers(client, repo, sha256(b"no such subject"))
    assert_status(r, 200)
    assert r.headers.get("Content-Type", "").split(";")[0] == OCI_INDEX
    idx = r.json()
    assert idx["schemaVersion"] == 2 and idx["manifests"] == []


@pytest.mark.berth
def test_referrers_unknown_repository_empty(client, repo):
    r = _referrers(client, repo, sha256(b"x"))
    assert_status(r, 200)
    assert r.json()["manifests"] == []


def test_referrers_subject_pushed_after_referrer(client, repo):
    """A referrer pushed before its subject is listed once the subject exists (and before)."""
    cfg = config_bytes()
    push_blob(client, repo, cfg)
    subj_body = image_manifest(cfg, [])
    sd = descriptor(OCI_MANIFEST, subj_body)
    art = push_artifact(client, repo, artifact_type="application/vnd.example.early", subject=sd)
    r = _referrers(client, repo, sha256(subj_body))
    assert [m["digest"] for m in r.json()["manifests"]] == [art["digest"]]
    push_manifest(client, repo, "late", subj_body)
    r = _referrers(client, repo, sha256(subj_body))
    assert [m["digest"] for m in r.json()["manifests"]] == [art["digest"]]


def test_referrers_index_with_subject(client, repo):
    """An image index may also carry a subject and be a referrer."""
    subj = push_image(client, repo, "v1")
    child = push_image(client, repo)
    body = canonical({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "application/vnd.example.bundle",
        "manifests": [descriptor(OCI_MANIFEST, child["manifest"])],
        "subject": descriptor(OCI_MANIFEST, subj["manifest"]),
    })
    r = client.put(f"/v2/{repo}/manifests/{sha256(body)}", data=body, headers={"Content-Type": OCI_INDEX})
    assert_status(r, 201)
    assert r.headers.get("OCI-Subject") == subj["digest"]
    ms = _referrers(client, repo, subj["digest"]).json()["manifests"]
    assert ms == [{"mediaType": OCI_INDEX, "digest": sha256(body), "size": len(body),
                   "artifactType": "application/vnd.example.bundle"}] or (
        len(ms) == 1 and ms[0]["digest"] == sha256(body) and ms[0]["mediaType"] == OCI_INDEX
        and ms[0]["artifactType"] == "application/vnd.example.bundle")


def test_referrers_scoped_to_repository(client, repo, repo2):
    subj = push_image(client, repo, "v1")
    sd = descriptor(OCI_MANIFEST, subj["manifest"])
    push_artifact(client, repo, artifact_type="application/vnd.example.signature", subject=sd)
    push_image(client, repo2, "v1")
    r = _referrers(client, repo2, subj["digest"])
    assert_status(r, 200)
    assert r.json()["manifests"] == []


def test_referrers_invalid_digest(client, repo):
    push_image(client, repo, "v1")
    r = _referrers(client, repo, "sha256:not-a-digest")
    assert_error(r, 400, "DIGEST_INVALID")


def test_referrers_empty_config_artifact_type(client, repo):
    """An artifact with the empty config and an artifactType reports the artifactType, not
    the empty config media type."""
    subj = push_image(client, repo, "v1")
    art = push_artifact(client, repo, artifact_type="application/vnd.example.x",
                        subject=descriptor(OCI_MANIFEST, subj["manifest"]), config_type=OCI_EMPTY)
    ms = _referrers(client, repo, subj["digest"]).json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in ms] == [(art["digest"], "application/vnd.example.x")]
