"""Start and stop a Berth server (or point at an already-running registry) for the Python test suites.

Environment:
  REGISTRY_URL   use this running registry instead of starting one (e.g. http://127.0.0.1:5000)
  BERTH_BIN      the berth binary to start (default: the newer of target/release/berth and
                 target/debug/berth)
  BERTH_CONFIG   optional config file passed with --config
  REGISTRY_USER, REGISTRY_PASSWORD
                 credentials for REGISTRY_URL (a started server uses the administrator
                 credentials its first start wrote to the data directory)
  BERTH_TEST_DEPLOYMENT
                 `embedded` (default: SQLite + files in the data directory) or `production`:
                 every server gets a fresh PostgreSQL database (scripts/postgres.sh newdb) and
                 its own key prefix in the S3 bucket named by the BERTH_STORAGE__* variables
                 (scripts/test.sh starts PostgreSQL and Garage and sets them).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import base64
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def berth_bin():
    env = os.environ.get("BERTH_BIN")
    if env:
        return env
    # The newer of the two builds: the one a developer just made.
    builds = [os.path.join(ROOT, "target", p, "berth") for p in ("release", "debug")]
    builds = [b for b in builds if os.path.exists(b)]
    if builds:
        return max(builds, key=os.path.getmtime)
    raise RuntimeError("no berth binary: run `cargo build --release` or set BERTH_BIN")


def deployment():
    return os.environ.get("BERTH_TEST_DEPLOYMENT", "embedded")


def fresh_database_url():
    """A new, empty PostgreSQL database on the test cluster."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "postgres.sh"), "newdb"],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def production_env(database_url=None, prefix=None):
    """Settings for a Berth replica over PostgreSQL + S3. Replicas of one registry share both."""
    for k in ("BERTH_STORAGE__ENDPOINT", "BERTH_STORAGE__BUCKET", "BERTH_STORAGE__ACCESS_KEY_ID"):
        if not os.environ.get(k):
            raise RuntimeError(f"{k} is not set: run scripts/test.sh (it starts Garage)")
    return {
        # Replicas of one registry must share the server key that seals stored secrets.
        "BERTH_AUTH__SERVER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "BERTH_METADATA__BACKEND": "postgres",
        "BERTH_METADATA__URL": database_url or fresh_database_url(),
        "BERTH_STORAGE__BACKEND": "s3",
        "BERTH_STORAGE__PREFIX": prefix or f"t-{uuid.uuid4().hex}/",
    }


