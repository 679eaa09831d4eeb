"""Helpers for the authentication/authorization suite: explicit-credential HTTP clients,
minimal OCI images pushed through the API, the Docker token flow, challenge parsing, and
hand-built JWTs (no PyJWT: HS256 with hmac + hashlib).

Every request passes an explicit `auth=` object, so that a monkeypatched
`requests.Session.request` (the harness's `auto_auth`, used by other suites) never adds
administrator credentials to what is meant to be anonymous."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import uuid

import requests
from testkit import ACCOUNT, ANON, REGION, HeaderAuth, basic, basic_value, eventually, repo_arn, user_arn  # noqa: F401  (re-exported)
from ociimage import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Image, sha256  # noqa: F401  (re-exported)
from v2client import Client  # noqa: F401  (re-exported)

TIMEOUT = 30



def unique(prefix="r"):
    """A fresh, valid, lowercase repository-name component."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def denied_message(principal, action, repo, explicit=False):
    why = ("with an explicit deny" if explicit
           else f"because no identity-based policy allows the {action} action")
    return (f"User: {user_arn(principal)} is not authorized to perform: {action} "
            f"on resource: {repo_arn(repo)} {why}")


# ---- credentials ----------------------------------------------------------------------------


def bearer(token):
    return HeaderAuth(f"Bearer {token}")




# ---- images ---------------------------------------------------------------------------------


def location(base, r):
    loc = r.headers["Location"]
    return loc if loc.startswith("http") else base + loc


def start_upload(c, repo):
    return c.post(f"/v2/{repo}/blobs/uploads/")


# The pushes and pulls are the harness client's (tests/harness/v2client.py); these keep the
# suite's call style `ah.push_image(client, ...)`.

def push_blob(c, repo, data):
    return c.push_blob(repo, data)


def put_manifest(c, repo, ref, img):
    return c.put_manifest(repo, ref, img.manifest)


def push_image(c, repo, tag="latest", img=None):
    return c.push_image(repo, tag, img)


def pull_image(c, repo, ref, img):
    c.pull_image(repo, ref, img)


def error_codes(r):
    try:
        return [e.get("code") for e in r.json().get("errors", [])]
    except ValueError:
        return []


def error_codes_of(body):
    """The error codes of a raw response body (bytes)."""
    try:
        return [e.get("code") for e in json.loads(body).get("errors", [])]
    except ValueError:
        return []


def error_messages(r):
    try:
        return [e.get("message") for e in r.json().get("errors", [])]
    except ValueError:
        return []


# ---- challenges and tokens ------------------------------------------------------------------

_PARAM = re.compile(r'\s*([A-Za-z_]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')


def parse_challenge(value):
    """`Bearer realm="..",service="..",scope=".."` -> ("bearer", {params}). Quoted values
    may contain commas (scopes do). Raises AssertionError if the header is malformed."""
    assert value, "no WWW-Authenticate header"
    scheme, _, rest = value.strip().partition(" ")
    params = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        assert m, f"malformed challenge parameters at {rest[pos:]!r} in {value!r}"
        assert m.group(1) not in params, f"duplicate parameter {m.group(1)} in {value!r}"
        params[m.group(1)] = m.group(2)
        pos = m.end()
    return scheme.lower(), params


def challenge_of(r):
    return parse_challenge(r.headers.get("WWW-Authenticate"))


def assert_challenge(r, url, scope=None, error=None, service="berth"):
    """`r` is a 401 Bearer challenge pointing at `url`/token with exactly these parameters."""
    assert r.status_code == 401, f"expected 401, got {r.status_code} {r.headers} {r.text}"
    assert r.headers.get("Docker-Distribution-API-Version") == "registry/2.0"
    scheme, p = challenge_of(r)
    assert scheme == "bearer", r.headers.get("WWW-Authenticate")
    assert p.get("realm") == url.rstrip("/") + "/token", p
    assert p.get("service") == service, p
    assert p.get("scope") == scope, p
    assert p.get("error") == error, p
    assert "UNAUTHORIZED" in error_codes(r), r.text
    return p


def assert_denied(r, principal, action, repo, explicit=False):
    assert r.status_code == 403, f"expected 403, got {r.status_code} {r.text}"
    assert error_codes(r) == ["DENIED"], r.text
    assert error_messages(r) == [denied_message(principal, action, repo, explicit)], r.text


