"""Content discovery: tags list (sorted, n/last, Link), catalog, referrers API."""
import concurrent.futures
import urllib.parse
import uuid

import pytest

from ocihelp import (
    OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, Client, assert_error, assert_status, canonical,
    config_bytes, descriptor, image_manifest, parse_link, push_artifact, push_blob, push_image,
    push_manifest, sha256,
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


# --- listing caps (README: "Listings without `n` return at most 1000 entries (and a `Link` to
# the next page); `n` is capped at 10000") ------------------------------------------------------

DEFAULT_PAGE = 1000
MAX_PAGE = 10000


def _tag_in_batches(client, repo, img, tags, batch=1000):
    """Tag `img` with every name in `tags` by PUT by digest with many `?tag=` (one request
    per `batch` tags)."""
    for i in range(0, len(tags), batch):
        r = client.put(f"/v2/{repo}/manifests/{img['digest']}", data=img["manifest"],
                       params=[("tag", t) for t in tags[i:i + batch]],
                       headers={"Content-Type": OCI_MANIFEST})
        assert_status(r, 201)


@pytest.fixture(scope="module")
def many_tags(registry):
    """A repository with MAX_PAGE + 5 tags t00000 ... t10004 (sorted order = numeric order)."""
    c = Client(registry.url, auth=getattr(registry, "auth", None))
    repo = f"conf/many-tags-{uuid.uuid4().hex[:10]}"
    img = push_image(c, repo, nlayers=1)
    tags = [f"t{i:05d}" for i in range(MAX_PAGE + 5)]
    _tag_in_batches(c, repo, img, tags)
    assert not c.server_errors, c.server_errors
    return repo, tags


def _next(r, path, n, last):
    """The Link of `r` names `path` with exactly n=<n> and last=<last>; returns its URL."""
    link = parse_link(r.headers.get("Link"))
    assert link, f"no Link rel=\"next\" in {r.url}: {dict(r.headers)}"
    assert _link_query(link, path) == {"n": str(n), "last": last}, link
    return urllib.parse.urljoin(r.url, link)


@pytest.mark.berth
def test_tags_list_default_page_is_1000(client, many_tags):
    """Without `n` a page holds exactly 1000 tags and links to the next; following the links
    lists every tag once, in order."""
    repo, tags = many_tags
    path = f"/v2/{repo}/tags/list"
    r = client.get(path)
    assert_status(r, 200)
    assert r.json() == {"name": repo, "tags": tags[:DEFAULT_PAGE]}
    seen, pages = [], 0
    while True:
        page = r.json()["tags"]
        assert page == tags[len(seen):len(seen) + DEFAULT_PAGE]
        seen += page
        pages += 1
        if len(seen) == len(tags):
            assert not parse_link(r.headers.get("Link")), r.headers.get("Link")
            break
        r = client.get(_next(r, path, DEFAULT_PAGE, seen[-1]))
        assert_status(r, 200)
    assert seen == tags
    assert pages == len(tags) // DEFAULT_PAGE + 1


@pytest.mark.berth
@pytest.mark.parametrize("n", ["10000", "10001", "20000", "4294967296", "99999999999999999999999"])
def test_tags_list_n_capped_at_10000(client, many_tags, n):
    """`n` above 10000 (however large) gives a page of exactly 10000 tags whose Link carries
    the capped n=10000; the next page holds the rest."""
    repo, tags = many_tags
    path = f"/v2/{repo}/tags/list"
    r = client.get(path, params={"n": n})
    assert_status(r, 200)
    assert r.json() == {"name": repo, "tags": tags[:MAX_PAGE]}
    r = client.get(_next(r, path, MAX_PAGE, tags[MAX_PAGE - 1]))
    assert_status(r, 200)
    assert r.json() == {"name": repo, "tags": tags[MAX_PAGE:]}
    assert not parse_link(r.headers.get("Link"))


@pytest.mark.berth
def test_catalog_default_page_is_1000(client, repo):
    """1001 repositories under one prefix: the catalog without `n` returns exactly the first
    1000 of them after `last=<prefix>`, and its Link leads to the 1001st."""
    d = push_blob(client, repo, b"catalog page seed")
    prefix = f"conf/catpage1000-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}/r{i:04d}" for i in range(DEFAULT_PAGE + 1)]

    def mount_into(some):  # a cross-repository mount creates the repository without new data
        c = Client(client.base, auth=client.session.auth)
        for name in some:
            assert_status(c.post(f"/v2/{name}/blobs/uploads/", params={"mount": d, "from": repo}), 201)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for f in [pool.submit(mount_into, names[i::4]) for i in range(4)]:
            f.result()
    r = client.get("/v2/_catalog", params={"last": prefix})
    assert_status(r, 200)
    assert r.json() == {"repositories": names[:DEFAULT_PAGE]}
    r = client.get(_next(r, "/v2/_catalog", DEFAULT_PAGE, names[DEFAULT_PAGE - 1]))
    assert_status(r, 200)
    rest = r.json()["repositories"]
    assert rest[0] == names[DEFAULT_PAGE]
    assert rest == sorted(rest) and all(x > names[-1] for x in rest[1:])
    # from the start, with no parameter at all: every page but the last holds exactly 1000,
    # and the walk lists every repository once, in order, ours among them
    url, walked = "/v2/_catalog", []
    while url:
        r = client.get(url)
        assert_status(r, 200)
        page = r.json()["repositories"]
        nxt = parse_link(r.headers.get("Link"))
        if nxt:
            assert len(page) == DEFAULT_PAGE
            url = _next(r, "/v2/_catalog", DEFAULT_PAGE, page[-1])
        else:
            assert 0 < len(page) <= DEFAULT_PAGE
            url = None
        walked += page
    assert walked == sorted(set(walked))
    assert len(walked) > DEFAULT_PAGE
    pos = walked.index(names[0])
    assert walked[pos:pos + len(names)] == names


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
    assert "OCI-Filters-Applied" not in r.headers


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
                   "artifactType": "application/vnd.example.bundle"}]


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
