"""Failed-authentication limits. An access key id is not a secret, so the limits that refuse
are keyed by the source address: a guesser locks out its own address for the name it guesses
(per source and name), or for every name once it has failed AGGREGATE times as often (per
source); failures on one name from many addresses only make wrong secrets for it `429`, never
the right one. Each test runs its own server (a lockout would refuse the whole suite's loopback
address). Requests come from chosen loopback source addresses (127.0.0.x) so the limits can be
told apart."""
import json
import re
import time
import urllib.parse

import pytest

import authhelp as ah
from conftest import parse_key
from testkit import within

MAX = 5
# The per-source and per-name limits are this many times MAX (src/auth/ratelimit.rs).
AGGREGATE = 5
ALL = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ecr:*","Resource":"*"}]}'


def get(srv, ip, path, auth_value=None):
    headers = {"Authorization": auth_value} if auth_value else {}
    return ah.raw_request_from(srv.url, ip, "GET", path, headers=headers)


def assert_limited(resp, token_endpoint=False):
    status, h, body = resp
    assert status == 429, f"expected 429, got {status} {body[:300]!r}"
    retry = h.get("retry-after")
    assert retry is not None and retry.isdigit(), h
    assert 1 <= int(retry) <= 300, retry
    doc = json.loads(body)
    assert doc["errors"][0]["code"] == "TOOMANYREQUESTS", doc
    if token_endpoint:
        assert doc.get("error"), doc
        assert "token" not in doc


def assert_ok(resp):
    status, _, body = resp
    assert status == 200, f"expected 200, got {status} {body[:300]!r}"


def ecr(srv, ip, key_id, secret, op="GetAuthorizationToken"):
    return ah.ecr_call_from(srv.url, ip, key_id, secret, op)


def assert_ecr_ok(resp):
    status, _, doc = resp
    assert status == 200, f"expected 200, got {status} {doc}"


def assert_throttled(resp):
    """What the aws CLI and boto3 see as ThrottlingException."""
    status, h, doc = resp
    assert doc.get("__type") == "ThrottlingException", (status, doc)
    assert status in (400, 429), status


TOKEN_SCOPE = "/token?" + urllib.parse.urlencode({"service": "berth", "scope": "repository:x:pull"})


def server_with_victim(new_server, env):
    """A server whose principal `victim` (allowed everything) exists from the start: waiting
    for a new key to work by trying it would itself count as failed attempts."""
    srv = new_server(env, start=False)
    name = ah.unique("victim")
    srv.cli("principal", "create", name)
    srv.cli("policy", "attach", name, "all", "-", input=ALL)
    key_id, secret = parse_key(srv.cli("key", "create", name).stdout)
    srv.start()
    return srv, name, key_id, secret


def refusals(srv):
    """The server's `authentication refused` log lines."""
    with open(srv.log_path, "rb") as f:
        text = f.read().decode(errors="replace")
    return [line for line in text.splitlines() if "authentication refused" in line]


