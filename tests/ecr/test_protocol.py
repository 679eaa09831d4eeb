"""The ECR API's wire protocol and SigV4 verification, attacked with raw requests signed by the
suite's own signer (ecrhelp.sign), itself first checked against AWS's published example.

Replays: SigV4 does not prevent replays. AWS accepts a correctly signed request again, unchanged,
for as long as its X-Amz-Date is within 15 minutes of the server's clock, and so does Berth
(test_identical_replay_within_window_is_accepted). Any change to what was signed (body, target,
Host) breaks the signature, and requests older or newer than 15 minutes are refused."""
import base64
import datetime
import json

import botocore.exceptions
import pytest

import ecrhelp as eh

OP = "GetAuthorizationToken"
# ECR's pattern for repository names, as its errors quote it.
REPOSITORY_NAME_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"


def now():
    return datetime.datetime.now(datetime.timezone.utc)


# ---- the signer itself ----------------------------------------------------------------------


def test_signer_reproduces_the_aws_documentation_example():
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8",
               "host": "iam.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    creq = eh.canonical_request("GET", "/", "Action=ListUsers&Version=2010-05-08", headers,
                                sorted(headers), b"")
    # The canonical request's hash, as the documentation prints it.
    assert eh.sha256_hex(creq) == "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    sig = eh.sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "GET", "/",
                  "Action=ListUsers&Version=2010-05-08", headers, b"",
                  amz_date="20150830T123600Z", region="us-east-1", service="iam")
    assert sig == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_signed_call_succeeds(server, admin_key):
    r = eh.call(server, admin_key, OP)
    body = eh.assert_ok(r)
    assert len(body["authorizationData"]) == 1
    # Every response has its own request id.
    r2 = eh.call(server, admin_key, OP)
    eh.assert_ok(r2)
    assert r.headers["x-amzn-RequestId"] != r2.headers["x-amzn-RequestId"]


def test_empty_body_is_an_empty_input(server, admin_key):
    eh.assert_ok(eh.call(server, admin_key, OP, b""))


# ---- authentication failures ----------------------------------------------------------------


def test_no_authorization_header(server):
    h = {"host": server.hostport, "content-type": eh.JSON_11, "x-amz-date": eh.amz_date(),
         "x-amz-target": eh.TARGET_PREFIX + OP}
    eh.assert_error(eh.post(server, h), "MissingAuthenticationTokenException", status=403)
    # Not even a date: still the missing token.
    eh.assert_error(eh.post(server, {"x-amz-target": eh.TARGET_PREFIX + "GetRegistryPolicy"}),
                    "MissingAuthenticationTokenException", status=403)


def _with_authorization(server, admin_key, value):
    h = eh.signed_headers(server, admin_key, OP)
    h["authorization"] = value
    return eh.post(server, h)


def test_malformed_authorization_headers(server, admin_key):
    good = eh.signed_headers(server, admin_key, OP)["authorization"]
    key_id = admin_key[0]
    date = eh.amz_date()[:8]
    cred = f"Credential={key_id}/{date}/us-east-1/ecr/aws4_request"
    sig = good.rsplit("Signature=", 1)[1]
    bad = {
        "empty": "",
        "algorithm only": "AWS4-HMAC-SHA256",
        "other algorithm": good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1", 1),
        "basic credentials": "Basic " + base64.b64encode(
            f"{admin_key[0]}:{admin_key[1]}".encode()).decode(),
        "bearer": "Bearer abc.def.ghi",
        "no Credential": f"AWS4-HMAC-SHA256 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}",
        "no SignedHeaders": f"AWS4-HMAC-SHA256 {cred}, Signature={sig}",
        "no Signature": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;x-amz-date;x-amz-target",
        "SignedHeaders without host": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;x-amz-date;x-amz-target, Signature={sig}",
        "SignedHeaders without x-amz-date": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;x-amz-target, Signature={sig}",
        "SignedHeaders unsorted": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=host;content-type;x-amz-date;x-amz-target, Signature={sig}",
        "signature not hex": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={'zz' * 32}",
        "signature too short": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig[:63]}",
        "signature too long": f"AWS4-HMAC-SHA256 {cred}, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature={sig}0",
        "short credential scope": good.replace("/ecr/aws4_request", "/ecr", 1),
        "bad scope terminator": good.replace("/aws4_request", "/aws5_request", 1),
        "bad scope date": good.replace(f"/{date}/", "/2015083/", 1),
        "empty access key": good.replace(f"Credential={key_id}/", "Credential=/", 1),
        "repeated part": good + f", Signature={sig}",
        "unknown part": good + ", Extra=1",
        "only commas": "AWS4-HMAC-SHA256 ,,,,",
    }
    for what, value in bad.items():
        r = _with_authorization(server, admin_key, value)
        try:
            eh.assert_error(r, "IncompleteSignatureException")
        except AssertionError as e:
            raise AssertionError(f"{what}: Authorization {value!r}: {e}") from None


