"""Fixtures for the integration tests: real PostgreSQL 15 clusters in
temporary directories, the real daemon binary, and a datagram socket that
plays systemd's NOTIFY_SOCKET."""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import psycopg2
import pytest

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
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

SEED_TABLES = ["profiles", "deliverables", "organizations", "organization_members",
               "brand_settings", "zoom_credentials"]


def _as_postgres():
    """initdb and pg_ctl refuse to run as root: drop to the postgres user."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam("postgres")

    def demote():
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return demote, pw


class Cluster:
    """A throwaway PostgreSQL cluster listening on a Unix socket only."""

    def __init__(self, base):
        self.dir = tempfile.mkdtemp(prefix="maintd-pg-", dir=base)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.port = 5432
        self.running = False
        demote = _as_postgres()
        self._preexec = demote[0] if demote else None
        if demote:
            os.chown(self.dir, demote[1].pw_uid, demote[1].pw_gid)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8", "--locale", "C"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nfsync = off\n"
                    "synchronous_commit = off\nfull_page_writes = off\nmax_connections = 100\n"
                    "log_min_messages = warning\n" % self.dir)

    def _run(self, argv):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=self._preexec, cwd="/")

    def start(self):
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w", "start"])
        self.running = True

    def stop(self, mode="fast"):
        if self.running:
            self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop"])
            self.running = False

    def conninfo(self, dbname="postgres"):
        return "host=%s port=%d user=postgres dbname=%s" % (self.dir, self.port, dbname)

    def connect(self, dbname="postgres"):
        c = psycopg2.connect(self.conninfo(dbname))
        c.autocommit = True
        return c

    def create_db(self, name=None):
        name = name or "t_" + uuid.uuid4().hex[:12]
        c = self.connect()
        try:
            with c.cursor() as cur:
                cur.execute('CREATE DATABASE "%s"' % name)
        finally:
            c.close()
        return name

    def destroy(self):
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def tmpbase():
    d = tempfile.mkdtemp(prefix="maintd-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(tmpbase):
    c = Cluster(tmpbase)
    c.start()
    yield c
    c.destroy()


@pytest.fixture
def db(cluster):
    """A fresh, empty database on the shared cluster: (cluster, name)."""
    return Database(cluster, cluster.create_db())


class Database:
    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.conninfo = cluster.conninfo(name)

    def query(self, sql, args=None):
        c = self.cluster.connect(self.name)
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


class Daemon:
    """The real binary, in the foreground, with stderr captured to a file."""

    def __init__(self, args, env=None, notify=None, cwd=None, log_path=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("MOMENTUM_MAINTD_", "PG", "NOTIFY_SOCKET", "DATABASE_URL",
                                  "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "WATCHDOG_"))}
        e["MOMENTUM_MAINTD_CONFIG"] = EMPTY_CONFIG
        e.update(TEST_DEFAULTS)
        if notify is not None:
            e["NOTIFY_SOCKET"] = notify.path
        e.update(env or {})
        for k in [k for k, v in e.items() if v is None]:
            del e[k]
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
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("MOMENTUM_MAINTD_", "PG", "NOTIFY_SOCKET", "DATABASE_URL",
                              "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY"))}
    e["MOMENTUM_MAINTD_CONFIG"] = EMPTY_CONFIG
    e.update(TEST_DEFAULTS)
    e.update(env or {})
    for k in [k for k, v in e.items() if v is None]:
        del e[k]
    return subprocess.run([BIN] + list(args), env=e, capture_output=True, text=True,
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
