"""Fixtures for the authentication/authorization suite (tests/auth).

Run: python3 -m pytest -q -p no:cacheprovider tests/auth
Works with BERTH_TEST_DEPLOYMENT=embedded (default) or production (PostgreSQL + S3, see
tests/harness/berth_server.py). BERTH_BIN picks the binary; by default the newer of
target/release/berth and target/debug/berth.
"""
import json
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
sys.path.insert(0, HERE)

from berth_server import BerthServer  # noqa: E402
import authhelp as ah  # noqa: E402
import principals  # noqa: E402
import testkit  # noqa: E402
from principals import attach, parse_key, wait_key_works  # noqa: E402,F401  (used by the tests)

# The harness's shared-server settings (no lockout of the test machine); besides, the shared
# server stands behind a (pretend) TLS proxy: it believes X-Forwarded-Proto.
SHARED_ENV = dict(testkit.SHARED_ENV, BERTH_AUTH__TRUST_FORWARDED_PROTO="true")


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


class Principal(principals.Principal):
    """A principal that can also ask the token service for tokens."""

    def token(self, *scopes, **kw):
        return ah.token_for(self.server.url, self.basic, scopes, **kw)


def identity_policy(actions, resources, condition=None, effect="Allow"):
    st = {"Effect": effect, "Action": actions, "Resource": resources}
    if condition:
        st["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [st]})


def create_principal(server, policies=(), robot=False, name=None):
    """A principal with `policies` ([(name, document)]) and one access key, usable once this
    returns (the harness waits until the server accepts the key)."""
    return principals.create_principal(server, policies, robot=robot, name=name, cls=Principal)


@pytest.fixture
def make_principal(server):
    def make(*policies, **kw):
        return create_principal(server, policies, **kw)
    return make
