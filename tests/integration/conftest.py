"""Fixtures for the integration tests: real PostgreSQL clusters in
temporary directories (15, or 17 with MAINTD_PG=17 and MAINTD_PG_ROOT:
tests/pgcluster.py), the real daemon binary, and a datagram socket that
plays systemd's NOTIFY_SOCKET."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pgcluster import DEFAULT_BIN, Cluster, clean_env  # noqa: E402  (tests/pgcluster.py, shared with bench/)

PG_BIN = os.environ.get("PG_BIN", DEFAULT_BIN)
SRCDIR = os.environ.get("MAINTD_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("MAINTD_BIN", os.path.join(SRCDIR, "src", "momentum-maintd"))
MIGRATIONS = os.path.join(SRCDIR, "migrations")
FIXTURES = os.path.join(SRCDIR, "tests", "fixtures")

# Tests never read an installed /usr/local/etc/momentum-maintd/momentum-maintd.conf.
EMPTY_CONFIG = os.path.join(tempfile.gettempdir(), "momentum-maintd-test-empty.conf")
open(EMPTY_CONFIG, "w").close()

# production (the default) needs a backup command: tests say which
# environment they test, the others run as development at info level.
TEST_DEFAULTS = {"MOMENTUM_MAINTD_ENVIRONMENT": "development", "MOMENTUM_MAINTD_LOG_LEVEL": "info"}

# the shipped migrations: the seed's 001-003 and the fixes from 004 on
SEED_MIGRATIONS = sorted(f[:-4] for f in os.listdir(MIGRATIONS) if f[:3].isdigit() and f.endswith(".sql"))
SEED_COUNT = len(SEED_MIGRATIONS)

# what verify finds after all the shipped migrations: nothing (005 fixed
# what the advisor found in 001-004); a test that adds a finding names it
SHIPPED_FINDINGS = set()
SHIPPED_WARNINGS = len(SHIPPED_FINDINGS)
SHIPPED_SUMMARY = "0 errors, %d warnings, 0 info" % SHIPPED_WARNINGS if SHIPPED_FINDINGS else "no findings"

SEED_TABLES = ["profiles", "deliverables", "organizations", "organization_members",
               "brand_settings", "zoom_credentials"]

# a throwaway cluster need not survive a crash of the machine
CLUSTER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": 100, "log_min_messages": "warning"}


@pytest.fixture(scope="session")
def tmpbase():
    d = tempfile.mkdtemp(prefix="maintd-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def _cluster(base, start=True):
    with Cluster(base, bindir=PG_BIN, settings=CLUSTER_SETTINGS) as c:
        if start:
            c.start()
        yield c


@pytest.fixture(scope="session")
def cluster(tmpbase):
    """The cluster most tests share; a test that stops it takes its own (new_cluster)."""
    with _cluster(tmpbase) as c:
        yield c


@pytest.fixture
def new_cluster(tmpbase):
    """new_cluster(start=True): a cluster of the test's own, started unless
    start is false, and removed after the test."""
    with contextlib.ExitStack() as clusters:
        yield lambda start=True: clusters.enter_context(_cluster(tmpbase, start))


@pytest.fixture
def db(cluster):
    """A fresh, empty database on the shared cluster: (cluster, name)."""
    return Database(cluster, cluster.create_db())


class Database:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.conninfo = cluster.conninfo(name)

    def query(self, sql, args=None, options=None):
        c = self.cluster.connect(self.name, options=options)
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else None
        finally:
            c.close()

    def execute_file(self, path):
        with open(path) as f:
            self.query(f.read())


class NotifySocket:
    """Receives sd_notify datagrams, in order, like systemd does."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.messages = []
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self):
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append((time.monotonic(), data.decode()))

    def all(self):
        with self._lock:
            return [m for _, m in self.messages]

    def lines(self):
        """Every KEY=VALUE line of every datagram, in order."""
        return [line for m in self.all() for line in m.split("\n") if line]

    def wait_for(self, pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if pred(line):
                    return line
            time.sleep(0.02)
        return None

    def close(self):
        self._stop = True
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(str(tmp_path / "notify.sock"))
    yield n
    n.close()


def daemon_env(env=None):
    """The environment of the binary under test: nothing of ours leaks in, no
    installed configuration file, TEST_DEFAULTS; then env (None unsets)."""
    e = dict(clean_env(), MOMENTUM_MAINTD_CONFIG=EMPTY_CONFIG, **TEST_DEFAULTS)
    e.update(env or {})
    return {k: v for k, v in e.items() if v is not None}


class Daemon:
    """The real binary, in the foreground, with stderr captured to a file."""

    def __init__(self, args, env=None, notify=None, cwd=None, log_path=None):
        if notify is not None:
            env = dict({"NOTIFY_SOCKET": notify.path}, **(env or {}))
        e = daemon_env(env)
        self.log_path = log_path or tempfile.mktemp(prefix="maintd-", suffix=".log")
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([BIN] + list(args), env=e, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log, cwd=cwd or "/")

    def stderr(self):
        with open(self.log_path) as f:
            return f.read()

    def wait(self, timeout=30):
        try:
            self.proc.wait(timeout)
        finally:
            self._log.close()
        return self.proc.returncode

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemons():
    """Starts daemons; kills whatever is still running at the end."""
    started = []

    def start(args, **kw):
        d = Daemon(args, **kw)
        started.append(d)
        return d
    yield start
    for d in started:
        d.kill()


def run(args, env=None, timeout=60, input=None):
    """Runs a one-shot command; returns CompletedProcess with text output."""
    return subprocess.run([BIN] + list(args), env=daemon_env(env), capture_output=True, text=True,
                          timeout=timeout, input=input, cwd="/")


def migrations_dir(tmp_path, files):
    """A migrations directory with the given {name: sql} (or seed file names)."""
    d = tmp_path / "migrations"
    d.mkdir(exist_ok=True)
    for name, sql in files.items():
        if sql is None:
            shutil.copy(os.path.join(MIGRATIONS, name), d / name)
        else:
            (d / name).write_text(sql)
    return str(d)


def wait_until(pred, timeout=30, step=0.05):
    """pred()'s first true value within timeout seconds, else None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def errors(log):
    """The log's error lines, less the verification's: a test's own tables
    may have no RLS, and findings about them are errors by design
    (test_verify.py covers those)."""
    return [l for l in log.splitlines() if "level=error" in l
            and 'msg="job verify' not in l and 'msg="verify: ' not in l]


# ---- Zoom tokens (on a database the seed's migrations made) -------------------------

def fill_tokens(db, total, expired, near=0):
    """Adds total users, each with a profile and a Zoom token, in random order:
    `expired` tokens expired more than 7 days ago, `near` expired just inside
    the 7 days (by 3 to 4 minutes), the others inside them (from 6 days 23
    hours ago to 30 days ahead).  Only the `near` ones come within an hour of
    the boundary, where a retention in calendar days and one in hours differ."""
    db.query("INSERT INTO auth.users (id) SELECT gen_random_uuid() FROM generate_series(1, %s)", (total,))
    db.query("INSERT INTO profiles (id, email) SELECT u.id, u.id::text FROM auth.users u "
             "WHERE NOT EXISTS (SELECT FROM profiles p WHERE p.id = u.id)")
    db.query("""
        INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at)
        SELECT id, 'a', 'r',
               CASE WHEN rn <= %s THEN now() - interval '7 days 1 hour' - random() * interval '60 days'
                    WHEN rn <= %s THEN now() - interval '7 days' + interval '3 minutes' + random() * interval '1 minute'
                    ELSE now() - interval '6 days 23 hours' + random() * interval '30 days' END
        FROM (SELECT p.id, row_number() OVER (ORDER BY random()) AS rn FROM profiles p
              WHERE NOT EXISTS (SELECT FROM zoom_credentials z WHERE z.user_id = p.id)) u""",
             (expired, expired + near))


def young_ids(db):
    """Tokens that expired less than the retention ago (or not yet)."""
    return {r for (r,) in db.query("SELECT id FROM zoom_credentials WHERE expires_at >= now() - interval '7 days'")}


def missed_history(db):
    """The last run was two days ago: the daily 02:00 run was missed, and a
    daemon that starts runs it once."""
    db.query("INSERT INTO momentum_maintd.job_runs (job, instance, scheduled_for, finished_at, status, rows_affected) "
             "VALUES ('zoom-token-cleanup', 'earlier', date_trunc('day', now()) - interval '2 days' + interval '2 hours', "
             "now() - interval '2 days', 'ok', 0)")
