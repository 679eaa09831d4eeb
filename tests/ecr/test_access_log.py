"""The access log (`log.access`, target `berth::access`): one line per HTTP request on every
surface (/v2, /token, the ECR API, /download, /healthz, unknown paths), with method, path,
status, bytes sent and received, duration, principal and client; written when the response body
has been sent. Nothing secret is ever in it: no credentials, tokens, query strings or download
tokens. `BERTH_LOG__ACCESS=false` turns it off.

Each module server logs JSON (`BERTH_LOG__FORMAT=json`) so lines are parsed, not grepped. The
requests of a test are made through a `requests` session whose responses are recorded, and the
access lines written since the test began are compared with them one for one, in order."""
import base64
import json
import os
import urllib.parse

import pytest
import requests

import ecrhelp as eh
from berth_server import BerthServer
from testkit import wait_until
from ociimage import Image
from v2client import Client

ACCESS = "berth::access"
FIELDS = {"method", "path", "status", "bytes_sent", "bytes_received", "duration_ms",
          "principal", "client", "complete"}


@pytest.fixture(scope="module")
def logged():
    with BerthServer(env=dict(eh.SHARED_ENV, BERTH_LOG__FORMAT="json")) as srv:
        yield srv


class Log:
    """The server's log from a point on: access lines parsed, and the raw text."""

    def __init__(self, server):
        self.path = server.log_path
        self.start = os.path.getsize(self.path)

    def text(self):
        with open(self.path, "rb") as f:
            f.seek(self.start)
            return f.read().decode(errors="replace")

    def access(self):
        out = []
        for line in self.text().splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if event.get("target") == ACCESS:
                out.append(event["fields"])
        return out

    def wait_for(self, n):
        """The access lines once there are (at least) `n`: each is written when its response body
        has been sent, which may be just after the client has read it."""
        return wait_until(lambda: (lambda a: a if len(a) >= n else None)(self.access()), 10,
                          f"{n} access log lines")


class Recorder:
    """A session that remembers every response it got."""

    def __init__(self):
        self.responses = []
        self.session = requests.Session()
        self.session.hooks["response"].append(lambda r, *a, **kw: self.responses.append(r))


def client(server, auth, rec):
    c = Client(server.url, auth)
    c.s = rec.session
    return c


def assert_lines_match(lines, responses, principal, access_key):
    """Exactly one line per response, in order, with that response's method, path, status and
    body size, attributed to `principal`."""
    assert len(lines) == len(responses), (
        f"{len(lines)} access lines for {len(responses)} requests:\n"
        + "\n".join(json.dumps(x) for x in lines))
    for line, r in zip(lines, responses):
        assert FIELDS <= set(line), line
        assert line["message"] == "request"
        assert line["method"] == r.request.method, (line, r.request.url)
        assert line["path"] == urllib.parse.urlsplit(r.request.url).path, line
        assert line["status"] == r.status_code, line
        sent = 0 if r.request.method == "HEAD" else len(r.content)
        assert line["bytes_sent"] == sent, (line, r.request.url)
        assert line["bytes_received"] == len(r.request.body or b""), (line, r.request.url)
        assert line["complete"] is True, line
        assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0, line
        assert line["client"].startswith("127.0.0.1:"), line
        assert line["principal"] == principal, line
        assert line.get("access_key") == access_key, line
        assert "?" not in line["path"], line


def test_push_and_pull_log_one_line_per_request(logged):
    log = Log(logged)
    rec = Recorder()
    c = client(logged, eh.basic(*logged.admin), rec)
    repo = eh.unique("log") + "/app"
    img = c.push_image(repo, "v1")
    c.pull_image(repo, "v1", img)
    lines = log.wait_for(len(rec.responses))
    assert_lines_match(lines, rec.responses, eh.user_arn("admin"), logged.admin[0])
    # The pushes were the uploads' POSTs, PUTs and the manifest PUT; the pulls the GETs.
    statuses = {(x["method"], x["status"]) for x in lines}
    assert {("POST", 202), ("PUT", 201), ("GET", 200), ("HEAD", 200)} <= statuses
    layer = next(x for x in lines if x["method"] == "GET" and x["path"].endswith(img.layer_digest))
    assert layer["bytes_sent"] == len(img.layer)
    # The layer's PUT carried its bytes.
    put = next(x for x in lines if x["method"] == "PUT" and x["status"] == 201
               and x["bytes_received"] == len(img.layer))
    assert "/blobs/uploads/" in put["path"]


