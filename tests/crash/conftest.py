import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "harness"))
sys.path.insert(0, HERE)

from berth_server import auto_auth  # noqa: E402

# These tests are about durability: they talk plain HTTP with the administrator's credentials.
auto_auth()
