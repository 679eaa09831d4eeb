"""auth.enabled = false: anyone who reaches the port may push, pull and delete."""
import authhelp as ah


def test_auth_disabled_allows_everything_anonymously(new_server):
    srv = new_server({"BERTH_AUTH__ENABLED": "false"})
    anon = ah.Client(srv.url)
    r = anon.get("/v2/")
    assert r.status_code == 200, r.text
    assert "WWW-Authenticate" not in r.headers
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    repo = ah.unique("open") + "/app"
    img = ah.push_image(anon, repo, "v1")
    ah.pull_image(anon, repo, "v1", img)
    r = anon.get(f"/v2/{repo}/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["v1"], r.text
    r = anon.get("/v2/_catalog")
    assert r.status_code == 200 and repo in r.json()["repositories"], r.text
    # Mounting needs no permission either.
    other = ah.unique("open") + "/other"
    r = anon.post(f"/v2/{other}/blobs/uploads/?mount={img.layer_digest}&from={repo}")
    assert r.status_code == 201, r.text
    r = anon.delete(f"/v2/{repo}/manifests/{img.digest}")
    assert r.status_code == 202, r.text
    assert anon.get(f"/v2/{repo}/manifests/v1").status_code == 404
    # Credentials, when a client sends them anyway, are fine too.
    c = ah.Client(srv.url, ah.basic(*srv.admin))
    img2 = ah.push_image(c, repo, "v2")
    ah.pull_image(anon, repo, "v2", img2)
