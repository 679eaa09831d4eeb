"""Packaging checks: Dockerfile, .dockerignore, docker-compose.yml, deploy/.

Runs offline: `docker compose config` (or Debian's docker-compose) validates the compose file without
pulling anything; the image build itself is attempted only when the base images are already present.
deploy/garage-init.sh is exercised against a local Garage (scripts/garage.sh's binary) when it exists.
"""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))

REQUIRED_VARS = {
    "POSTGRES_PASSWORD": "0123456789abcdef0123456789abcdef",
    "GARAGE_RPC_SECRET": "11" * 32,
    "GARAGE_ADMIN_TOKEN": "22" * 32,
    "BERTH_S3_ACCESS_KEY_ID": "GK" + "33" * 12,
    "BERTH_S3_SECRET_ACCESS_KEY": "44" * 32,
    "BERTH_SERVER_KEY": "VGhpcyBpcyBub3QgYSByZWFsIGtleSwganVzdCAzMiE=",
}
# Optional image overrides (registry mirrors, deploy/offline-e2e.sh's local stand-ins).
IMAGE_VARS = ("POSTGRES_IMAGE", "GARAGE_IMAGE")


# ---------------------------------------------------------------------------------------------
# docker compose
# ---------------------------------------------------------------------------------------------


def _compose_cmd():
    """["docker", "compose"] (v2 plugin) or ["docker-compose"] (v1, Debian), else None."""
    if shutil.which("docker"):
        r = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if r.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


COMPOSE = _compose_cmd()
def needs_compose(f):
    """Compose is part of the machine (Debian's docker-compose): its absence is a failure."""
    def wrapper(*a, **kw):
        assert COMPOSE is not None, "neither `docker compose` nor docker-compose is installed"
        return f(*a, **kw)
    import functools
    return functools.wraps(f)(wrapper)


def compose(args, variables, tmp_path):
    """Run compose on the repository's docker-compose.yml with exactly `variables` set: an empty
    --env-file so that a developer's .env cannot supply (or hide) anything."""
    env = {k: v for k, v in os.environ.items()
           if k not in REQUIRED_VARS and k not in IMAGE_VARS
           and not k.startswith(("COMPOSE_", "BERTH_"))}
    env.update(variables)
    empty = tmp_path / "empty.env"
    empty.write_text("")
    cmd = COMPOSE + ["--project-directory", ROOT, "-f", os.path.join(ROOT, "docker-compose.yml"),
                     "--env-file", str(empty)] + args
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=120)


def compose_config(tmp_path, variables=REQUIRED_VARS):
    """The resolved compose model as a dict."""
    if COMPOSE == ["docker", "compose"]:
        r = compose(["config", "--format", "json"], variables, tmp_path)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    import yaml
    r = compose(["config"], variables, tmp_path)
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


@needs_compose
def test_compose_config_valid_with_secrets(tmp_path):
    r = compose(["config", "-q"], REQUIRED_VARS, tmp_path)
    assert r.returncode == 0, r.stderr


@needs_compose
@pytest.mark.parametrize("missing", sorted(REQUIRED_VARS))
def test_compose_config_fails_without_each_secret(tmp_path, missing):
    """No default passwords: every secret must be given."""
    variables = {k: v for k, v in REQUIRED_VARS.items() if k != missing}
    r = compose(["config", "-q"], variables, tmp_path)
    assert r.returncode != 0
    assert missing in (r.stderr + r.stdout)


