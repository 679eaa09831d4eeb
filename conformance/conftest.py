"""Fixtures for the Berth OCI Distribution conformance suite.

REGISTRY_URL=http://host:port  test an already-running registry (any implementation);
otherwise the berth binary is started (see tests/harness/berth_server.py).
"""
import os
import re
import sys
import uuid

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))

import berth_server  # noqa: E402
import ocihelp  # noqa: E402


@pytest.fixture(scope="session")
def registry():
    reg = berth_server.registry_from_env()
    try:
        yield reg
    finally:
        reg.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def client(registry, request):
    """An HTTP client for the registry.  Any 5xx answer during a test that otherwise passed
    fails it (as a teardown error naming the request)."""
    c = ocihelp.Client(registry.url, auth=getattr(registry, "auth", None))
    yield c
    call = getattr(request.node, "rep_call", None)
    if call is not None and call.passed:
        assert not c.server_errors, f"registry answered with 5xx: {c.server_errors}"


def _slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return s[:60].strip("-") or "t"


@pytest.fixture
def repo(request):
    """A repository name unique to this test: conf/<testname>-<random>."""
    return f"conf/{_slug(request.node.name)}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def repo2(request):
    """A second unique repository name."""
    return f"conf/{_slug(request.node.name)}-b-{uuid.uuid4().hex[:10]}"
