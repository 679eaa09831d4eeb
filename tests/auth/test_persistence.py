"""Tokens, login passwords and refresh tokens are not tied to one process: they survive a
restart (signing keys live, sealed, in the metadata store) and, in the production deployment,
work on every replica of the registry, where identity changes apply too."""
import authhelp as ah
from berth_server import BerthServer, deployment
from conftest import SHARED_ENV


def test_tokens_survive_restart_and_work_on_replicas(new_server):
    # Polling for the new key counts failures until the server has loaded it.
    srv = new_server(SHARED_ENV)
    admin = ah.basic(*srv.admin)
    repo = ah.unique("persist") + "/app"
    img = ah.push_image(ah.Client(srv.url, admin), repo)
    name = ah.unique("p")
    srv.cli("principal", "create", name)
    srv.cli("policy", "attach", name, "rw", "-", input=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"%s"}]}'
        % ah.repo_arn(repo)))
    out = srv.cli("key", "create", name).stdout
    key_id = out.split("access_key_id = ")[1].split()[0]
    secret = out.split("secret_access_key = ")[1].split()[0]

    def good():
        assert ah.Client(srv.url, ah.basic(key_id, secret)).get("/v2/").status_code == 200
    ah.eventually(good)
    tok, body = ah.token_for(srv.url, ah.basic(key_id, secret), [f"repository:{repo}:pull"], offline=True)
    refresh = body["refresh_token"]
    login = srv.cli("key", "login-password", key_id).stdout.strip()

    def all_work(url):
        ah.pull_image(ah.Client(url, ah.bearer(tok)), repo, "latest", img)
        ah.pull_image(ah.Client(url, ah.basic("AWS", login)), repo, "latest", img)
        r = ah.post_token(url, {"grant_type": "refresh_token", "refresh_token": refresh,
                                "service": "berth", "scope": f"repository:{repo}:pull"})
        assert r.status_code == 200, r.text
        ah.pull_image(ah.Client(url, ah.bearer(r.json()["token"])), repo, "latest", img)

    all_work(srv.url)
    srv.stop()
    srv.start()
    all_work(srv.url)

    urls = [srv.url]
    if deployment() == "production":
        # A second replica over the same database and bucket.
        replica = BerthServer(env=srv.config_env, admin=srv.admin)
        try:
            replica.start()
            urls.append(replica.url)
            all_work(replica.url)
            # A token the replica issues works on the first server.
            tok2, _ = ah.token_for(replica.url, ah.basic(key_id, secret), [f"repository:{repo}:pull"])
            ah.pull_image(ah.Client(srv.url, ah.bearer(tok2)), repo, "latest", img)
            _disable_and_check(srv, key_id, secret, tok, login, repo, urls)
        finally:
            replica.cleanup()
    else:
        _disable_and_check(srv, key_id, secret, tok, login, repo, urls)


def _disable_and_check(srv, key_id, secret, tok, login, repo, urls):
    srv.cli("key", "disable", key_id)

    def refused():
        for url in urls:
            assert ah.Client(url, ah.basic(key_id, secret)).get("/v2/").status_code == 401, url
            ah.assert_challenge(ah.Client(url, ah.bearer(tok)).get(f"/v2/{repo}/manifests/latest"),
                                url, error="invalid_token")
            assert ah.Client(url, ah.basic("AWS", login)).get("/v2/").status_code == 401, url
    ah.eventually(refused)