def test_wrong_secret(server, admin_key):
    r = eh.call(server, (admin_key[0], admin_key[1][:-1] + ("A" if admin_key[1][-1] != "A" else "B")), OP)
    eh.assert_error(r, "InvalidSignatureException",
                    startswith="The request signature we calculated does not match")
    # boto3 with a wrong secret gets the same.
    c = eh.boto_client(server, (admin_key[0], "wrong-secret"))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token()
    eh.client_error(ei.value, "InvalidSignatureException")


def test_unknown_access_key(server, admin_key):
    r = eh.call(server, ("AKIANOSUCHKEY0000000", admin_key[1]), OP)
    eh.assert_error(r, "UnrecognizedClientException", message=eh.BAD_TOKEN)
    c = eh.boto_client(server, ("AKIANOSUCHKEY0000001", "whatever"))
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token()
    eh.client_error(ei.value, "UnrecognizedClientException")


def test_disabled_key_is_unrecognized(server, make_principal):
    p = make_principal(("login", eh.identity_policy(["ecr:GetAuthorizationToken"])))
    eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, OP)))
    server.cli("key", "disable", p.key[0])
    eh.eventually(lambda: eh.assert_error(eh.call(server, p.key, OP), "UnrecognizedClientException",
                                          message=eh.BAD_TOKEN))
    # boto3 too.
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        eh.boto_client(server, p.key).get_authorization_token()
    eh.client_error(ei.value, "UnrecognizedClientException")
    server.cli("key", "enable", p.key[0])
    eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, OP)))


def test_disabled_principal_is_unrecognized(server, make_principal):
    p = make_principal(("login", eh.identity_policy(["ecr:GetAuthorizationToken"])))
    eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, OP)))
    server.cli("principal", "disable", p.name)
    eh.eventually(lambda: eh.assert_error(eh.call(server, p.key, OP), "UnrecognizedClientException",
                                          message=eh.BAD_TOKEN))
    server.cli("principal", "enable", p.name)
    eh.eventually(lambda: eh.assert_ok(eh.call(server, p.key, OP)))


def test_security_token_is_refused(server, admin_key):
    # Signed, and not signed: this registry issues no temporary credentials.
    r = eh.call(server, admin_key, OP, extra={"X-Amz-Security-Token": "FQoGZXIvYXdzEXAMPLE"})
    eh.assert_error(r, "UnrecognizedClientException", message=eh.BAD_TOKEN)
    h = eh.signed_headers(server, admin_key, OP)
    h["x-amz-security-token"] = "FQoGZXIvYXdzEXAMPLE"
    eh.assert_error(eh.post(server, h), "UnrecognizedClientException", message=eh.BAD_TOKEN)
    c = eh.boto_client(server, admin_key, session_token="FQoGZXIvYXdzEXAMPLE")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        c.get_authorization_token()
    eh.client_error(ei.value, "UnrecognizedClientException")


def test_other_service_in_scope(server, admin_key):
    for service in ("s3", "iam", "ecr-public", "ECR"):
        r = eh.call(server, admin_key, OP, service=service)
        eh.assert_error(r, "InvalidSignatureException", contains="ecr")


# ---- tampering and replays ------------------------------------------------------------------


def test_body_modified_after_signing(server, admin_key):
    h = eh.signed_headers(server, admin_key, OP, b"{}")
    for body in (b'{"registryIds":["000000000000"]}', b"{ }", b"{}\n", b""):
        eh.assert_error(eh.post(server, h, body), "InvalidSignatureException",
                        startswith="The request signature we calculated does not match")


def test_target_modified_after_signing_does_nothing(server, ecr, repo):
    name, _ = repo
    policy = eh.resource_policy([{"Effect": "Allow", "Principal": "*", "Action": "ecr:BatchGetImage"}])
    ecr.set_repository_policy(repositoryName=name, policyText=policy)
    body = json.dumps({"repositoryName": name}).encode()
    h = eh.signed_headers(server, server.admin, "GetRepositoryPolicy", body)
    eh.assert_ok(eh.post(server, h, body))
    h["x-amz-target"] = eh.TARGET_PREFIX + "DeleteRepositoryPolicy"
    eh.assert_error(eh.post(server, h, body), "InvalidSignatureException")
    # The policy is still there.
    assert ecr.get_repository_policy(repositoryName=name)["policyText"] == policy


