"""docker-compose.yml end to end: deploy/offline-e2e.sh brings up Berth + PostgreSQL + Garage with the
real Docker engine, pushes and pulls an image with the docker client (digest and contents checked,
tag and blobs checked in PostgreSQL and Garage), restarts berth, recreates the stack, and tears it
down with `down -v`. Everything is built locally (no registry access needed):

  - debian:bookworm-slim: debootstrap + docker import when absent (root, a Debian mirror; ~30 s);
  - berth-offline/postgres:15, berth-offline/garage:v2.1.0: deploy/offline/*.Dockerfile;
  - berth:latest: Dockerfile's runtime stage around $BERTH_BIN (default target/release/berth).

About 80 s once the images exist; the first run on a machine builds them (about 2.5 min more).
It never skips: without a Docker engine, docker-compose, root (for debootstrap) or the release
binary it fails and says which.
"""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "deploy", "offline-e2e.sh")


def test_compose_deployment_end_to_end():
    env = dict(os.environ)
    env.pop("BERTH_E2E_KEEP", None)  # always tear the deployment down
    try:
        r = subprocess.run([SCRIPT], capture_output=True, text=True, env=env, cwd=ROOT,
                           stdin=subprocess.DEVNULL, timeout=3600)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"deploy/offline-e2e.sh did not finish within {e.timeout}s:\n"
                             f"{(e.stdout or b'').decode(errors='replace')[-4000:]}") from None
    out = r.stdout
    failed = [line for line in out.splitlines() if line.startswith("FAIL ")]
    assert r.returncode == 0 and not failed and "RESULT PASS" in out, (
        f"deploy/offline-e2e.sh exited {r.returncode}; "
        f"{'; '.join(failed) or 'no FAIL line'}\n--- stdout ---\n{out[-6000:]}\n"
        f"--- stderr ---\n{r.stderr[-6000:]}")
    passed = [line for line in out.splitlines() if line.startswith("PASS ")]
    # every stage of the run reported: images, up, push/pull, restart, recreate, down -v
    for what in ("compose up -d", "docker push", "PostgreSQL: tag v1", "Garage: bucket berth",
                 "after push: docker pull", "after berth restart", "after stack recreated",
                 "compose down -v"):
        assert any(what in line for line in passed), f"no PASS line for {what!r}:\n{out}"