@needs_compose
def test_compose_berth_service(tmp_path):
    cfg = compose_config(tmp_path)
    services = cfg["services"]
    assert set(services) >= {"berth", "postgres", "garage", "garage-init"}
    berth = services["berth"]
    assert "build" in berth
    dep = berth["depends_on"]
    assert dep["postgres"]["condition"] == "service_healthy"
    assert dep["garage"]["condition"] == "service_healthy"
    assert dep["garage-init"]["condition"] == "service_completed_successfully"
    env = berth["environment"]
    assert env["BERTH_METADATA__BACKEND"] == "postgres"
    pw = REQUIRED_VARS["POSTGRES_PASSWORD"]
    assert env["BERTH_METADATA__URL"] == f"postgres://berth:{pw}@postgres:5432/berth"
    assert env["BERTH_STORAGE__BACKEND"] == "s3"
    assert env["BERTH_STORAGE__ENDPOINT"] == "http://garage:3900"
    assert env["BERTH_STORAGE__REGION"] == "garage"
    assert env["BERTH_STORAGE__BUCKET"] == "berth"
    assert env["BERTH_STORAGE__ACCESS_KEY_ID"] == REQUIRED_VARS["BERTH_S3_ACCESS_KEY_ID"]
    assert env["BERTH_STORAGE__SECRET_ACCESS_KEY"] == REQUIRED_VARS["BERTH_S3_SECRET_ACCESS_KEY"]
    assert str(env["BERTH_STORAGE__PATH_STYLE"]).lower() == "true"
    # the blob cache lives on the data volume, not in the container's writable layer
    assert env["BERTH_STORAGE__CACHE_DIR"].startswith("/var/lib/berth/")
    assert any("/var/lib/berth" in str(v.get("target") if isinstance(v, dict) else v)
               for v in berth["volumes"])
    assert env["BERTH_AUTH__SERVER_KEY"] == REQUIRED_VARS["BERTH_SERVER_KEY"]
    assert berth["healthcheck"]["test"] == ["CMD", "berth", "healthcheck"]
    # the service does not override the image's non-root user
    assert berth.get("user") in (None, "", "10001", "10001:10001", "berth")
    assert any(str(p.get("target") if isinstance(p, dict) else p).endswith("5000")
               for p in berth["ports"])


@needs_compose
def test_compose_backing_services(tmp_path):
    cfg = compose_config(tmp_path)
    s = cfg["services"]
    pg = s["postgres"]
    assert pg["image"].startswith("postgres:16")
    assert pg["environment"]["POSTGRES_PASSWORD"] == REQUIRED_VARS["POSTGRES_PASSWORD"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    garage = s["garage"]
    assert garage["image"] == "dxflrs/garage:v2.1.0"
    assert garage["environment"]["GARAGE_RPC_SECRET"] == REQUIRED_VARS["GARAGE_RPC_SECRET"]
    assert "healthcheck" in garage
    mounts = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in garage["volumes"]]
    assert any("deploy/garage.toml" in m and "/etc/garage.toml" in m for m in mounts)
    init = s["garage-init"]
    assert init["depends_on"]["garage"]["condition"] == "service_healthy"
    # named volumes for every piece of state
    assert set(cfg["volumes"]) >= {"berth-data", "postgres-data", "garage-meta", "garage-data"}


@needs_compose
def test_compose_image_overrides(tmp_path):
    """POSTGRES_IMAGE / GARAGE_IMAGE replace the official images (default: postgres:16,
    dxflrs/garage:v2.1.0), and garage-init copies its garage CLI out of the same Garage image."""
    s = compose_config(tmp_path)["services"]
    assert s["postgres"]["image"] == "postgres:16"
    assert s["garage-init"]["build"]["args"]["GARAGE_IMAGE"] == "dxflrs/garage:v2.1.0"
    variables = dict(REQUIRED_VARS, POSTGRES_IMAGE="mirror.example/postgres:16",
                     GARAGE_IMAGE="mirror.example/garage:v2.1.0")
    s = compose_config(tmp_path, variables)["services"]
    assert s["postgres"]["image"] == "mirror.example/postgres:16"
    assert s["garage"]["image"] == "mirror.example/garage:v2.1.0"
    assert s["garage-init"]["build"]["args"]["GARAGE_IMAGE"] == "mirror.example/garage:v2.1.0"


@needs_compose
def test_gen_env_output_is_accepted(tmp_path):
    out = subprocess.run([os.path.join(ROOT, "deploy", "gen-env.sh")], capture_output=True,
                         text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if line and not line.startswith("#"))
    assert set(values) == set(REQUIRED_VARS)
    assert re.fullmatch(r"GK[0-9a-f]{24}", values["BERTH_S3_ACCESS_KEY_ID"])
    assert re.fullmatch(r"[0-9a-f]{64}", values["BERTH_S3_SECRET_ACCESS_KEY"])
    assert re.fullmatch(r"[0-9a-f]{64}", values["GARAGE_RPC_SECRET"])
    assert re.fullmatch(r"[0-9a-f]+", values["POSTGRES_PASSWORD"])
    assert len(base64.b64decode(values["BERTH_SERVER_KEY"], validate=True)) == 32
    r = compose(["config", "-q"], values, tmp_path)
    assert r.returncode == 0, r.stderr
    # two runs never give the same secrets
    again = subprocess.run([os.path.join(ROOT, "deploy", "gen-env.sh")], capture_output=True,
                           text=True, check=True).stdout
    assert again != out


