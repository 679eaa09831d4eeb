"""What README.md tells podman, skopeo and buildah users, checked with the real clients:

- Berth serves plain HTTP, and the containers tools try HTTPS unless told: without
  `--tls-verify=false` (or an `insecure = true` entry in registries.conf) they fail with
  "server gave HTTP response to HTTPS client"; with either they work.
- After `docker login`, docker's config.json holds Berth's refresh token as an `identitytoken`,
  and `podman login` / `skopeo login` refuse to run ("currently logged in, auth file contains an
  Identity token"). podman and skopeo push and pull with docker's login as it is; to log in with
  them anyway, `docker logout` first, or hide docker's file from that one command
  (`DOCKER_CONFIG=/nonexistent podman login ...`).

This module runs its own Berth server and gives every client private configuration
(DOCKER_CONFIG, REGISTRY_AUTH_FILE, podman storage), so nothing touches the developer's logins."""
import json
import os
import re
import shutil

import pytest

from berth_server import BerthServer
from conftest import podman_cmd, run, short_tempdir
from ocigen import make_layout
from testkit import SHARED_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HTTPS_REFUSED = "server gave HTTP response to HTTPS client"
IDENTITY_TOKEN_REFUSED = "currently logged in, auth file contains an Identity token"


@pytest.fixture(scope="module")
def berth():
    with BerthServer(env=SHARED_ENV) as srv:
        yield srv


@pytest.fixture
def home(tmp_path):
    """Private client configuration: docker's (DOCKER_CONFIG), the containers tools' auth file
    (REGISTRY_AUTH_FILE, which podman wants to exist) and podman storage."""
    (tmp_path / "docker").mkdir()
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {}}))
    pm_root = short_tempdir("brc-")
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker"), REGISTRY_AUTH_FILE=str(auth))
    env.pop("CONTAINERS_REGISTRIES_CONF", None)
    yield {"dir": tmp_path, "env": env, "podman": podman_cmd(pm_root)}
    run([*podman_cmd(pm_root), "rmi", "-a", "-f"], check=False, env=env)
    shutil.rmtree(pm_root, ignore_errors=True)


def readme():
    """README.md with its line breaks and runs of spaces as single spaces."""
    with open(os.path.join(ROOT, "README.md")) as f:
        return " ".join(f.read().split())


def push_with_skopeo(berth, home, repo, *flags):
    layout = home["dir"] / f"layout-{repo.replace('/', '-')}"
    make_layout(str(layout), tag="v1", layers=1)
    return run(["skopeo", "--insecure-policy", "copy", "-q", *flags, f"oci:{layout}:v1",
                f"docker://{berth.hostport}/{repo}:v1"], env=home["env"], check=False)


def docker_login(berth, home):
    user, password = berth.admin
    run(["docker", "login", berth.hostport, "-u", user, "--password-stdin"], input=password,
        env=home["env"])
    with open(home["dir"] / "docker" / "config.json") as f:
        entry = json.load(f)["auths"][berth.hostport]
    assert entry.get("identitytoken"), entry


def test_plain_http_needs_tls_verify_false_or_registries_conf(berth, home):
    user, password = berth.admin
    login = ["skopeo", "login", "-u", user, "--password-stdin", berth.hostport]
    out = run(login, input=password, env=home["env"], check=False)
    assert out.returncode != 0 and HTTPS_REFUSED in out.stderr, out.stderr
    run(["skopeo", "login", "--tls-verify=false", *login[2:]], input=password, env=home["env"])
    assert push_with_skopeo(berth, home, "readme/tls").returncode != 0
    out = push_with_skopeo(berth, home, "readme/tls", "--dest-tls-verify=false")
    assert out.returncode == 0, out.stderr
    pm = home["podman"]
    out = run([*pm, "pull", f"{berth.hostport}/readme/tls:v1"], env=home["env"], check=False)
    assert out.returncode != 0 and HTTPS_REFUSED in out.stderr, out.stderr
    run([*pm, "pull", "--tls-verify=false", f"{berth.hostport}/readme/tls:v1"], env=home["env"])
    # The registries.conf alternative, as README.md writes it, instead of the flag.
    conf = home["dir"] / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{berth.hostport}"\ninsecure = true\n')
    env = dict(home["env"], CONTAINERS_REGISTRIES_CONF=str(conf))
    run([*pm, "rmi", "-a", "-f"], env=env)
    run([*pm, "pull", f"{berth.hostport}/readme/tls:v1"], env=env)
    # skopeo reads the system and user files, or the one named by --registries-conf (not the
    # variable).
    run(["skopeo", "--registries-conf", str(conf), "inspect",
         f"docker://{berth.hostport}/readme/tls:v1"], env=home["env"])
    text = readme()
    assert "--tls-verify=false" in text and "insecure = true" in text


def test_podman_after_docker_login(berth, home):
    docker_login(berth, home)
    user, password = berth.admin
    pm = home["podman"]
    podman_login = [*pm, "login", "--tls-verify=false", "-u", user, "--password-stdin",
                    berth.hostport]
    out = run(podman_login, input=password, env=home["env"], check=False)
    assert out.returncode != 0 and IDENTITY_TOKEN_REFUSED in out.stderr, out.stderr
    out = run(["skopeo", "login", "--tls-verify=false", "-u", user, "--password-stdin",
               berth.hostport], input=password, env=home["env"], check=False)
    assert out.returncode != 0 and IDENTITY_TOKEN_REFUSED in out.stderr, out.stderr
    # Without a login of their own, they push and pull with docker's.
    out = push_with_skopeo(berth, home, "readme/docker-login", "--dest-tls-verify=false")
    assert out.returncode == 0, out.stderr
    run([*pm, "pull", "--tls-verify=false", f"{berth.hostport}/readme/docker-login:v1"],
        env=home["env"])
    # Workaround 1: hide docker's file from the login command only.
    env = dict(home["env"], DOCKER_CONFIG="/nonexistent")
    run(podman_login, input=password, env=env)
    with open(home["env"]["REGISTRY_AUTH_FILE"]) as f:
        assert berth.hostport in json.load(f)["auths"]
    run([*pm, "logout", berth.hostport], env=env)
    # Workaround 2: docker logout, then podman login.
    run(["docker", "logout", berth.hostport], env=home["env"])
    run(podman_login, input=password, env=home["env"])
    text = readme()
    assert IDENTITY_TOKEN_REFUSED in text
    assert re.search(r"DOCKER_CONFIG=/nonexistent podman login --tls-verify=false", text)
    assert "docker logout" in text
