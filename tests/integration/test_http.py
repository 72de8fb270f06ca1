"""/healthz, /readyz and /metrics on http.listen, from the daemon's loop,
and what any local process can do to that port (issue 14 item 4)."""
import os
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

from conftest import MIGRATIONS, SEED_COUNT, SRCDIR, run, wait_until


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path, timeout=5):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
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


# ---- what any local process can do to the port ----------------------------

UNIT_IN = os.path.join(SRCDIR, "systemd", "momentum-maintd.service.in")
# src/http.c: the time a client has to send a whole request head
REQUEST_TIMEOUT = 5


def unit_file_limit():
    with open(UNIT_IN) as f:
        m = re.search(r"^LimitNOFILE=(\d+)$", f.read(), re.M)
    assert m, "the unit sets LimitNOFILE="
    return int(m.group(1))


def start(daemons, db, notify, port, nofile=None, monkeypatch=None):
    """The daemon with http.listen and a 1 s watchdog; with nofile, under
    RLIMIT_NOFILE nofile (soft and hard), as systemd's LimitNOFILE= sets it."""
    args = ["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
            "--set", "http.listen=127.0.0.1:%d" % port]
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": None}
    if nofile is None:
        d = daemons(args, notify=notify, env=env)
    else:
        popen = subprocess.Popen

        def limited(*a, **kw):
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            return popen(*a, **kw)
        monkeypatch.setattr(subprocess, "Popen", limited)
        try:
            d = daemons(args, notify=notify, env=env)
        finally:
            monkeypatch.undo()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=40), d.stderr()
    assert wait_status(port, "/healthz", 200), d.stderr()
    return d


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def watchdogs(notify):
    return notify.lines().count("WATCHDOG=1")


def log_lines_with(path, needle):
    """Counted without reading the whole log at once: the attack can write GBs."""
    n = 0
    with open(path, errors="replace") as f:
        for line in f:
            n += needle in line
    return n


def connect(port, timeout=2):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def read_response(s, head_only=False):
    """(status, {lower-case header: value}, body) of one response on s;
    the body is read by Content-Length (none after HEAD)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        assert chunk, "connection closed before a whole response head: %r" % buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk, "connection closed in the body"
        rest += chunk
    assert len(rest) == length, "more bytes than Content-Length: %r" % rest[length:]
    return status, headers, rest.decode()


def closed_by_server(s, timeout):
    """True once the server closes s (EOF or reset) within timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            try:
                if s.recv(65536) == b"":
                    return True
            except OSError:
                return True
    return False


