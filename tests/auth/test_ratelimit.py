"""Failed-authentication limits: per source address and per user name. Each test runs its own
server (a lockout would refuse the whole suite's loopback address). Requests come from
chosen loopback source addresses (127.0.0.x) so the two limits can be told apart."""
import json
import time
import urllib.parse

import pytest

import authhelp as ah
from conftest import parse_key

MAX = 5


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


def server_with_victim(new_server, env):
    """A server whose principal `victim` exists from the start: waiting for a new key to
    work by trying it would itself count as failed attempts."""
    srv = new_server(env, start=False)
    name = ah.unique("victim")
    srv.cli("principal", "create", name)
    key_id, secret = parse_key(srv.cli("key", "create", name).stdout)
    srv.start()
    return srv, name, key_id, secret


def test_brute_force_locks_out_address_and_user(new_server):
    srv, name, key_id, secret = server_with_victim(new_server, {"BERTH_AUTH__MAX_FAILURES": str(MAX)})
    good = ah.basic_value(key_id, secret)
    admin = ah.basic_value(*srv.admin)
    scope = "/token?" + urllib.parse.urlencode({"service": "berth", "scope": "repository:x:pull"})
    assert get(srv, "127.0.0.7", "/v2/", good)[0] == 200  # the credentials are right

    for i in range(MAX):
        status, h, _ = get(srv, "127.0.0.2", "/v2/", ah.basic_value(key_id, f"guess-{i}"))
        assert status == 401, f"attempt {i + 1}: {status}"
    # Now even the right password is refused, from that address...
    assert_limited(get(srv, "127.0.0.2", "/v2/", good))
    assert_limited(get(srv, "127.0.0.2", "/v2/x/manifests/latest", good))
    assert_limited(get(srv, "127.0.0.2", scope, good), token_endpoint=True)
    # ...and for that user from any address (per-user limit)...
    assert_limited(get(srv, "127.0.0.3", "/v2/", good))
    assert_limited(get(srv, "127.0.0.3", scope, good), token_endpoint=True)
    # ...including through the POST /token password grant.
    r = ah.requests.post(srv.url + "/token", data={"grant_type": "password", "username": key_id,
                                                   "password": secret, "service": "berth"}, timeout=30)
    assert r.status_code == 429, r.text
    assert r.headers.get("Retry-After", "").isdigit()
    # ...and for every user from the locked address (per-address limit)...
    assert_limited(get(srv, "127.0.0.2", "/v2/", admin))
    assert_limited(get(srv, "127.0.0.2", scope, admin), token_endpoint=True)
    # ...but another user from another address is fine.
    status, _, body = get(srv, "127.0.0.3", "/v2/", admin)
    assert status == 200, body
    status, _, body = get(srv, "127.0.0.3", scope, admin)
    assert status == 200, body
    # Further failures keep it locked; the lockout does not reveal whether a password is right.
    assert_limited(get(srv, "127.0.0.2", "/v2/", ah.basic_value(key_id, "again")))


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
