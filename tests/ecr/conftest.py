"""Fixtures for the Amazon ECR API suite (tests/ecr): one shared Berth server, its administrator
as SigV4 credentials, principals created through the `berth` CLI, repositories created by a
push through /v2, boto3 clients and `aws` CLI runs isolated from any developer configuration.

Run: python3 -m pytest -q -p no:cacheprovider tests/ecr
Works with BERTH_TEST_DEPLOYMENT=embedded (default) or production (PostgreSQL + S3, see
tests/harness/berth_server.py). BERTH_BIN picks the binary; by default the newer of
target/release/berth and target/debug/berth. Needs boto3, the `aws` CLI and a Docker engine.
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
sys.path.insert(0, HERE)

from berth_server import BerthServer  # noqa: E402
import ecrhelp as eh  # noqa: E402


@pytest.fixture(scope="session")
def server():
    with BerthServer(env=eh.SHARED_ENV) as srv:
        yield srv


@pytest.fixture(scope="module")
def own_server():
    """A server of the test module's own, for modules that change registry-wide settings or
    rely on a registry nobody else writes to."""
    with BerthServer(env=eh.SHARED_ENV) as srv:
        yield srv


@pytest.fixture(scope="module")
def own_ecr(own_server):
    """A boto3 ECR client for `own_server`, with its administrator's credentials."""
    return eh.boto_client(own_server, own_server.admin)


@pytest.fixture(scope="module")
def own_raw(own_server):
    """Like `own_ecr`, without boto3's own parameter validation (so the server's checks show)."""
    return eh.boto_client(own_server, own_server.admin, validate=False)


@pytest.fixture(scope="session")
def admin_key(server):
    """The administrator's (access key id, secret access key); its policy allows ecr:*."""
    return server.admin


@pytest.fixture(scope="session")
def admin_basic(server):
    return eh.basic(*server.admin)


@pytest.fixture(scope="session")
def ecr(server, admin_key):
    """A boto3 ECR client with the administrator's credentials."""
    return eh.boto_client(server, admin_key)


@pytest.fixture
def make_principal(server):
    def make(*policies, wait=True, **kw):
        p = eh.create_principal(server, policies, **kw)
        if wait:
            eh.wait_known(server, p.key)
        return p
    return make


@pytest.fixture
def repo(server, admin_basic):
    """A fresh repository holding one image (tag `v1`): (name, image)."""
    name = eh.unique("ecr") + "/app"
    img = eh.push_image(server, admin_basic, name, "v1")
    return name, img