def free_port():
    """A port nothing listens on right now. Racy (another process may take it before it is bound):
    only for servers that cannot bind port 0 and report the port they got."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The address in Berth's "berth is serving" line, text (`listen=ADDR`) or JSON (`"listen":"ADDR"`).
SERVING = re.compile(rb'berth is serving.*?\blisten"?[=:]"?(127\.0\.0\.1):(\d+)'
                     rb'|\blisten"?[=:]"?(127\.0\.0\.1):(\d+).*?berth is serving')


class BerthServer:
    """A berth process on 127.0.0.1 with its own data directory.

    Without `port`, the server binds port 0 and the harness reads the port it got from its
    "berth is serving" log line (so the log filter must let `info` through), so no other process
    can take the port between choosing and binding it; `port`/`url` are known after `start()`.
    With `port` (a restart on the address clients already use), `start()` retries while the port
    is still busy."""

    # Every server started in this process, for `auto_auth`.
    started = []
    # Whether the server can bind port 0 and log the port (other registries in subclasses cannot).
    reports_port = True

    def __init__(self, data_dir=None, port=None, extra_args=(), env=None, admin=None):
        """`admin`: the (access key id, secret) of a registry whose first start happened
        elsewhere (another replica); by default read from this server's data directory."""
        self._admin = admin
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="berth-test-")
        self.fixed_port = port is not None or not self.reports_port
        self.port = port or (None if self.reports_port else free_port())
        self.extra_args = list(extra_args)
        env = dict(env or {})
        if deployment() == "production" and "BERTH_METADATA__BACKEND" not in env:
            # Fixed at creation, so that a restarted server finds its registry again.
            env = dict(production_env(), **env)
        # What this server adds to the environment: a restart with the same settings
        # (`BerthServer(data_dir=..., env=old.config_env)`) finds the same registry.
        self.config_env = env
        self.env = dict(os.environ, **env)
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    @property
    def url(self):
        return f"http://{self.hostport}"

    @property
    def hostport(self):
        if self.port is None:
            raise RuntimeError("the server's port is known once start() has returned")
        return f"127.0.0.1:{self.port}"

    health_path = "/healthz"

    @property
    def admin(self):
        """The administrator's (access key id, secret access key)."""
        if self._admin is None:
            self._admin = read_admin_credentials(self.data_dir)
        return self._admin

    @property
    def auth(self):
        """Credentials for requests (`requests.get(..., auth=server.auth)`)."""
        return self.admin

    def auth_header(self):
        user, password = self.admin
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def cli(self, *args, input=None, check=True):
        """Run a `berth` administration command against this server's database."""
        out = subprocess.run([berth_bin(), *args], env=dict(self.env, BERTH_DATA_DIR=self.data_dir),
                             input=input, capture_output=True, text=True, timeout=60)
        if check and out.returncode != 0:
            raise RuntimeError(f"berth {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out

    def command(self):
        """The server's command line (subclasses run other registries)."""
        listen = self.hostport if self.fixed_port else "127.0.0.1:0"
        args = [berth_bin(), "serve", "--listen", listen, "--data-dir", self.data_dir]
        if os.environ.get("BERTH_CONFIG"):
            args += ["--config", os.environ["BERTH_CONFIG"]]
        return args + self.extra_args

    def start(self, timeout=30):
        deadline = time.time() + timeout
        while True:
            if not self.fixed_port:
                self.port = None
            args = self.command()
            with open(self.log_path, "ab") as log:
                offset = log.tell()
                self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
            try:
                self._wait_healthy(args[0], offset, deadline)
            except PortBusy:
                # A fixed port still held by something else (a restart right after a stop):
                # try again until the deadline.
                if time.time() >= deadline:
                    raise RuntimeError(f"port {self.port} stayed busy; log: {self.read_log()}")
                time.sleep(0.2)
                continue
            BerthServer.started.append(self)
            return self

    def _wait_healthy(self, name, offset, deadline):
        while time.time() < deadline:
            if self.proc.poll() is not None:
                tail = self._log_since(offset)
                if self.fixed_port and b"cannot listen on" in tail and b"in use" in tail:
                    raise PortBusy()
                raise RuntimeError(f"{name} exited with {self.proc.returncode}; log: {self.read_log()}")
            if self.port is None:
                m = SERVING.search(self._log_since(offset))
                if m:
                    self.port = int(m.group(2) or m.group(4))
            if self.port is not None:
                try:
                    with urllib.request.urlopen(self.url + self.health_path, timeout=1) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"{name} did not become healthy in time; log: {self.read_log()}")

    def _log_since(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read()
        except OSError:
            return b""

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        """`with BerthServer(...) as srv:` starts it, and cleans it up on the way out (also
        when it fails to start)."""
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()


def server_for(url):
    """The Berth server this process started most recently that serves `url`, or None."""
    for srv in reversed(BerthServer.started):
        if isinstance(url, str) and (url == srv.url or url.startswith(srv.url + "/")):
            return srv
    return None


def auto_auth():
    """Make every `requests` call to a Berth server started by this process carry that
    server's administrator credentials (Basic), unless the call passes `auth=` itself. For
    suites about something other than authentication, which talk plain HTTP to the registry."""
    import requests

    if getattr(requests.Session.request, "_berth_auto_auth", False):
        return
    original = requests.Session.request

    def request(self, method, url, *args, **kwargs):
        headers = kwargs.get("headers") or {}
        explicit = any(k.lower() == "authorization" for k in headers)
        if kwargs.get("auth") is None and self.auth is None and not explicit:
            srv = server_for(url)
            if srv is not None:
                try:
                    kwargs["auth"] = srv.admin
                except OSError:
                    pass
        return original(self, method, url, *args, **kwargs)

    request._berth_auto_auth = True
    requests.Session.request = request


def read_admin_credentials(data_dir):
    """(access key id, secret) from the admin-credentials file a first start writes."""
    path = os.path.join(data_dir, "admin-credentials")
    fields = {}
    with open(path) as f:
        for line in f:
            if " = " in line and not line.startswith("#"):
                k, v = line.strip().split(" = ", 1)
                fields[k] = v
    return fields["access_key_id"], fields["secret_access_key"]


class PortBusy(Exception):
    """A server given a fixed port found it in use."""


class ExternalRegistry:
    """A registry that is already running (REGISTRY_URL)."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.hostport = self.url.split("://", 1)[1]
        user, password = os.environ.get("REGISTRY_USER"), os.environ.get("REGISTRY_PASSWORD")
        self.auth = (user, password) if user else None

    def cleanup(self):
        pass


def registry_from_env():
    url = os.environ.get("REGISTRY_URL")
    if url:
        return ExternalRegistry(url)
    return BerthServer().start()
