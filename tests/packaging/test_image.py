"""The container image ships a stripped binary (issue 13, item 14): `target/release/berth` keeps
line tables for the test suites' backtraces (about 143 MB); the image's binary has no debug
information (about 27 MB: the symbol table stays, so panic backtraces name functions), and its
debug information is kept in a separate file that its .gnu_debuglink and build id match.

Builds `berth:latest` as deploy/offline-e2e.sh does on a machine without registry access (the
runtime stage of Dockerfile around the prebuilt release binary, stripped by the same
deploy/strip-binary.sh as Dockerfile's builder stage): `deploy/offline-e2e.sh berth-image`. Needs
Docker, root (debootstrap, the first time only: debian:bookworm-slim is imported) and the release
binary; fails, never skips, without them. Prints the sizes it measured."""
import os
import re
import subprocess
import io
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "deploy", "offline-e2e.sh")
IMAGE = "berth:latest"
WORK = os.environ.get("BERTH_E2E_WORK") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "berth", "offline-e2e")
MAX_BINARY = 40 * 1024 * 1024
MAX_IMAGE = 160 * 1024 * 1024


def sh(*cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, timeout=kw.pop("timeout", 120), **kw)
    assert r.returncode == 0, f"{' '.join(cmd)}: {r.returncode}\n{r.stdout[-3000:]!r}\n{r.stderr[-3000:]!r}"
    return r.stdout


def sections(path):
    out = sh("readelf", "-S", "-W", path, text=True)
    return set(re.findall(r"\]\s+(\.\S+)", out))


def build_id(path):
    m = re.search(r"Build ID: ([0-9a-f]+)", sh("readelf", "-n", path, text=True))
    assert m, f"{path} has no build id"
    return m.group(1)


def test_image_ships_a_stripped_binary(tmp_path):
    env = dict(os.environ)
    env.pop("BERTH_E2E_BERTH_BUILD", None)
    r = subprocess.run([SCRIPT, "berth-image"], capture_output=True, text=True, env=env, cwd=ROOT,
                       stdin=subprocess.DEVNULL, timeout=1800)
    assert r.returncode == 0 and "RESULT PASS" in r.stdout, (
        f"deploy/offline-e2e.sh berth-image exited {r.returncode}\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}")

    # The binary as the image holds it.
    cid = sh("docker", "create", IMAGE, text=True).strip()
    try:
        tar = sh("docker", "cp", f"{cid}:/usr/local/bin/berth", "-")
    finally:
        sh("docker", "rm", cid)
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        member = t.getmember("berth")
        shipped = tmp_path / "berth"
        shipped.write_bytes(t.extractfile(member).read())
    size = shipped.stat().st_size
    secs = sections(str(shipped))
    assert not {s for s in secs if s.startswith(".debug_") and s != ".debug_gdb_scripts"}, secs
    assert {".symtab", ".gnu_debuglink"} <= secs, secs
    assert size < MAX_BINARY, f"the image's binary is {size} bytes"

    # The debug information is kept beside it, for the same build.
    debug = os.path.join(WORK, "debug", "berth.debug")
    assert {".debug_line", ".debug_info"} <= sections(debug)
    assert build_id(debug) == build_id(str(shipped))
    link = sh("readelf", "--string-dump=.gnu_debuglink", str(shipped))
    assert b"berth.debug" in link, link

    # It runs.
    version = sh("docker", "run", "--rm", IMAGE, "--version", text=True)
    assert version.startswith("berth "), version

    image = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", IMAGE, text=True))
    release = os.path.getsize(os.environ.get("BERTH_BIN") or os.path.join(ROOT, "target", "release", "berth"))
    print(f"\nimage {IMAGE}: {image} bytes; its binary: {size} bytes; "
          f"target/release/berth: {release} bytes")
    assert image < MAX_IMAGE, f"image {IMAGE} is {image} bytes"