def get_token(url, auth=ANON, scopes=(), service="berth", offline=False, headers=None, extra=None):
    params = []
    if service is not None:
        params.append(("service", service))
    params += [("scope", s) for s in scopes]
    if offline:
        params.append(("offline_token", "true"))
    params += list(extra or [])
    return requests.get(url.rstrip("/") + "/token", params=params, auth=auth,
                        headers=headers or {}, timeout=TIMEOUT)


def token_for(url, auth=ANON, scopes=(), **kw):
    """A token (asserting 200), and the response body."""
    r = get_token(url, auth, scopes, **kw)
    assert r.status_code == 200, f"GET /token: {r.status_code} {r.text}"
    body = r.json()
    return body["token"], body


def post_token(url, form, auth=ANON):
    return requests.post(url.rstrip("/") + "/token", data=form, auth=auth, timeout=TIMEOUT)


def granted(body):
    """The space-separated `scope` of a token response, as a set."""
    return set(s for s in body.get("scope", "").split(" ") if s)


# ---- JWTs -----------------------------------------------------------------------------------


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def jwt_claims(token):
    return jwt_parts(token)[1]


def enc_json(obj):
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def sign_hs256(header, claims, key):
    signing_input = f"{enc_json(header)}.{enc_json(claims)}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(sig)}"


def random_key():
    return os.urandom(32)


# ---- raw HTTP (paths exactly as written: no dot-segment normalisation) ----------------------


def raw_request(url, method, path, headers=None, body=None):
    """(status, headers dict lower-cased, body bytes) for a request whose path is sent
    byte for byte (requests/urllib3 would resolve `..`)."""
    host, port = url.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def raw_request_from(url, source_ip, method, path, headers=None):
    """Like raw_request, from a chosen loopback source address (e.g. 127.0.0.2)."""
    host, port = url.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT,
                                      source_address=(source_ip, 0))
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


# ---- the Docker token flow ------------------------------------------------------------------


class TokenFlowClient(Client):
    """Talks to /v2 the way docker does: no credentials first; on a 401 challenge, asks the
    realm for a token with the challenge's service and scope using Basic credentials, and
    retries with the bearer token. Never sends Basic credentials to /v2."""

    def __init__(self, url, user, password):
        super().__init__(url)
        self.user, self.password = user, password
        self.current = None
        self.token_requests = []
        self.sent = []

    def req(self, method, path, **kw):
        self.auth = bearer(self.current) if self.current else ANON
        r = super().req(method, path, **kw)
        self.sent.append(self.auth.value)
        if r.status_code != 401:
            return r
        scheme, p = challenge_of(r)
        assert scheme == "bearer", r.headers
        assert p.get("realm") and p.get("service"), p
        params = [("service", p["service"])]
        if p.get("scope"):
            params.append(("scope", p["scope"]))
        tr = requests.get(p["realm"], params=params, auth=basic(self.user, self.password),
                          timeout=TIMEOUT)
        self.token_requests.append((p.get("scope"), tr.status_code))
        assert tr.status_code == 200, f"token request for {p.get('scope')}: {tr.status_code} {tr.text}"
        self.current = tr.json()["token"]
        self.auth = bearer(self.current)
        r = super().req(method, path, **kw)
        self.sent.append(self.auth.value)
        return r


def request_from(url, source_ip, method, path, headers=None, body=None):
    """Like raw_request_from, with a body."""
    host, port = url.split("://", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT,
                                      source_address=(source_ip, 0))
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def ecr_call_from(url, source_ip, key_id, secret, op, payload=None, region=REGION):
    """An Amazon ECR API call signed by botocore's SigV4 signer (as boto3 and the aws CLI sign)
    with (key_id, secret), sent from a chosen loopback source address: (status, headers,
    parsed JSON body). boto3 itself cannot pick the source address."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps(payload or {}).encode()
    req = AWSRequest(method="POST", url=url.rstrip("/") + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921." + op,
    })
    SigV4Auth(Credentials(key_id, secret), "ecr", region).add_auth(req)
    status, headers, raw = request_from(url, source_ip, "POST", "/", dict(req.headers.items()), body)
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {"raw": raw.decode(errors="replace")}
    return status, headers, doc