def test_a_guesser_locks_out_its_own_address_not_the_owner(new_server):
    """After MAX wrong secrets for a key id from one address, that address is refused for
    that key id even with the right secret; the owner, from anywhere else, gets in on /v2,
    /token and the ECR API; and the guessing address may still use other names."""
    srv, name, key_id, secret = server_with_victim(new_server, {"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    good = ah.basic_value(key_id, secret)
    admin = ah.basic_value(*srv.admin)

    for i in range(MAX):
        status, h, _ = get(srv, "127.0.0.2", "/v2/", ah.basic_value(key_id, f"guess-{i}"))
        assert status == 401, f"attempt {i + 1}: {status}"
    # The guessing address is refused for that name, even with the right secret, on every
    # surface...
    assert_limited(get(srv, "127.0.0.2", "/v2/", good))
    assert_limited(get(srv, "127.0.0.2", "/v2/x/manifests/latest", good))
    assert_limited(get(srv, "127.0.0.2", TOKEN_SCOPE, good), token_endpoint=True)
    assert_throttled(ecr(srv, "127.0.0.2", key_id, secret))
    # ...and further guesses from it learn nothing: right or wrong, 429.
    assert_limited(get(srv, "127.0.0.2", "/v2/", ah.basic_value(key_id, "guess-zz")))

    # The owner, from any other address, is not locked out: Basic on /v2, GET /token, the
    # POST /token password grant (from 127.0.0.1) and SigV4.
    assert_ok(get(srv, "127.0.0.3", "/v2/", good))
    assert_ok(get(srv, "127.0.0.3", TOKEN_SCOPE, good))
    r = ah.requests.post(srv.url + "/token", data={"grant_type": "password", "username": key_id,
                                                   "password": secret, "service": "berth"}, timeout=30)
    assert r.status_code == 200, r.text
    assert_ecr_ok(ecr(srv, "127.0.0.3", key_id, secret))
    # The guessing address has not failed often enough to lose every name.
    assert_ok(get(srv, "127.0.0.2", "/v2/", admin))
    assert_ok(get(srv, "127.0.0.2", TOKEN_SCOPE, admin))

    # Every refusal is logged at WARN, with the name claimed and the address, and never a
    # secret: neither the guesses nor the right one.
    lines = refusals(srv)
    failed = [line for line in lines if "127.0.0.2" in line and "invalid username or password" in line]
    assert len(failed) == MAX, lines
    assert all("WARN" in line and key_id in line for line in failed), failed
    locked = [line for line in lines if "per source address and user name" in line]
    assert locked and all("127.0.0.2" in line and key_id in line and "WARN" in line
                          for line in locked), lines
    with open(srv.log_path, "rb") as f:
        log = f.read().decode(errors="replace")
    assert secret not in log
    assert not re.search(r"guess-(\d|zz)", log), [line for line in log.splitlines()
                                                   if re.search(r"guess-(\d|zz)", line)]


def test_sigv4_guessing_locks_out_only_the_guessing_address(new_server):
    """Wrong SigV4 signatures count like wrong passwords: the guessing address gets
    ThrottlingException for that key id (the right secret too); the owner elsewhere does not."""
    srv, name, key_id, secret = server_with_victim(new_server, {"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    for i in range(MAX):
        status, _, doc = ecr(srv, "127.0.0.4", key_id, f"wrong-secret-{i}")
        assert doc.get("__type") == "InvalidSignatureException", (i, status, doc)
    assert_throttled(ecr(srv, "127.0.0.4", key_id, secret))
    assert_limited(get(srv, "127.0.0.4", "/v2/", ah.basic_value(key_id, secret)))
    assert_ecr_ok(ecr(srv, "127.0.0.5", key_id, secret))
    assert_ok(get(srv, "127.0.0.5", "/v2/", ah.basic_value(key_id, secret)))
    lines = [line for line in refusals(srv) if "signature does not match" in line]
    assert len(lines) == MAX and all("127.0.0.4" in line and key_id in line for line in lines), lines


def test_cycling_names_trips_the_per_source_limit(new_server):
    """An address that fails with ever new names (below MAX each) is refused for every name,
    the right credentials included, once it has failed AGGREGATE × MAX times."""
    srv = new_server({"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    admin = ah.basic_value(*srv.admin)
    for i in range(AGGREGATE * MAX):
        user = f"BKIA{i:016d}" if i % 2 else f"user-{i}"
        status, _, _ = get(srv, "127.0.0.4", "/v2/", ah.basic_value(user, "nope"))
        assert status == 401, f"attempt {i + 1}: {status}"
    assert_limited(get(srv, "127.0.0.4", "/v2/", admin))
    assert_limited(get(srv, "127.0.0.4", TOKEN_SCOPE, admin), token_endpoint=True)
    assert_throttled(ecr(srv, "127.0.0.4", *srv.admin))
    assert any('limit="per source address"' in line and "127.0.0.4" in line
               for line in refusals(srv)), refusals(srv)
    # Other addresses are not affected.
    assert_ok(get(srv, "127.0.0.5", "/v2/", admin))


def test_distributed_guessing_never_locks_out_the_owner(new_server):
    """Failures on one name from many addresses (each below its own limit) make wrong secrets
    for that name 429 everywhere (and are logged as such), but the right secret always works."""
    srv, name, key_id, secret = server_with_victim(new_server, {"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    for a in range(AGGREGATE):
        ip = f"127.0.0.{10 + a}"
        for i in range(MAX - 1):
            status, _, _ = get(srv, ip, "/v2/", ah.basic_value(key_id, f"guess-{a}-{i}"))
            assert status == 401, (ip, i, status)
    # AGGREGATE × (MAX - 1) failures so far; enough more from further addresses to reach the
    # per-name limit.
    for i in range(AGGREGATE):
        get(srv, f"127.0.0.{20 + i}", "/v2/", ah.basic_value(key_id, f"more-{i}"))
    # A wrong secret from an address that never failed is answered 429...
    assert_limited(get(srv, "127.0.0.30", "/v2/", ah.basic_value(key_id, "one-more")))
    assert_limited(get(srv, "127.0.0.30", TOKEN_SCOPE, ah.basic_value(key_id, "one-more")),
                   token_endpoint=True)
    # ...the right one is not, from any address that did not guess, on every surface.
    good = ah.basic_value(key_id, secret)
    assert_ok(get(srv, "127.0.0.31", "/v2/", good))
    assert_ok(get(srv, "127.0.0.30", TOKEN_SCOPE, good))
    assert_ecr_ok(ecr(srv, "127.0.0.32", key_id, secret))
    lines = [line for line in refusals(srv) if "per user name" in line]
    assert lines and all("127.0.0.30" in line and key_id in line for line in lines), lines


def test_unblock_lifts_lockouts_on_a_running_server(new_server):
    """`berth auth unblock --address A` lifts every lockout of A (per source and name, and per
    source); `--user NAME` every lockout of that name (and of its principal's keys) from any
    address. A running server applies either within a second or two."""
    srv, name, key_id, secret = server_with_victim(new_server, {"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    good = ah.basic_value(key_id, secret)
    admin = ah.basic_value(*srv.admin)
    for ip in ("127.0.0.2", "127.0.0.6"):
        for i in range(MAX):
            assert get(srv, ip, "/v2/", ah.basic_value(key_id, f"guess-{i}"))[0] == 401
    for i in range(AGGREGATE * MAX):
        assert get(srv, "127.0.0.4", "/v2/", ah.basic_value(f"user-{i}", "nope"))[0] == 401
    assert_limited(get(srv, "127.0.0.2", "/v2/", good))
    assert_limited(get(srv, "127.0.0.6", "/v2/", good))
    assert_limited(get(srv, "127.0.0.4", "/v2/", admin))

    srv.cli("auth", "unblock", "--address", "127.0.0.2")
    start = time.monotonic()
    within(3, lambda: assert_ok(get(srv, "127.0.0.2", "/v2/", good)), since=start)
    # Only that address.
    assert_limited(get(srv, "127.0.0.6", "/v2/", good))
    assert_limited(get(srv, "127.0.0.4", "/v2/", admin))

    srv.cli("auth", "unblock", "--address", "127.0.0.4")
    within(3, lambda: assert_ok(get(srv, "127.0.0.4", "/v2/", admin)), since=time.monotonic())

    # By principal name: lifts the lockout on its access key id too.
    srv.cli("auth", "unblock", "--user", name)
    within(3, lambda: assert_ok(get(srv, "127.0.0.6", "/v2/", good)), since=time.monotonic())

    # By key id, after new failures from another address.
    for i in range(MAX):
        assert get(srv, "127.0.0.7", "/v2/", ah.basic_value(key_id, f"guess-{i}"))[0] == 401
    assert_limited(get(srv, "127.0.0.7", "/v2/", good))
    srv.cli("auth", "unblock", "--user", key_id)
    within(3, lambda: assert_ok(get(srv, "127.0.0.7", "/v2/", good)), since=time.monotonic())

    # A failure counted after an unblock counts from zero: MAX more lock out again.
    for i in range(MAX):
        assert get(srv, "127.0.0.2", "/v2/", ah.basic_value(key_id, f"later-{i}"))[0] == 401
    assert_limited(get(srv, "127.0.0.2", "/v2/", good))

    # Bad targets are refused with a clear message, and change nothing.
    out = srv.cli("auth", "unblock", "--address", "not-an-ip", check=False)
    assert out.returncode != 0 and out.stderr.strip(), out


def test_bearer_and_refresh_guessing_is_limited(new_server):
    srv = new_server({"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    admin = ah.basic_value(*srv.admin)
    # Obtained before the attack, from an address that stays clean.
    status, _, body = get(srv, "127.0.0.4", "/token?service=berth&scope=repository:x:pull", admin)
    assert status == 200
    token = json.loads(body)["token"]
    header, claims, _ = ah.jwt_parts(token)
    for i in range(MAX):
        forged = ah.sign_hs256(header, dict(claims, jti=f"forged-{i}"), ah.random_key())
        status, h, _ = get(srv, "127.0.0.5", "/v2/", f"Bearer {forged}")
        assert status == 401 and 'error="invalid_token"' in h.get("www-authenticate", "")
    # The genuine token, never verified before, is refused from the guessing address.
    assert_limited(get(srv, "127.0.0.5", "/v2/x/manifests/latest", f"Bearer {token}"))
    status, _, _ = get(srv, "127.0.0.4", "/v2/", f"Bearer {token}")
    assert status == 200

    # Refresh-token guessing counts as well (127.0.0.1: requests cannot pick the address).
    for i in range(MAX):
        r = ah.post_token(srv.url, {"grant_type": "refresh_token", "refresh_token": f"brt_guess{i}",
                                    "service": "berth"})
        assert r.status_code == 401, r.text
    r = ah.post_token(srv.url, {"grant_type": "refresh_token", "refresh_token": "brt_guess-last",
                                "service": "berth"})
    assert r.status_code == 429, r.text
    assert r.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert r.headers.get("Retry-After", "").isdigit()


def test_lockout_ends_with_the_window(new_server):
    """Locked out from the failure that reaches the limit until the window that began with
    the first failure ends, and told (Retry-After) no sooner than that; then let in.

    The lockout is checked inside the window: if this machine took longer than the window to
    make the failures and that check, the check would prove nothing, so the test starts over
    with a window four times as long."""
    for window in (2, 8, 32):
        srv, name, key_id, secret = server_with_victim(
            new_server, {"BERTH_AUTH__MAX_FAILURES": "3", "BERTH_AUTH__FAILURE_WINDOW_SECS": str(window)})
        good = ah.basic_value(key_id, secret)
        start = time.monotonic()  # before the first failure: before the window starts
        for i in range(3):
            assert get(srv, "127.0.0.6", "/v2/", ah.basic_value(key_id, "bad"))[0] == 401
        resp = get(srv, "127.0.0.6", "/v2/", good)
        if time.monotonic() - start < window:
            break
        srv.cleanup()
    else:
        pytest.fail(f"three requests took longer than {window} s")

    def assert_locked(resp, answered):
        assert_limited(resp)
        # Not before the window ends (it began after `start`), and not after it.
        retry = int(resp[1]["retry-after"])
        assert window - answered <= retry <= window, (retry, answered)

    assert_locked(resp, time.monotonic() - start)
    # Poll with the right credentials (refusals while locked out count as no new failure)
    # until they work again: never before the window has ended.
    deadline = start + window + 30
    while True:
        resp = get(srv, "127.0.0.6", "/v2/", good)
        answered = time.monotonic() - start
        if resp[0] == 200:
            break
        assert_locked(resp, answered)
        assert time.monotonic() < deadline, "still locked out 30 s after the window ended"
        time.sleep(0.05)
    assert answered >= window, f"let in {answered:.2f} s after the first failure, inside the {window} s window"


def test_bad_aws_logins_do_not_lock_out_every_ecr_login(new_server):
    """Every ECR-style login uses the user name `AWS`. Junk passwords for `AWS` from one
    address must not lock every principal's valid login password out, from everywhere: a
    per-user limit keyed on the shared name `AWS` would let anyone deny ECR-style logins to
    the whole registry (guessing a signed login password is hopeless anyway; the per-address
    limit still stops the guesser)."""
    srv = new_server({"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    login = srv.cli("key", "login-password", srv.admin[0]).stdout.strip()
    good = ah.basic_value("AWS", login)
    assert get(srv, "127.0.0.8", "/v2/", good)[0] == 200
    for i in range(MAX):
        assert get(srv, "127.0.0.9", "/v2/", ah.basic_value("AWS", f"junk.{i}.x"))[0] == 401
    # The guessing address is locked out...
    assert_limited(get(srv, "127.0.0.9", "/v2/", good))
    # ...the legitimate user elsewhere is not.
    status, _, body = get(srv, "127.0.0.8", "/v2/", good)
    assert status == 200, f"a valid login password from another address: {status} {body[:200]!r}"
