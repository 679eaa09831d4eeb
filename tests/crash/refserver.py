"""A stand-in with BerthServer's interface that runs the reference registry (CNCF
distribution 2.8, Debian's /usr/bin/docker-registry) on a data dir. Only used to check the
crash test itself (CRASH_SERVER=distribution); the real target is the berth binary."""
import os
import signal
import subprocess
import time
import urllib.request

from berth_server import free_port

CONFIG = """version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
"""


class DistributionServer:
    def __init__(self, data_dir, port=None, **_):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.proc = None
        self.log_path = os.path.join(data_dir, "server.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=30):
        cfg = os.path.join(self.data_dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(data=self.data_dir, port=self.port))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", cfg], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("docker-registry exited")
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("docker-registry did not come up")

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-4000:].decode(errors="replace")
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def cleanup(self):
        self.stop()