def test_host_modified_after_signing(server, admin_key):
    h = eh.signed_headers(server, admin_key, OP)
    for host in ("evil.example", f"localhost:{server.port}", "127.0.0.1", f"127.0.0.1:{server.port + 1}"):
        h2 = dict(h, host=host)
        eh.assert_error(eh.post(server, h2), "InvalidSignatureException")


def test_other_signed_header_modified(server, admin_key):
    h = eh.signed_headers(server, admin_key, OP, extra={"X-Custom": "one"})
    eh.assert_ok(eh.post(server, h))
    eh.assert_error(eh.post(server, dict(h, **{"x-custom": "two"})), "InvalidSignatureException")
    # A signed header that is missing from the request.
    h2 = dict(h)
    del h2["x-custom"]
    eh.assert_error(eh.post(server, h2), "InvalidSignatureException")
    # A signed content type changed.
    eh.assert_error(eh.post(server, dict(h, **{"content-type": "application/json"})),
                    "InvalidSignatureException")


def test_identical_replay_within_window_is_accepted(server, admin_key):
    """SigV4 replays within 15 minutes are accepted, as AWS accepts them: the signature binds
    the request's content and date, not its uniqueness."""
    h = eh.signed_headers(server, admin_key, OP)
    first = eh.assert_ok(eh.post(server, h))
    again = eh.assert_ok(eh.post(server, h))
    assert len(first["authorizationData"]) == len(again["authorizationData"]) == 1
    # Unsigned headers may change in transit.
    eh.assert_ok(eh.post(server, dict(h, **{"user-agent": "replayer/1.0"})))


def test_replay_with_other_body_or_target(server, admin_key):
    h = eh.signed_headers(server, admin_key, OP, b"{}")
    eh.assert_ok(eh.post(server, h))
    eh.assert_error(eh.post(server, h, b'{"registryIds":["000000000000","000000000000"]}'),
                    "InvalidSignatureException")
    for op in ("GetRegistryPolicy", "DeleteRegistryPolicy", "NoSuchOp"):
        eh.assert_error(eh.post(server, dict(h, **{"x-amz-target": eh.TARGET_PREFIX + op})),
                        "InvalidSignatureException")


# ---- dates ----------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [-20, 20, -16, 16, -24 * 60])
def test_stale_or_future_date(server, admin_key, minutes):
    when = now() + datetime.timedelta(minutes=minutes)
    r = eh.call(server, admin_key, OP, when=when)
    eh.assert_error(r, "InvalidSignatureException", contains="Signature expired")


@pytest.mark.parametrize("minutes", [-10, 10])
def test_date_within_window(server, admin_key, minutes):
    eh.assert_ok(eh.call(server, admin_key, OP, when=now() + datetime.timedelta(minutes=minutes)))


def test_scope_date_not_matching_x_amz_date(server, admin_key):
    for days in (-1, 1, -400):
        other = (now() + datetime.timedelta(days=days)).strftime("%Y%m%d")
        r = eh.call(server, admin_key, OP, scope_date=other)
        eh.assert_error(r, "InvalidSignatureException", contains="Date in Credential scope")


def test_malformed_x_amz_date(server, admin_key):
    h = eh.signed_headers(server, admin_key, OP)
    for value in ("yesterday", eh.amz_date()[:15], eh.amz_date().replace("T", " ")):
        # A malformed signing date makes the signature incomplete, as on AWS.
        r = eh.post(server, dict(h, **{"x-amz-date": value}))
        eh.assert_error(r, "IncompleteSignatureException", message="X-Amz-Date must be yyyymmddTHHMMSSZ")


# ---- routing and the JSON body --------------------------------------------------------------


def test_unknown_operations(server, admin_key):
    for target in (eh.TARGET_PREFIX + "NoSuchOp", eh.TARGET_PREFIX + "getAuthorizationToken",
                   eh.TARGET_PREFIX, "AmazonEC2ContainerRegistry_V20150922.GetAuthorizationToken",
                   "DynamoDB_20120810.ListTables", "GetAuthorizationToken", "x" * 5000):
        r = eh.call(server, admin_key, None, target=target)
        try:
            eh.assert_error(r, "UnknownOperationException")
        except AssertionError as e:
            raise AssertionError(f"X-Amz-Target {target[:80]!r}: {e}") from None
    eh.assert_error(eh.call(server, admin_key, None, target=False), "UnknownOperationException")


