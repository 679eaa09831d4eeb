"""Real external services for Berth's tests: PostgreSQL (metadata) and Garage (S3 blob storage).

Thin wrappers around scripts/postgres.sh and scripts/garage.sh (which do the installing, building,
configuring and process management); no pytest dependency at import.

    from services import Postgres, Garage

    url = Postgres.fresh_database_url()      # postgres://berth:<pw>@127.0.0.1:<port>/berth_<time>_<rand>
    Postgres.restart()                       # restart the shared cluster
    Postgres.stop(); Postgres.start()

    pg = Postgres.cluster("berth-faults")    # a cluster of its own: fault tests stop and restart it
    url = pg.fresh_database_url(); pg.stop(); pg.start(); pg.restart()

    g = Garage.single(tmpdir)                # or Garage.cluster(tmpdir): three nodes, RF 3
    env = dict(os.environ, **g.env)          # BERTH_STORAGE__* for a berth process
    g.endpoints                              # ["http://127.0.0.1:<port>", ...] (one per node)
    g.stop_node(2); g.start_node(2)          # cluster only (nodes are numbered 1..3)
    g.stop_node(3, kill=True)                # SIGKILL: a crash
    g.stop()                                 # g.stop(kill=True): every node, SIGKILL

Environment:
  GARAGE_BIN             Garage binary to use (default ~/.cache/berth/garage/bin/garage, built on demand)
  GARAGE_BUILD_TIMEOUT   seconds to wait for an already-running Garage build (default 3600)
  BERTH_PG_CLUSTER       name of the shared test PostgreSQL cluster (default berth)
  BERTH_PG_PORT          its port (default: the cluster's own, 54329 for a new `berth`); clients
                         take the port from the URLs scripts/postgres.sh prints
"""
import os
import shlex
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POSTGRES_SH = os.path.join(ROOT, "scripts", "postgres.sh")
GARAGE_SH = os.path.join(ROOT, "scripts", "garage.sh")

# Building Garage from source can take ~25 minutes on two cores; everything else is quick.
_BUILD_TIMEOUT = int(os.environ.get("GARAGE_BUILD_TIMEOUT", "3600")) + 600
_TIMEOUT = 300


class ServiceError(RuntimeError):
    """A service script failed; the message carries its stderr."""


def _run(args, timeout=_TIMEOUT, env=None):
    """Run a service script; return its stdout (stripped). stdin is /dev/null (CI has none)."""
    try:
        p = subprocess.run(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise ServiceError(f"{' '.join(args)} timed out after {timeout}s; stderr: {e.stderr}") from e
    if p.returncode != 0:
        raise ServiceError(f"{' '.join(args)} exited with {p.returncode}:\n{p.stderr}")
    return p.stdout.strip()


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


class PostgresCluster:
    """A PostgreSQL cluster of scripts/postgres.sh (many databases, one server), by name.

    The shared cluster (`Postgres`) serves every suite; tests that stop or restart PostgreSQL use
    a cluster of their own (`Postgres.cluster("berth-faults")`, on a port of its own), so that
    the fault hurts no other test."""

    def __init__(self, name=None):
        self.name = name or os.environ.get("BERTH_PG_CLUSTER") or "berth"

    def _env(self):
        env = dict(os.environ, BERTH_PG_CLUSTER=self.name)
        if self.name != (os.environ.get("BERTH_PG_CLUSTER") or "berth"):
            env.pop("BERTH_PG_PORT", None)  # that port is the shared cluster's
        return env

    def _run(self, *args):
        return _run([POSTGRES_SH, *args], env=self._env())

    def fresh_database_url(self):
        """Start the cluster if needed and create an empty database; returns its URL."""
        url = self._run("newdb").splitlines()[-1]
        if not url.startswith("postgres://"):
            raise ServiceError(f"postgres.sh newdb printed {url!r}")
        return url

    def start(self):
        """Install/create/start the cluster (no new database)."""
        self._run("up")

    def stop(self):
        """Fast shutdown: open connections are cut."""
        self._run("stop")

    def restart(self):
        """Restart the cluster (fast mode) and wait until it accepts connections again."""
        self._run("restart")

    def is_running(self):
        return subprocess.run([POSTGRES_SH, "status"], env=self._env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0

    def drop_test_databases(self):
        """Drop every berth_* database (housekeeping; the cluster keeps running)."""
        self._run("dropall")

    def url(self):
        """The URL of the maintenance database `postgres` (starts the cluster if needed)."""
        return self._run("url").splitlines()[-1]

    @staticmethod
    def psql(url, sql):
        """Run SQL through psql against `url`; returns the unaligned, tuples-only output."""
        return _run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql])

    @staticmethod
    def cluster(name):
        """Another cluster, by name (created on first use, on a port free then)."""
        return PostgresCluster(name)

    def __repr__(self):
        return f"<PostgresCluster {self.name}>"


