"""Helpers for the ECR API suite (tests/ecr): a hand-written SigV4 signer (hashlib + hmac, checked
against AWS's published example in test_protocol.py), raw signed requests, isolated boto3 clients
and `aws` CLI runs, AWS JSON error assertions, and minimal OCI images pushed through /v2.

Raw requests always pass an explicit `auth=` object, so that a monkeypatched
`requests.Session.request` (the harness's `auto_auth`, used by other suites) never adds
administrator credentials to what is meant to be unauthenticated or SigV4-signed."""
import datetime
import hashlib
import hmac
import json
import os
import re
import subprocess
import tempfile
import urllib.parse
import uuid

# The aws CLI under test: AWS_CLI if set, else Debian's v2 (/usr/bin/aws, installed by
# scripts/install-deps.sh), else whatever `aws` is on PATH.
AWS_CLI = os.environ.get("AWS_CLI") or ("/usr/bin/aws" if os.path.exists("/usr/bin/aws") else "aws")

import requests
from testkit import ACCOUNT, ANON, REGION, HeaderAuth, basic, eventually, repo_arn, user_arn  # noqa: F401  (re-exported)
from ociimage import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Image, sha256  # noqa: F401  (re-exported)
from v2client import Client
import principals
import testkit

TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
JSON_11 = "application/x-amz-json-1.1"
TIMEOUT = 30