def test_a_connection_flood_leaves_the_daemon_answering(db, daemons, notify, monkeypatch):
    """Reproduces: with the file limit at 1024, 1,100 slow connections made
    libevent's evhttp spin on accept() (EMFILE) with a full core, log each
    failure and stop answering /healthz and sending WATCHDOG=1."""
    limit = unit_file_limit()
    port = free_port()
    d = start(daemons, db, notify, port, nofile=limit, monkeypatch=monkeypatch)
    pid = d.proc.pid
    verify_runs = "SELECT count(*) FROM momentum_maintd.job_runs WHERE job = 'verify' AND status = 'ok'"
    runs = db.query(verify_runs)[0][0]
    cpu0, t0, dogs0 = cpu_seconds(pid), time.monotonic(), watchdogs(notify)
    flood, refused = [], 0
    try:
        # more slow connections than the daemon has descriptors, each with an
        # unfinished request head
        for _ in range(limit + 100):
            if time.monotonic() - t0 > 10:
                break
            try:
                s = connect(port, timeout=1)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: flood\r\n")
                flood.append(s)
            except OSError:
                refused += 1
        d.signal(signal.SIGUSR1)   # a verification pass on the database, now
        for _ in range(4):
            asked = time.monotonic()
            try:
                status = get(port, "/healthz", timeout=1)[0]
            except OSError as e:
                status = repr(e)
            assert status == 200 and time.monotonic() - asked < 1, (status, len(flood), refused)
            time.sleep(0.5)
        assert len(os.listdir("/proc/%d/fd" % pid)) < limit
        wall, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
        assert cpu < 0.5 * wall, "%.1f s of CPU in %.1f s" % (cpu, wall)
        assert watchdogs(notify) - dogs0 >= int(wall / 0.5) - 2, "WATCHDOG=1 every 0.5 s throughout"
        assert wait_status(port, "/readyz", 200, timeout=5)
        assert wait_until(lambda: db.query(verify_runs)[0][0] > runs, timeout=20), d.stderr()
    finally:
        for s in flood:
            s.close()
    assert log_lines_with(d.log_path, "accept") <= 3
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_accept_failing_for_want_of_descriptors_pauses_and_logs_once(db, daemons, notify):
    """accept() failing with EMFILE: no spin, one log line, the watchdog goes
    on, and the port answers again once descriptors are free."""
    port = free_port()
    d = start(daemons, db, notify, port)
    pid = d.proc.pid
    kept = []
    for _ in range(4):
        # answered and kept alive: certainly accepted
        kept.append(connect(port))
        kept[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(kept[-1])[0] == 200
    flood = []
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    try:
        used = {int(f) for f in os.listdir("/proc/%d/fd" % pid)}
        lowest_free = min(set(range(len(used) + 1)) - used)
        # every descriptor below the limit is taken: the next accept() fails
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
        cpu0, t0, dogs0 = cpu_seconds(pid), time.monotonic(), watchdogs(notify)
        for _ in range(50):
            s = connect(port)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: flood\r\n\r\n")
            flood.append(s)
        time.sleep(3)
        wall, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
        assert cpu < 0.3 * wall, "%.1f s of CPU in %.1f s" % (cpu, wall)
        assert watchdogs(notify) - dogs0 >= int(wall / 0.5) - 2, "WATCHDOG=1 every 0.5 s throughout"
        failures = log_lines_with(d.log_path, "accept")
        assert 1 <= failures <= 2, failures
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for s in kept + flood:
            s.close()
    assert "cannot accept connections: Too many open files; pausing for 1 s" in d.stderr()
    asked = time.monotonic()
    assert wait_status(port, "/healthz", 200, timeout=5)
    assert time.monotonic() - asked < 2.5, "answering again after the pause"
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_request_bodies_are_refused_without_being_read(db, daemons, notify):
    """Reproduces: 50 connections sending 20 MB bodies grew the daemon to
    1 GB; 20 of them here would add 400 MB."""
    port = free_port()
    d = start(daemons, db, notify, port)
    pid = d.proc.pid
    peak0 = status_kb(pid, "VmHWM")
    conns = []
    for i in range(20):
        s = connect(port, timeout=5)
        method = b"POST" if i % 2 else b"GET"
        s.sendall(method + b" /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n")
        conns.append(s)
    chunk, alive, t0 = b"x" * (1 << 20), list(conns), time.monotonic()
    for _ in range(20):
        for s in list(alive):
            try:
                s.sendall(chunk)
            except OSError:
                alive.remove(s)
        if time.monotonic() - t0 > 30:
            break
    grown = status_kb(pid, "VmHWM") - peak0
    statuses = []
    for s in conns:
        try:
            statuses.append(read_response(s)[0])
        except (OSError, AssertionError) as e:
            statuses.append(repr(e))
        s.close()
    # evhttp grew by ~350 MB here; 16 MB leaves room for an ASan build's
    # shadow memory and quarantine (8 MB seen) and still catches buffering
    assert grown < 16384, "peak RSS grew by %d kB" % grown
    assert statuses == [413, 405] * 10, statuses
    assert get(port, "/healthz")[0] == 200
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_oversized_heads_are_refused(db, daemons, notify):
    port = free_port()
    d = start(daemons, db, notify, port)
    for head in [b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8192 + b"\r\n\r\n",
                 b"GET /healthz HTTP/1.1\r\n" + b"X-Many: 0123456789abcdef\r\n" * 300 + b"\r\n",
                 b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n"]:
        s = connect(port)
        try:
            s.sendall(head)
        except OSError:
            pass    # refused before all of it was sent
        status, headers, body = read_response(s)
        assert status == 431 and headers.get("connection") == "close", (status, headers, body)
        assert closed_by_server(s, 2)
        s.close()
    assert get(port, "/healthz")[0] == 200
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_slow_clients_are_closed_after_the_read_timeout(db, daemons, notify):
    """Reproduces: evhttp's timeout restarts with each byte, so a client that
    sends a header line every half second keeps its connection for ever."""
    port = free_port()
    d = start(daemons, db, notify, port)
    silent, drip = connect(port), connect(port)
    drip.sendall(b"GET /healthz HTTP/1.1\r\n")
    t0 = time.monotonic()
    closed = {}
    try:
        while time.monotonic() - t0 < REQUEST_TIMEOUT + 7 and len(closed) < 2:
            if "drip" not in closed:
                try:
                    drip.sendall(b"X-Drip: a\r\n")
                except OSError:
                    closed["drip"] = time.monotonic() - t0
            for name, s in (("silent", silent), ("drip", drip)):
                if name not in closed and closed_by_server(s, 0.5):
                    closed[name] = time.monotonic() - t0
    finally:
        silent.close()
        drip.close()
    assert set(closed) == {"silent", "drip"}, closed
    assert all(REQUEST_TIMEOUT - 0.5 < t < REQUEST_TIMEOUT + 2 for t in closed.values()), closed
    assert get(port, "/healthz")[0] == 200
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_head_has_no_body_and_the_connection_stays_in_step(db, daemons, notify):
    """Reproduces: HEAD was answered with a body, which the client took for
    the start of the next response on a kept-alive connection."""
    port = free_port()
    d = start(daemons, db, notify, port)
    s = connect(port)
    for path, code, body in [("/healthz", 200, "ok\n"), ("/readyz", 200, "ready\n"),
                             ("/nope", 404, "not found: try /healthz, /readyz or /metrics\n")]:
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        status, got_headers, got = read_response(s)
        assert (status, got) == (code, body)
        assert got_headers["content-type"] == "text/plain; charset=utf-8"
        assert got_headers["cache-control"] == "no-store"
        s.sendall(("HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        status, headers, nothing = read_response(s, head_only=True)
        assert (status, nothing) == (code, "")
        assert headers["content-length"] == str(len(body))
        assert headers["content-type"] == got_headers["content-type"]
        assert headers["cache-control"] == "no-store"
    # the next request on the same connection gets its own answer
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, m = read_response(s)
    assert status == 200 and headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert metric(m, "momentum_maintd_ready") == 1
    # HTTP/1.0 closes unless asked to keep the connection
    s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
    status, headers, body = read_response(s)
    assert (status, body, headers.get("connection")) == (200, "ok\n", "close")
    assert closed_by_server(s, 2)
    s.close()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_other_methods_get_405_with_allow(db, daemons, notify):
    port = free_port()
    d = start(daemons, db, notify, port)
    s = connect(port)
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]:
        s.sendall(("%s /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % method).encode())
        status, headers, _ = read_response(s)
        assert (status, headers.get("allow")) == (405, "GET, HEAD"), (method, status, headers)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(s)[0] == 200, "still in step"
    s.close()
    # with a body that is not read, the connection cannot go on
    s = connect(port)
    s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na=1")
    status, headers, _ = read_response(s)
    assert (status, headers.get("allow"), headers.get("connection")) == (405, "GET, HEAD", "close")
    assert closed_by_server(s, 2)
    s.close()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