def test_token_flow_logs_the_principal(logged):
    """A login through the token service, then a pull with the bearer token: both lines name
    the administrator; neither the password nor the token is in the log."""
    log = Log(logged)
    rec = Recorder()
    key_id, secret = logged.admin
    r = rec.session.get(logged.url + "/token", params={"service": "berth", "scope": "registry:catalog:*"},
                        auth=(key_id, secret), timeout=30)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    r = rec.session.get(logged.url + "/v2/_catalog", auth=eh.HeaderAuth(f"Bearer {token}"),
                        timeout=30)
    assert r.status_code == 200, r.text
    lines = log.wait_for(2)
    assert_lines_match(lines, rec.responses, eh.user_arn("admin"), key_id)
    text = log.text()
    for secret_text in (secret, token, base64.b64encode(f"{key_id}:{secret}".encode()).decode(),
                        "service=berth", "scope="):
        assert secret_text not in text


def test_refused_logins_are_logged_as_anonymous(logged):
    log = Log(logged)
    rec = Recorder()
    key_id, _ = logged.admin
    wrong = "not-the-secret-" + eh.unique()
    r = rec.session.get(logged.url + "/token", params={"service": "berth"}, auth=(key_id, wrong),
                        timeout=30)
    assert r.status_code == 401
    r = rec.session.get(logged.url + "/v2/", auth=eh.basic(key_id, wrong), timeout=30)
    assert r.status_code == 401
    r = rec.session.post(logged.url + "/token", timeout=30,
                         data={"grant_type": "password", "username": key_id, "password": wrong,
                               "service": "berth"})
    assert r.status_code == 401
    lines = log.wait_for(3)
    assert_lines_match(lines, rec.responses, "anonymous", None)
    assert wrong not in log.text()


def test_ecr_api_calls_name_the_operation(logged):
    log = Log(logged)
    ecr = eh.boto_client(logged, logged.admin)
    repo = eh.unique("log")
    ecr.create_repository(repositoryName=repo)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    with pytest.raises(Exception) as e:
        ecr.describe_repositories(repositoryNames=[eh.unique("missing")])
    eh.client_error(e.value, "RepositoryNotFoundException")
    lines = log.wait_for(3)
    assert [(x["method"], x["path"], x["operation"], x["status"]) for x in lines] == [
        ("POST", "/", "CreateRepository", 200),
        ("POST", "/", "GetAuthorizationToken", 200),
        ("POST", "/", "DescribeRepositories", 400),
    ]
    for x in lines:
        assert x["principal"] == eh.user_arn("admin") and x["access_key"] == logged.admin[0], x
        assert x["bytes_sent"] > 0 and x["bytes_received"] > 0, x
    text = log.text()
    password = base64.b64decode(token).decode().split(":", 1)[1]
    assert token not in text and password not in text and logged.admin[1] not in text
    # A call that is not signed at all is anonymous, refused, and logged too.
    r = eh.post(logged, {"x-amz-target": eh.TARGET_PREFIX + "ListImages"})
    eh.assert_error(r, "MissingAuthenticationTokenException", status=403)
    line = log.wait_for(4)[3]
    assert (line["operation"], line["status"], line["principal"]) == ("ListImages", 403, "anonymous")


def test_downloads_operational_and_unknown_paths(logged):
    """Download URLs are logged without their token; /healthz, /readyz and unknown paths are
    logged too."""
    log = Log(logged)
    setup = Recorder()
    repo = eh.unique("log") + "/app"
    img = client(logged, eh.basic(*logged.admin), setup).push_image(repo, "v1")
    ecr = eh.boto_client(logged, logged.admin)
    url = ecr.get_download_url_for_layer(repositoryName=repo,
                                         layerDigest=img.layer_digest)["downloadUrl"]
    start = len(setup.responses) + 1
    log.wait_for(start)
    rec = Recorder()
    for u in (url, logged.url + "/healthz", logged.url + "/readyz", logged.url + "/no/such/path"):
        rec.session.get(u, auth=eh.ANON, timeout=30, allow_redirects=False)
    assert [r.status_code for r in rec.responses] == [200, 200, 200, 404]
    assert rec.responses[0].content == img.layer
    lines = log.wait_for(start + 4)[start:]
    assert [(x["path"], x["status"], x["bytes_sent"]) for x in lines] == [
        ("/download/<token>", 200, len(img.layer)),
        ("/healthz", 200, len(rec.responses[1].content)),
        ("/readyz", 200, len(rec.responses[2].content)),
        ("/no/such/path", 404, len(rec.responses[3].content)),
    ]
    # The download stands for the caller who asked for the URL.
    assert lines[0]["principal"] == eh.user_arn("admin"), lines[0]
    assert lines[1]["principal"] == "anonymous", lines[1]
    assert urllib.parse.urlsplit(url).path.split("/")[-1] not in log.text()