INVALID_REPO_POLICY = ("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                       "'Invalid repository policy provided")
INVALID_REGISTRY_POLICY = ("Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                           "'Invalid registry policy provided")
BAD_TOKEN = "The security token included in the request is invalid."


# The harness's shared-server settings (bad credentials and signatures presented on purpose
# must not lock the test machine out).
SHARED_ENV = testkit.SHARED_ENV


def unique(prefix="r"):
    """A fresh, valid, lowercase repository-name component."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def resource_policy(statements):
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def identity_policy(actions, resources="*", effect="Allow"):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": effect, "Action": actions, "Resource": resources}]})


# ---- SigV4 ----------------------------------------------------------------------------------


def sha256_hex(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _uri_encode(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_request(method, path, query, headers, signed, body):
    """`headers`: {lower-case name: value}; `signed`: sorted lower-case names."""
    pairs = urllib.parse.parse_qsl(query or "", keep_blank_values=True)
    cq = "&".join(sorted(f"{_uri_encode(k)}={_uri_encode(v)}" for k, v in pairs))
    ch = "".join(f"{h}:{' '.join(str(headers[h]).split())}\n" for h in signed)
    return "\n".join([method, path, cq, ch, ";".join(signed), sha256_hex(body)])


def string_to_sign(amz_date, scope, creq):
    return "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, sha256_hex(creq)])


def sign(secret, method, path, query, headers, body, *, amz_date, scope_date=None,
         region=REGION, service="ecr", signed=None):
    """The hex signature of a request. `headers` keys are lower-case."""
    signed = sorted(signed if signed is not None else headers)
    scope_date = scope_date or amz_date[:8]
    scope = f"{scope_date}/{region}/{service}/aws4_request"
    creq = canonical_request(method, path, query, headers, signed, body)
    sts = string_to_sign(amz_date, scope, creq)
    return hmac.new(signing_key(secret, scope_date, region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


def authorization(key_id, scope_date, region, service, signed, signature):
    return (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope_date}/{region}/{service}/aws4_request, "
            f"SignedHeaders={';'.join(sorted(signed))}, Signature={signature}")


def amz_date(when=None):
    when = when if when is not None else datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y%m%dT%H%M%SZ")


def signed_headers(server, key, op=None, body=b"{}", *, target=None, when=None, scope_date=None,
                   region=REGION, service="ecr", extra=None, signed=None):
    """Headers (lower-case names, Authorization included) of a correctly signed ECR call.
    `key` = (access key id, secret); `target` overrides the X-Amz-Target value (None: the
    prefix + `op`; False: no X-Amz-Target header)."""
    key_id, secret = key
    date = amz_date(when)
    h = {"host": server.hostport, "content-type": JSON_11, "x-amz-date": date}
    if target is None:
        target = TARGET_PREFIX + op
    if target is not False:
        h["x-amz-target"] = target
    h.update({k.lower(): v for k, v in (extra or {}).items()})
    names = sorted(signed if signed is not None else h)
    scope_date = scope_date or date[:8]
    sig = sign(secret, "POST", "/", "", h, body, amz_date=date, scope_date=scope_date,
               region=region, service=service, signed=names)
    h["authorization"] = authorization(key_id, scope_date, region, service, names, sig)
    return h


def post(server, headers, body=b"{}"):
    """POST / with exactly these headers (Authorization included or not) and body."""
    headers = dict(headers)
    auth_value = headers.pop("authorization", None)
    if isinstance(body, str):
        body = body.encode()
    return requests.post(server.url + "/", data=body, headers=headers,
                         auth=HeaderAuth(auth_value), timeout=TIMEOUT, allow_redirects=False)


def call(server, key, op, body=b"{}", **kw):
    """A correctly signed raw ECR call; `body` may be a dict (JSON-encoded) or bytes/str."""
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    if isinstance(body, str):
        body = body.encode()
    return post(server, signed_headers(server, key, op, body, **kw), body)


def describe(r):
    return f"{r.request.method} {r.request.url} -> {r.status_code} {dict(r.headers)} {r.text[:500]}"


def assert_ok(r):
    assert r.status_code == 200, describe(r)
    assert r.headers.get("Content-Type") == JSON_11, describe(r)
    assert r.headers.get("x-amzn-RequestId"), describe(r)
    assert "X-Amzn-ErrorType" not in r.headers, describe(r)
    return r.json()


def assert_error(r, kind, status=400, message=None, startswith=None, contains=None):
    """`r` is an AWS JSON 1.1 error of type `kind`: the status, a body with `__type` and
    `message`, `X-Amzn-ErrorType` equal to `__type`, `x-amzn-RequestId`, the JSON 1.1 content
    type; never a 500. Returns the message."""
    assert r.status_code != 500, f"server fault: {describe(r)}"
    assert r.status_code == status, f"expected {status} {kind}: {describe(r)}"
    assert r.headers.get("Content-Type") == JSON_11, describe(r)
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {describe(r)}")
    assert isinstance(body, dict), describe(r)
    assert body.get("__type") == kind, f"expected {kind}: {describe(r)}"
    msg = body.get("message")
    assert isinstance(msg, str) and msg, describe(r)
    assert r.headers.get("X-Amzn-ErrorType") == kind, describe(r)
    assert r.headers.get("x-amzn-RequestId"), describe(r)
    if message is not None:
        assert msg == message, f"message {msg!r} != {message!r}"
    if startswith is not None:
        assert msg.startswith(startswith), f"message {msg!r} does not start with {startswith!r}"
    if contains is not None:
        assert contains in msg, f"message {msg!r} does not contain {contains!r}"
    return msg


# ---- boto3 and the aws CLI, isolated from any developer configuration -----------------------

_NOWHERE = os.path.join(tempfile.gettempdir(), f"berth-ecr-tests-nonexistent-{uuid.uuid4().hex}")


def boto_client(server, key, region=REGION, validate=True, session_token=None):
    """A boto3 ECR client for `server` with the explicit credentials `key`. No config or
    credentials file is read and nothing is retried (a fault shows at once)."""
    import boto3
    import botocore.config
    import botocore.session

    # A profile named in the environment would have to exist in the (absent) config file.
    saved = {k: os.environ.pop(k) for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if k in os.environ}
    try:
        bs = botocore.session.Session()
        bs.set_config_variable("config_file", _NOWHERE + "/config")
        bs.set_config_variable("credentials_file", _NOWHERE + "/credentials")
        session = boto3.session.Session(botocore_session=bs)
        cfg = botocore.config.Config(retries={"mode": "standard", "max_attempts": 1},
                                     parameter_validation=validate,
                                     connect_timeout=10, read_timeout=TIMEOUT)
        return session.client("ecr", endpoint_url=server.url, region_name=region,
                              aws_access_key_id=key[0], aws_secret_access_key=key[1],
                              aws_session_token=session_token, config=cfg)
    finally:
        os.environ.update(saved)


def client_error(excinfo_value, kind, status=400):
    """The botocore ClientError is of type `kind` with AWS's error headers; returns the message."""
    resp = excinfo_value.response
    err = resp["Error"]
    meta = resp["ResponseMetadata"]
    assert err["Code"] == kind, f"expected {kind}: {resp}"
    assert meta["HTTPStatusCode"] == status, resp
    headers = {k.lower(): v for k, v in meta["HTTPHeaders"].items()}
    assert headers.get("x-amzn-errortype") == kind, resp
    assert headers.get("content-type") == JSON_11, resp
    assert meta.get("RequestId"), resp
    return err["Message"]


def cli_env(key, extra=None):
    """The environment for the `aws` CLI: no AWS_* variable of the caller (profiles,
    endpoints, CA bundles, session tokens), nonexistent config/credentials files, `key`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_CONFIG_FILE": _NOWHERE + "/config",
        "AWS_SHARED_CREDENTIALS_FILE": _NOWHERE + "/credentials",
        "AWS_PAGER": "",
        "AWS_RETRY_MODE": "standard",
        "AWS_MAX_ATTEMPTS": "1",
    })
    env.update(extra or {})
    return env


def aws_args(server, *args):
    return [AWS_CLI, "ecr", *args, "--endpoint-url", server.url, "--region", REGION,
            "--output", "json"]


def aws(server, key, *args, check=True):
    """Run `aws ecr ARGS` against `server`; with check, assert success and return the parsed
    JSON output (None when there is none). Without check, return the CompletedProcess."""
    out = subprocess.run(aws_args(server, *args), env=cli_env(key), capture_output=True,
                         text=True, timeout=120)
    if not check:
        return out
    assert out.returncode == 0, f"aws ecr {' '.join(args)}: rc={out.returncode} {out.stderr}"
    return json.loads(out.stdout) if out.stdout.strip() else None


def assert_cli_error(out, kind, operation, message=None, startswith=None):
    """A failed `aws` run that printed AWS's error line for `kind` (exit code 255 from CLI v1,
    254 from v2)."""
    assert out.returncode in (254, 255), f"rc={out.returncode} stdout={out.stdout!r} stderr={out.stderr!r}"
    m = re.search(r"An error occurred \((\w+)\) when calling the (\w+) operation"
                  r"(?: \(reached max retries: \d+\))?: (.*)", out.stderr)
    assert m, out.stderr
    assert m.group(1) == kind and m.group(2) == operation, out.stderr
    msg = m.group(3).strip()
    if message is not None:
        assert msg == message, f"{msg!r} != {message!r}"
    if startswith is not None:
        assert msg.startswith(startswith), f"{msg!r} does not start with {startswith!r}"
    return msg


# ---- principals ----------------------------------------------------------------------------


def create_principal(server, policies=(), name=None):
    """A principal with `policies` ([(name, document)]) attached before its access key is
    created. Returns at once: callers poll for the outcome they expect (identity changes
    reach the server within about a second)."""
    return principals.create_principal(server, policies, name=name or unique("p"), wait=False)


def wait_known(server, key):
    """Wait until the server knows the access key: a signed call is no longer refused as
    UnrecognizedClientException. Returns the last response."""
    def known():
        r = call(server, key, "GetAuthorizationToken")
        assert r.status_code != 500, describe(r)
        if r.status_code != 200:
            assert r.json().get("__type") != "UnrecognizedClientException", describe(r)
        return r
    return eventually(known)


# ---- /v2 and images -------------------------------------------------------------------------


def v2(server, method, path, auth, **kw):
    """One /v2 request with exactly the credentials `auth` (None: anonymous)."""
    return Client(server.url, auth).req(method, path, **kw)


def push_image(server, auth, repo, tag="latest", img=None):
    """Push a fresh minimal image to `repo` through /v2 (creating the repository)."""
    return Client(server.url, auth).push_image(repo, tag, img)


def get_manifest(server, auth, repo, ref):
    return v2(server, "GET", f"/v2/{repo}/manifests/{ref}", auth,
              headers={"Accept": OCI_MANIFEST})