# ---------------------------------------------------------------------------------------------
# The documented steps (README.md, deploy/README.md) are what deploy/offline-e2e.sh runs
# ---------------------------------------------------------------------------------------------

# The commands a newcomer types, exactly as deploy/offline-e2e.sh runs them (test_compose_e2e.py).
STEP_ENV = "deploy/gen-env.sh > .env && chmod 600 .env"
STEP_UP = ("docker-compose up -d", "docker compose up -d")


def read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def required_by_compose():
    """The variables docker-compose.yml cannot start without (`${NAME:?message}`)."""
    return set(re.findall(r"\$\{(\w+):\?", read("docker-compose.yml")))


def test_required_variables_are_the_ones_tested_and_generated():
    assert required_by_compose() == set(REQUIRED_VARS)
    out = subprocess.run([os.path.join(ROOT, "deploy", "gen-env.sh")], capture_output=True,
                         text=True, check=True).stdout
    assert {line.split("=", 1)[0] for line in out.splitlines()
            if line and not line.startswith("#")} == required_by_compose()


@pytest.mark.parametrize("doc", ["README.md", "deploy/README.md", "docker-compose.yml"])
def test_documented_compose_steps_are_complete(doc):
    """Each place that tells how to start the deployment shows gen-env.sh, both compose
    spellings (Debian's docker.io has only docker-compose v1), and names every required
    variable."""
    text = read(doc)
    assert STEP_ENV in text, f"{doc} does not show {STEP_ENV!r}"
    for up in STEP_UP:
        assert up in text, f"{doc} does not show {up!r}"
    missing = sorted(v for v in required_by_compose() if f"`{v}`" not in text and f"#   {v}" not in text)
    assert not missing, f"{doc} does not name the required variables {missing}"


def test_offline_e2e_runs_the_documented_steps():
    """deploy/offline-e2e.sh (tests/packaging/test_compose_e2e.py) runs exactly the documented
    commands, in a checkout, without -p/-f/--env-file."""
    script = read("deploy", "offline-e2e.sh")
    assert f"STEP_ENV='{STEP_ENV}'" in script
    assert 'STEP_UP="${COMPOSE[*]} up -d"' in script
    assert re.search(r'COMPOSE=\(docker compose\)', script) and re.search(r"COMPOSE=\(docker-compose\)", script)
    compose_fn = script[script.index("compose() {"):script.index("cleanup() {")]
    assert "--env-file" not in compose_fn and " -p " not in compose_fn and " -f " not in compose_fn


# ---------------------------------------------------------------------------------------------
# Dockerfile, .dockerignore
# ---------------------------------------------------------------------------------------------


def dockerfile_stages(path):
    """[(from-line, [(INSTRUCTION, args)])] with line continuations joined, comments dropped."""
    lines, cur = [], ""
    with open(path) as f:
        for raw in f:
            s = raw.rstrip("\n")
            if not cur and s.lstrip().startswith("#"):
                continue
            if s.endswith("\\"):
                cur += s[:-1] + " "
                continue
            cur += s
            if cur.strip():
                lines.append(cur.strip())
            cur = ""
    stages = []
    for line in lines:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args, []))
        elif stages:
            stages[-1][1].append((instr, args.strip()))
    return stages


