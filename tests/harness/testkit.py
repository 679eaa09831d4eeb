"""What the identity-aware suites (tests/auth, tests/ecr, tests/clients) share: the default
account and region of a test server, ARNs, waiting for a change to settle, and requests auth
objects that set the Authorization header verbatim.

Raw requests pass an explicit auth object (`HeaderAuth`, `ANON`), so that a monkeypatched
`requests.Session.request` (the harness's `auto_auth`, used by other suites) never adds
administrator credentials to what is meant to be unauthenticated or hand-signed."""
import base64
import time

import requests

# The settings of a server that a suite's tests share. Many tests present bad credentials on
# purpose, and every failure counts against 127.0.0.1: such a server must not lock the test
# machine out (rate limiting itself is tested on servers of its own, tests/auth/test_ratelimit.py).
SHARED_ENV = {"BERTH_AUTH__MAX_FAILURES": "1000000"}

# registry.account_id and registry.region of a test server (the defaults).
ACCOUNT = "000000000000"
REGION = "us-east-1"


def repo_arn(name):
    return f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{name}"


def user_arn(name):
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def eventually(fn, timeout=6.0, interval=0.1):
    """Call `fn` until it returns without raising AssertionError (returning its value), or
    re-raise its last failure after `timeout` seconds. For changes made through the CLI,
    which servers pick up within about a second (`within` asserts such a bound)."""
    return within(timeout, fn, interval=interval)


def within(seconds, fn, since=None, interval=0.02):
    """Call `fn` until it returns without raising AssertionError (returning its value); re-raise
    its last failure once `seconds` have passed since `since` (a `time.monotonic()` reading taken
    when the change was made; default: now). For promises with a bound, such as "a disabled key
    applies on every replica within a second": unlike `eventually`, the bound is the assertion."""
    start = time.monotonic() if since is None else since
    while True:
        try:
            return fn()
        except AssertionError:
            if time.monotonic() - start >= seconds:
                raise
        time.sleep(interval)


def wait_until(check, timeout, what, interval=0.05):
    """Poll the predicate `check` until it returns a true value (which is returned); fail after
    `timeout` seconds, naming `what`. For conditions a test waits for (a service up, a row
    written), where `eventually` retries an assertion."""
    deadline = time.monotonic() + timeout
    while True:
        v = check()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(interval)


class HeaderAuth(requests.auth.AuthBase):
    """Sets (or, with None, leaves out) the Authorization header, verbatim."""

    def __init__(self, value=None):
        self.value = value

    def __call__(self, r):
        r.headers.pop("Authorization", None)
        if self.value is not None:
            r.headers["Authorization"] = self.value
        return r


ANON = HeaderAuth(None)


def basic_value(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def basic(user, password):
    return HeaderAuth(basic_value(user, password))
