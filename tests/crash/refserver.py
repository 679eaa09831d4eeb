"""A stand-in with BerthServer's interface that runs the reference registry (CNCF
distribution 2.8, Debian's /usr/bin/docker-registry) on a data dir. Only used to check the
crash test itself (CRASH_SERVER=distribution); the real target is the berth binary."""
import os

from berth_server import BerthServer

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


class DistributionServer(BerthServer):
    health_path = "/v2/"
    reports_port = False

    def __init__(self, data_dir, port=None, **_):
        super().__init__(data_dir=data_dir, port=port)

    def command(self):
        cfg = os.path.join(self.data_dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(data=self.data_dir, port=self.port))
        return ["docker-registry", "serve", cfg]
