"""Pull times (`lastRecordedPullTime`) across a server's end, as the README promises them: noted
in memory on each manifest GET and written in one batch every 2 seconds and at shutdown, so a
graceful stop loses none and a kill -9 loses at most the last 2 seconds.

What the tests observe instead of sleeping: DescribeImages reads the database, not the pulls
held in memory, so a pull time showing up there is the flush itself.

Self-contained: one module-scoped server of its own, restarted (same data, settings and port)
by the tests.
Run: BERTH_BIN=$PWD/target/release/berth python3 -m pytest -q -p no:cacheprovider \
     tests/ecr/test_pull_times.py
"""
import signal
import time

import pytest

import ecrhelp as eh
from berth_server import BerthServer

# The documented flush interval, and the slack granted on top of it for one batch write on a
# busy test machine.
FLUSH_INTERVAL = 2.0
SLACK = 4.0


class Restartable:
    """A server that tests stop (gracefully or with kill -9) and start again on the same data,
    settings and port."""

    def __init__(self):
        self.first = self.srv = BerthServer(env=eh.SHARED_ENV).start()

    @property
    def ecr(self):
        return eh.boto_client(self.srv, self.srv.admin)

    def stop_gracefully(self):
        """SIGTERM, and the process ends by itself, successfully."""
        proc = self.srv.proc
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        assert rc == 0, f"berth exited with {rc} on SIGTERM; log: {self.srv.read_log()}"
        self.srv.proc = None

    def kill9(self):
        self.srv.kill9()

    def start_again(self):
        old = self.srv
        self.srv = BerthServer(data_dir=old.data_dir, env=old.config_env, port=old.port).start()

    def cleanup(self):
        self.srv.stop()
        self.first.cleanup()


@pytest.fixture(scope="module")
def box():
    b = Restartable()
    try:
        yield b
    finally:
        b.cleanup()


def ms():
    return int(time.time() * 1000)


def pull(srv, repo, tag):
    """A manifest GET (a pull); returns the Unix-ms interval it happened in."""
    before = ms()
    r = eh.get_manifest(srv, srv.admin, repo, tag)
    assert r.status_code == 200, r.text
    return before, ms()


def pull_time(ecr, repo, tag):
    """The recorded pull time of repo:tag in Unix ms, or None."""
    d = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"][0]
    t = d.get("lastRecordedPullTime")
    return None if t is None else round(t.timestamp() * 1000)


def wait_flushed(ecr, repo, tag, timeout):
    """Wait until repo:tag's pull time is in the database; returns it."""
    def flushed():
        t = pull_time(ecr, repo, tag)
        assert t is not None, f"{repo}:{tag} has no recorded pull time yet"
        return t
    return eh.eventually(flushed, timeout=timeout, interval=0.02)


def test_graceful_shutdown_writes_the_pulls_not_flushed_yet(box):
    srv, ecr = box.srv, box.ecr
    repo = eh.unique("pt")
    # Line up with the periodic flush: right after one is seen, the next is ~2 s away, far
    # more than the few milliseconds between the last pull and SIGTERM. Should the machine
    # stall long enough for a periodic flush to take the last pull anyway, line up again.
    for attempt in range(3):
        first, last = f"first-{attempt}", f"last-{attempt}"
        for tag in (first, last):
            eh.push_image(srv, srv.admin, repo, tag)
        pull(srv, repo, first)
        wait_flushed(ecr, repo, first, FLUSH_INTERVAL + SLACK)
        lo, hi = pull(srv, repo, last)
        if pull_time(ecr, repo, last) is None:
            break
    else:
        raise AssertionError("every pull was flushed periodically before it could be stopped")
    box.stop_gracefully()
    box.start_again()
    t = pull_time(box.ecr, repo, last)
    assert t is not None, "the pull noted before SIGTERM was lost"
    assert lo <= t <= hi, (lo, t, hi)


def test_kill9_keeps_the_pulls_of_every_flush(box):
    """A pull is in the database within the documented 2 seconds (with slack for a busy
    machine), and a kill -9 after that loses nothing of it."""
    srv, ecr = box.srv, box.ecr
    repo = eh.unique("pt")
    eh.push_image(srv, srv.admin, repo, "v1")
    lo, hi = pull(srv, repo, "v1")
    t = wait_flushed(ecr, repo, "v1", FLUSH_INTERVAL + SLACK)
    assert lo <= t <= hi, (lo, t, hi)
    box.kill9()
    box.start_again()
    assert pull_time(box.ecr, repo, "v1") == t