# The shared test cluster (`berth`, or BERTH_PG_CLUSTER), one per machine, many databases.
Postgres = PostgresCluster()


# --------------------------------------------------------------------------------------------
# Garage
# --------------------------------------------------------------------------------------------


def parse_env_file(path):
    """The `export KEY='value'` lines of a garage.sh env file, as a dict."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line)
            if words and words[0] == "export":
                words = words[1:]
            for w in words:
                k, sep, v = w.partition("=")
                if sep:
                    out[k] = v
    return out


class GarageDeployment:
    """A Garage single node or three-node cluster set up by scripts/garage.sh in `dir`."""

    def __init__(self, dir, env_path):
        self.dir = dir
        self.env_path = env_path
        self.all_env = parse_env_file(env_path)
        # What a berth process needs: BERTH_STORAGE__BACKEND/ENDPOINT/REGION/BUCKET/PATH_STYLE/
        # ACCESS_KEY_ID/SECRET_ACCESS_KEY.
        self.env = {k: v for k, v in self.all_env.items() if k.startswith("BERTH_STORAGE__")}
        self.endpoints = self.all_env["GARAGE_S3_ENDPOINTS"].split()
        self.nodes = int(self.all_env.get("GARAGE_NODES", len(self.endpoints)))

    # convenience accessors
    @property
    def endpoint(self):
        return self.env["BERTH_STORAGE__ENDPOINT"]

    @property
    def region(self):
        return self.env["BERTH_STORAGE__REGION"]

    @property
    def bucket(self):
        return self.env["BERTH_STORAGE__BUCKET"]

    @property
    def access_key_id(self):
        return self.env["BERTH_STORAGE__ACCESS_KEY_ID"]

    @property
    def secret_access_key(self):
        return self.env["BERTH_STORAGE__SECRET_ACCESS_KEY"]

    def _need_cluster(self, i):
        if self.nodes < 2:
            raise ValueError("stop_node/start_node need a cluster (Garage.cluster)")
        if i not in (1, 2, 3):
            raise ValueError(f"node number must be 1, 2 or 3, not {i!r}")

    def stop_node(self, i, kill=False):
        """Stop node i (1..3): SIGTERM (Garage lets open S3 connections finish for up to 10 s),
        SIGKILL after 20 s; kill=True: SIGKILL at once (a crash)."""
        self._need_cluster(i)
        _run([GARAGE_SH, "stop-node", self.dir, str(i)] + (["--kill"] if kill else []))

    def start_node(self, i):
        """Start node i again; returns when it is connected to the other running nodes."""
        self._need_cluster(i)
        _run([GARAGE_SH, "start-node", self.dir, str(i)])

    def stop(self, kill=False):
        """Stop every node (data stays in `dir`; Garage.single/cluster(dir) restarts it): SIGTERM
        (Garage lets open S3 connections finish for up to 10 s); kill=True: SIGKILL (a crash)."""
        _run([GARAGE_SH, "stop", self.dir] + (["--kill"] if kill else []))

    def log(self, i=1):
        """The log of node i (the single node's log for a single deployment)."""
        d = self.dir if self.nodes == 1 else os.path.join(self.dir, f"node{i}")
        with open(os.path.join(d, "garage.log"), errors="replace") as f:
            return f.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return f"<GarageDeployment {self.dir} nodes={self.nodes} endpoints={self.endpoints}>"


class Garage:
    """Factories for Garage deployments (the pinned Garage 2.1.0 binary is built on first use)."""

    @staticmethod
    def binary():
        """Path of the Garage binary (waits for / runs the build when missing)."""
        return _run([GARAGE_SH, "bin"], timeout=_BUILD_TIMEOUT).splitlines()[-1]

    @staticmethod
    def binary_present():
        """True when the binary is already there (no build needed)."""
        path = os.environ.get("GARAGE_BIN") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
            "berth", "garage", "bin", "garage")
        return os.access(path, os.X_OK)

    @staticmethod
    def single(dir):
        """One node (replication_factor 1), bucket `berth` and a read/write/owner key."""
        env_path = _run([GARAGE_SH, "single", str(dir)], timeout=_BUILD_TIMEOUT).splitlines()[-1]
        return GarageDeployment(os.path.dirname(env_path), env_path)

    @staticmethod
    def cluster(dir):
        """Three nodes (replication_factor 3, consistency_mode consistent, zones dc1..dc3)."""
        env_path = _run([GARAGE_SH, "cluster", str(dir)], timeout=_BUILD_TIMEOUT).splitlines()[-1]
        return GarageDeployment(os.path.dirname(env_path), env_path)