@pytest.mark.parametrize("body", [b"{", b"not json", b'{"registryIds": [}', b"\xff\xfe{}", b'{"a":1}{}'])
def test_malformed_json_body(server, admin_key, body):
    eh.assert_error(eh.call(server, admin_key, OP, body), "SerializationException")


@pytest.mark.parametrize("body", [b"[]", b"null", b"42", b'"{}"', b"true", b'[{"registryIds":null}]'])
def test_non_object_json_body(server, admin_key, body):
    eh.assert_error(eh.call(server, admin_key, OP, body), "SerializationException")


def test_unknown_or_mistyped_members(server, admin_key, repo):
    name, _ = repo
    cases = [
        (OP, {"registryId": "000000000000"}),
        (OP, {"RegistryIds": ["000000000000"]}),
        (OP, {"registryIds": "000000000000"}),
        ("GetRegistryPolicy", {"registryId": "000000000000"}),
        ("DeleteRegistryPolicy", {"force": True}),
        ("PutRegistryPolicy", {"policyText": "{}", "extra": 1}),
        ("PutRegistryPolicy", {"policyText": 7}),
        ("GetRepositoryPolicy", {"repositoryName": name, "policyText": "x"}),
        ("GetRepositoryPolicy", {"repositoryName": ["a", "b"]}),
        ("SetRepositoryPolicy", {"repositoryName": name, "policyText": {"Version": "2012-10-17"}}),
        ("SetRepositoryPolicy", {"repositoryName": name, "policyText": "{}", "force": "yes"}),
    ]
    for op, body in cases:
        r = eh.call(server, admin_key, op, body)
        try:
            eh.assert_error(r, "SerializationException")
        except AssertionError as e:
            raise AssertionError(f"{op} {body}: {e}") from None


def test_missing_required_member(server, admin_key, repo):
    name, _ = repo
    for op, body in [("SetRepositoryPolicy", {"repositoryName": name}),
                     ("SetRepositoryPolicy", {"policyText": "{}"}),
                     ("GetRepositoryPolicy", {}),
                     ("DeleteRepositoryPolicy", {"repositoryName": None}),
                     ("PutRegistryPolicy", {})]:
        eh.assert_error(eh.call(server, admin_key, op, body), "InvalidParameterException")


def test_oversized_body_is_an_aws_error(server, admin_key):
    """A body over the server's limit (32 MiB) is refused, in the same AWS JSON error shape as
    every other ECR API error (SDKs read __type / X-Amzn-ErrorType), not as a bare text/plain
    413: a body that cannot be read is a SerializationException, with HTTP's status for a body
    too large."""
    body = b'{"registryIds":["000000000000"]' + b" " * (33 << 20) + b"}"
    r = eh.call(server, admin_key, OP, body)
    eh.assert_error(r, "SerializationException", status=413, contains=f"at most {32 << 20} bytes")


def test_errors_are_never_faults(server, admin_key, repo):
    """A spread of hostile inputs through every implemented operation: each is a client error
    in AWS's shape, none a 500."""
    name, _ = repo
    hostile = ["", "a", "A" * 300, "../../etc/passwd", "x/../y", "x//y", "\u00e9t\u00e9", "\x00",
               "x" * 100000, name + "/", "/" + name, name.upper()]
    ops = ["SetRepositoryPolicy", "GetRepositoryPolicy", "DeleteRepositoryPolicy"]
    for op in ops:
        for value in hostile:
            body = {"repositoryName": value}
            if op == "SetRepositoryPolicy":
                body["policyText"] = "{}"
            # ECR's constraints on repositoryName, each in its own words.
            if len(value) < 2:
                reason = "must have length greater than or equal to 2"
            elif len(value) > 256:
                reason = "must have length less than or equal to 256"
            else:
                reason = f"must satisfy regular expression '{REPOSITORY_NAME_PATTERN}'"
            r = eh.call(server, admin_key, op, body)
            try:
                eh.assert_error(r, "InvalidParameterException", message=(
                    f"Invalid parameter at 'repositoryName' failed to satisfy constraint: '{reason}'"))
            except AssertionError as e:
                raise AssertionError(f"{op} {value[:40]!r}: {e}") from None
    for text in ["", "x" * 20000, "[]", "null", '{"Statement":[]}', '{"Version":"2012-10-17"}',
                 '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*"}]}' * 2]:
        r = eh.call(server, admin_key, "PutRegistryPolicy", {"policyText": text})
        eh.assert_error(r, "InvalidParameterException")