def test_dockerfile_multistage_non_root():
    stages = dockerfile_stages(os.path.join(ROOT, "Dockerfile"))
    assert len(stages) >= 2
    builder_from, builder = stages[0]
    assert "rust:" in builder_from and "bookworm" in builder_from
    assert any(i == "RUN" and "cargo build --release --locked" in a for i, a in builder)
    # The image ships the binary stripped of debug information (item 14: 143 MB -> 27 MB); the
    # debug information stays in a stage of its own. tests/packaging/test_image.py checks the
    # binary in the image built by the offline path, which strips with the same script.
    assert any(i == "RUN" and "deploy/strip-binary.sh target/release/berth /usr/local/bin/berth" in a
               for i, a in builder)
    assert any(f.split()[-1] == "debug-symbols" for f, _ in stages[1:-1])
    runtime_from, runtime = stages[-1]
    assert runtime_from.split()[0] == "debian:bookworm-slim"
    instrs = dict()
    for i, a in runtime:
        instrs.setdefault(i, []).append(a)
    assert any("ca-certificates" in a for a in instrs["RUN"])
    # the last USER of the final stage is neither root nor uid 0
    user = instrs["USER"][-1].split(":")[0]
    assert user not in ("root", "0")
    assert user in ("10001", "berth")
    assert any("10001" in a and "berth" in a for a in instrs["RUN"]), "user berth with uid 10001"
    assert "5000" in " ".join(instrs["EXPOSE"])
    assert "/var/lib/berth" in " ".join(instrs["VOLUME"])
    env = " ".join(instrs["ENV"])
    assert "BERTH_LISTEN=0.0.0.0:5000" in env and "BERTH_DATA_DIR=/var/lib/berth" in env
    hc = instrs["HEALTHCHECK"][-1]
    assert re.search(r'CMD \["berth", ?"healthcheck"\]', hc)
    assert any("--from=" in a and "berth" in a for a in instrs["COPY"])


def test_dockerignore():
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        entries = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    assert {"target", "fuzz/target", "data", ".git", ".env"} <= entries


def test_deploy_garage_toml_has_no_secrets():
    with open(os.path.join(ROOT, "deploy", "garage.toml")) as f:
        text = f.read()
    assert not re.search(r"^\s*(rpc_secret|admin_token|metrics_token)\s*=", text, re.M)
    assert re.search(r'^replication_factor\s*=\s*1', text, re.M)
    assert re.search(r'api_bind_addr\s*=\s*"0\.0\.0\.0:3900"', text)



# ---------------------------------------------------------------------------------------------
# deploy/garage-init.sh against a real (local) Garage
# ---------------------------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_garage_init_script_against_local_garage(tmp_path):
    """Run deploy/garage.toml (paths and ports rewritten) with the locally built Garage 2.1.0, then
    deploy/garage-init.sh twice (idempotent), then S3 put/get with the imported key."""
    from services import Garage

    import boto3
    from botocore.config import Config

    garage = Garage.binary()  # builds it when missing (scripts/test.sh has by now)
    with open(os.path.join(ROOT, "deploy", "garage.toml")) as f:
        text = f.read()
    rpc, s3, admin = _free_port(), _free_port(), _free_port()
    text = text.replace("/var/lib/garage", str(tmp_path))
    text = text.replace('"0.0.0.0:3901"', f'"127.0.0.1:{rpc}"')
    text = text.replace('"0.0.0.0:3900"', f'"127.0.0.1:{s3}"')
    text = text.replace('"0.0.0.0:3903"', f'"127.0.0.1:{admin}"')
    conf = tmp_path / "garage.toml"
    conf.write_text(text)
    env = dict(os.environ, GARAGE_CONFIG_FILE=str(conf), **REQUIRED_VARS)
    env.pop("GARAGE_RPC_HOST", None)
    env["PATH"] = os.path.dirname(garage) + os.pathsep + env["PATH"]
    with open(tmp_path / "garage.log", "wb") as log:
        server = subprocess.Popen([garage, "-c", str(conf), "server"], stdout=log,
                                  stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    try:
        init_env = dict(env, GARAGE_HOST="127.0.0.1", GARAGE_RPC_PORT=str(rpc), GARAGE_CAPACITY="1G")
        for _ in range(2):
            r = subprocess.run([os.path.join(ROOT, "deploy", "garage-init.sh")], env=init_env,
                               capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
            assert r.returncode == 0, r.stderr + (tmp_path / "garage.log").read_text()
        client = boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{s3}", region_name="garage",
            aws_access_key_id=REQUIRED_VARS["BERTH_S3_ACCESS_KEY_ID"],
            aws_secret_access_key=REQUIRED_VARS["BERTH_S3_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))
        body = os.urandom(100_000)
        client.put_object(Bucket="berth", Key="init-check", Body=body)
        assert client.get_object(Bucket="berth", Key="init-check")["Body"].read() == body
        client.close()  # Garage waits up to 10 s for open S3 connections on SIGTERM
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
