"""/healthz, /readyz and /metrics on http.listen, from the daemon's loop."""
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from conftest import MIGRATIONS, SEED_COUNT, run


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_status(port, path, code, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if get(port, path)[0] == code:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_probes_follow_migrations_and_the_database(new_cluster, daemons, notify):
    c = new_cluster(start=False)
    port = free_port()
    d = daemons(["-d", c.conninfo("postgres"), "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "http.listen=127.0.0.1:%d" % port], notify=notify)
    assert wait_status(port, "/healthz", 200), d.stderr()
    status, body = get(port, "/readyz")
    assert status == 503 and "migrations are not done" in body
    c.start()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=40), d.stderr()
    assert wait_status(port, "/readyz", 200)
    status, m = get(port, "/metrics")
    assert status == 200
    assert metric(m, "momentum_maintd_ready") == 1 and metric(m, "momentum_maintd_migrations_applied") == SEED_COUNT
    assert metric(m, "momentum_maintd_database_up") == 1
    c.stop()
    assert wait_status(port, "/readyz", 503), "503 while the database is unreachable"
    assert get(port, "/healthz")[0] == 200, "the loop still answers"
    c.start()
    assert wait_status(port, "/readyz", 200, timeout=60), d.stderr()
    m = get(port, "/metrics")[1]
    assert metric(m, "momentum_maintd_database_reconnects_total") >= 1
    assert get(port, "/nope")[0] == 404
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_metrics_change_after_a_cleanup_run_and_pass_promtool(db, daemons, notify):
    from conftest import fill_tokens, missed_history
    from test_jobs import migrate, wait_for, job_runs
    migrate(db)
    fill_tokens(db, 1000, 300)
    port = free_port()
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "http.listen=127.0.0.1:%d" % port], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1")
    before = get(port, "/metrics")[1]
    assert metric(before, "momentum_maintd_job_last_rows") == 0
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    missed_history(db)
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "http.listen=127.0.0.1:%d" % port], notify=notify)
    assert wait_for(lambda: ("ok", 300, None) in job_runs(db)), d.stderr()
    time.sleep(0.5)
    after = get(port, "/metrics")[1]
    assert metric(after, "momentum_maintd_job_last_rows") == 300
    assert metric(after, "momentum_maintd_job_last_success_timestamp_seconds") > time.time() - 60
    assert 'momentum_maintd_job_runs_total{job="zoom-token-cleanup",status="ok"} 1' in after
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_listen_address_in_use_is_a_configuration_error(db):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "http.listen=127.0.0.1:%d" % s.getsockname()[1], "run"], timeout=20)
        assert r.returncode == 78
        assert "cannot listen there" in r.stderr
    finally:
        s.close()
