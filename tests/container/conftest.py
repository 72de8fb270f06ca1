"""Fixtures for the container tests (scripts/container-test runs them after
it has built the image): podman with the script's private store, and a
throwaway PostgreSQL 15 cluster that also listens on TCP 127.0.0.1, since
the container shares the host's network but not its file system."""
import os
import shlex
import socket
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from pgcluster import Cluster  # noqa: E402

SRCDIR = os.environ.get("MAINTD_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
PODMAN = shlex.split(os.environ.get("MAINTD_PODMAN", ""))
IMAGE = os.environ.get("MAINTD_IMAGE", "")
# ulimits must stay within the host's hard limits (no CAP_SYS_RESOURCE here)
RUNOPT = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def pytest_collection_modifyitems(config, items):
    if not PODMAN:
        # a container step that cannot run must fail, not skip
        raise pytest.UsageError("MAINTD_PODMAN is not set: run scripts/container-test")


def podman(*args, check=True, timeout=300, **kw):
    r = subprocess.run(PODMAN + list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("podman %s exited %d: %s" % (" ".join(args[:3]), r.returncode, r.stderr[-3000:]))
    return r


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="session")
def pg():
    """A PostgreSQL 15 cluster on a Unix socket and on 127.0.0.1:port."""
    port = free_port()
    # in the system's temporary directory (pytest's own is root's only);
    # "localhost": pgcluster writes 127.0.0.1 unquoted, which postgresql.conf refuses
    with Cluster(settings={"listen_addresses": "localhost", "port": port, "fsync": "off",
                                      "log_min_messages": "warning"}) as c:
        c.port = port
        c.start()
        yield c


def url(cluster, dbname):
    return "postgresql://postgres@127.0.0.1:%d/%s" % (cluster.port, dbname)
