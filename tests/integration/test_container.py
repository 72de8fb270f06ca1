"""The container sidecar: configuration from the environment only, no
file at all; PID 1 exits promptly on SIGTERM; the Dockerfile's promises."""
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import BIN, MIGRATIONS, SEED_COUNT, SRCDIR


def test_environment_only_configuration_as_pid_1(db, tmp_path):
    import urllib.request
    from test_http import free_port, wait_status
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs unshare and root for a PID namespace")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "DATABASE_URL": db.conninfo,
           "MOMENTUM_MAINTD_ENVIRONMENT": "development",
           "MOMENTUM_MAINTD_MIGRATIONS_DIRECTORY": MIGRATIONS,
           "MOMENTUM_MAINTD_HTTP_LISTEN": "127.0.0.1:%d" % port,
           "MOMENTUM_MAINTD_LOG_FORMAT": "json",
           "MOMENTUM_MAINTD_LOG_LEVEL": "info"}
    if os.path.exists("/usr/local/etc/momentum-maintd/momentum-maintd.conf"):
        pytest.skip("an installed configuration file would be read")
    log = open(tmp_path / "stderr", "w")
    # the daemon is PID 1 of a new PID namespace, as in a container
    p = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", BIN], env=env,
                         stdout=subprocess.DEVNULL, stderr=log, cwd="/")
    try:
        assert wait_status(port, "/readyz", 200, timeout=30), open(tmp_path / "stderr").read()
        inner = int(subprocess.check_output(["pgrep", "-P", str(p.pid)]).split()[0])
        with open("/proc/%d/status" % inner) as f:
            assert "NSpid:\t%d\t1" % inner in f.read(), "the daemon is PID 1 in its namespace"
        t0 = time.monotonic()
        os.kill(inner, signal.SIGTERM)     # as a container runtime stops PID 1
        assert p.wait(10) == 0
        assert time.monotonic() - t0 < 5
    finally:
        if p.poll() is None:
            p.kill()
        log.close()
    out = open(tmp_path / "stderr").read()
    assert '"msg":"migrations done: %d applied now' % SEED_COUNT in out
    assert "configuration file" not in out


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = open(os.path.join(SRCDIR, "Dockerfile")).read()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2, "multi-stage"
    assert re.search(r"^COPY --from=build ", text, re.M)
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root")), "runs as a non-root user"
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert '--without-systemd' in text
    assert re.search(r'^ENTRYPOINT \["/usr/sbin/momentum-maintd"\]', text, re.M)