def test_an_abandoned_download_is_logged_incomplete(logged):
    """A client that stops reading a large blob: the line is written when the server gives up,
    with the bytes actually sent and complete=false."""
    admin = eh.basic(*logged.admin)
    repo = eh.unique("log") + "/big"
    big = os.urandom(32 * 1024 * 1024)
    img = Image(layers=[big])
    Client(logged.url, admin).push_image(repo, "v1", img)
    log = Log(logged)
    path = f"/v2/{repo}/blobs/{img.layer_digest}"
    r = requests.get(logged.url + path, auth=admin, stream=True, timeout=30)
    assert r.status_code == 200
    r.raw.read(1024)
    r.close()  # the connection goes away with most of the blob unsent

    def line():
        found = [x for x in log.access() if x["path"] == path and x["method"] == "GET"]
        return found[0] if found else None
    got = wait_until(line, 10, "the access line of the abandoned download")
    assert got["status"] == 200 and got["complete"] is False, got
    assert 1024 <= got["bytes_sent"] < len(big), got


def test_access_log_off():
    with BerthServer(env=dict(eh.SHARED_ENV, BERTH_LOG__FORMAT="json",
                              BERTH_LOG__ACCESS="false")) as srv:
        log = Log(srv)
        admin = eh.basic(*srv.admin)
        repo = eh.unique("off") + "/app"
        img = eh.push_image(srv, admin, repo, "v1")
        Client(srv.url, admin).pull_image(repo, "v1", img)
        eh.boto_client(srv, srv.admin).describe_repositories()
        assert requests.get(srv.url + "/v2/", auth=eh.basic(srv.admin[0], "wrong"),
                            timeout=30).status_code == 401
        assert requests.get(srv.url + "/healthz", timeout=30).status_code == 200
        # Something else is still logged at info (the server is not silent), but no access line.
        assert log.access() == []
        with open(srv.log_path) as f:
            assert "berth is serving" in f.read()


def test_an_abandoned_upload_is_logged(logged):
    """A client that goes away in the middle of sending a blob: one line, with the bytes the
    server received and what it answered: 400 for the truncated body (or nginx's 499, not
    complete, had the server dropped the request before answering)."""
    import socket
    admin = eh.basic(*logged.admin)
    repo = eh.unique("log") + "/cut"
    r = requests.post(f"{logged.url}/v2/{repo}/blobs/uploads/", auth=admin, timeout=30)
    assert r.status_code == 202, r.text
    path = urllib.parse.urlsplit(r.headers["Location"]).path
    log = Log(logged)
    sent = 64 * 1024
    with socket.create_connection(("127.0.0.1", logged.port), timeout=30) as s:
        s.sendall((f"PATCH {path} HTTP/1.1\r\nHost: {logged.hostport}\r\n"
                   f"Authorization: {admin.value}\r\nContent-Type: application/octet-stream\r\n"
                   f"Content-Length: {10 * 1024 * 1024}\r\n\r\n").encode() + b"x" * sent)

        def received():
            found = [x for x in log.access() if x["path"] == path]
            return found or None
        # Nothing is logged while the request is still coming in.
        assert log.access() == []
    lines = wait_until(received, 10, "the access line of the abandoned upload")
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["method"] == "PATCH" and line["status"] in (400, 499), line
    if line["status"] == 499:
        assert line["complete"] is False and line["bytes_sent"] == 0, line
    assert line["principal"] == eh.user_arn("admin"), line
    assert line["bytes_received"] <= sent, line
