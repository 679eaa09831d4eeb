"""Fixtures for the authentication/authorization suite (tests/auth).

Run: python3 -m pytest -q -p no:cacheprovider tests/auth
Works with BERTH_TEST_DEPLOYMENT=embedded (default) or production (PostgreSQL + S3, see
tests/harness/berth_server.py). BERTH_BIN picks the binary; by default the newer of
target/release/berth and target/debug/berth.
"""
import json
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
sys.path.insert(0, HERE)

from berth_server import BerthServer  # noqa: E402
import authhelp as ah  # noqa: E402

# The shared server must not lock the test machine out: many tests here present bad
# credentials on purpose, and every one counts against 127.0.0.1. Rate limiting itself is
# tested on dedicated servers (test_ratelimit.py).
# The shared server stands behind a (pretend) TLS proxy: it believes X-Forwarded-Proto.
SHARED_ENV = {"BERTH_AUTH__MAX_FAILURES": "1000000", "BERTH_AUTH__TRUST_FORWARDED_PROTO": "true"}


@pytest.fixture(scope="session")
def server():
    with BerthServer(env=SHARED_ENV) as srv:
        yield srv


@pytest.fixture(scope="session")
def admin(server):
    """The administrator's Basic credentials on the shared server."""
    return ah.basic(*server.admin)


@pytest.fixture(scope="session")
def admin_client(server, admin):
    return ah.Client(server.url, admin)


@pytest.fixture
def new_server():
    """Dedicated servers: `new_server(env)` starts one; `new_server(env, start=False)` only
    prepares it (administration commands work on its database before it serves). All are
    stopped and removed afterwards."""
    started = []

    def start(env=None, start=True, **kw):
        srv = BerthServer(env=env, **kw)
        started.append(srv)
        if start:
            srv.start()
        return srv

    yield start
    for srv in started:
        srv.cleanup()


def parse_key(stdout):
    fields = dict(re.findall(r"^(access_key_id|secret_access_key) = (\S+)$", stdout, re.M))
    assert set(fields) == {"access_key_id", "secret_access_key"}, stdout
    return fields["access_key_id"], fields["secret_access_key"]


class Principal:
    def __init__(self, server, name, key_id, secret):
        self.server, self.name, self.key_id, self.secret = server, name, key_id, secret

    @property
    def basic(self):
        return ah.basic(self.key_id, self.secret)

    def client(self, **kw):
        return ah.Client(self.server.url, self.basic, **kw)

    def token(self, *scopes, **kw):
        return ah.token_for(self.server.url, self.basic, scopes, **kw)

    def new_key(self):
        return parse_key(self.server.cli("key", "create", self.name).stdout)


def identity_policy(actions, resources, condition=None, effect="Allow"):
    st = {"Effect": effect, "Action": actions, "Resource": resources}
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


def attach(server, principal, name, document):
    server.cli("policy", "attach", principal, name, "-", input=document)


def wait_key_works(server, key_id, secret):
    def check():
        r = ah.Client(server.url, ah.basic(key_id, secret)).get("/v2/")
        assert r.status_code == 200, f"{r.status_code} {r.text}"
    ah.eventually(check)


def create_principal(server, policies=(), robot=False, name=None):
    """A principal with `policies` ([(name, document)]) and one access key, usable once this
    returns: the policies are attached before the key is created, and the key is waited for,
    so the server's identity snapshot already holds the policies."""
    name = name or ah.unique("p")
    args = ["principal", "create", name] + (["--robot"] if robot else [])
    server.cli(*args)
    for pname, doc in policies:
        attach(server, name, pname, doc)
    key_id, secret = parse_key(server.cli("key", "create", name).stdout)
    wait_key_works(server, key_id, secret)
    return Principal(server, name, key_id, secret)


@pytest.fixture
def make_principal(server):
    def make(*policies, **kw):
        return create_principal(server, policies, **kw)
    return make
