"""A throwaway PostgreSQL cluster, for the integration tests and the
benchmarks alike: initdb into a temporary directory, a Unix socket in that
directory and no TCP.  As root, PostgreSQL's programs run as the postgres
user (initdb and pg_ctl refuse to run as root).

Standard library only: the benchmarks do without psycopg2, which
Cluster.connect() imports when a test calls it."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid

DEFAULT_BIN = "/usr/lib/postgresql/15/bin"

# variables that would redirect libpq or configure the daemon
FOREIGN_ENV = ("PG", "MOMENTUM_MAINTD_", "DATABASE_URL", "NOTIFY_SOCKET", "JOURNAL_STREAM",
               "CREDENTIALS_DIRECTORY", "WATCHDOG_")


def clean_env():
    """os.environ without anything that would redirect libpq or configure the daemon."""
    return {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}


class ClusterError(Exception):
    """A PostgreSQL program failed; the message has its exit status and stderr."""


def _raise(message):
    raise ClusterError(message)


def _conf_value(value):
    """value as postgresql.conf takes it: quoted unless a plain word or number."""
    value = str(value)
    return value if re.fullmatch(r"[A-Za-z0-9_.]+", value) else "'%s'" % value.replace("'", "''")


class Cluster:
    """A throwaway PostgreSQL cluster listening on a Unix socket only.

    Cluster() runs initdb in a new directory under base (the system's
    temporary directory when None); start() and stop() may follow any number
    of times; destroy(), or the end of a `with` block, stops the server and
    removes the directory.  settings ({name: value}) go to postgresql.conf.
    A PostgreSQL program that fails calls fail(message), which raises
    ClusterError unless the caller passes its own (a benchmark's die()).
    psql() names its sessions app (application_name) when one is given."""

    port = 5432

    def __init__(self, base=None, prefix="maintd-pg-", bindir=DEFAULT_BIN, settings=None, fail=None, app=None):
        self.bindir = bindir
        self.fail = fail or _raise
        self.app = app
        self.env = dict(clean_env(), LC_ALL="C")
        self.as_owner = {}   # subprocess arguments that run a program as the cluster's owner
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.as_owner = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=base)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.running = False
        try:
            os.chmod(self.dir, 0o755)
            self.own(self.dir)
            self.pg("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync",
                    "-E", "UTF8", "--locale", "C")
            conf = {"listen_addresses": "", "unix_socket_directories": self.dir}
            conf.update(settings or {})
            with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                f.writelines("%s = %s\n" % (k, _conf_value(v)) for k, v in conf.items())
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def own(self, *paths):
        """Gives paths to the cluster's owner, for the programs run as it."""
        if self.as_owner:
            for p in paths:
                os.chown(p, self.as_owner["user"], self.as_owner["group"])

    def run_as_owner(self, argv, check=True):
        """Runs argv as the cluster's owner, from /; its output is captured."""
        r = subprocess.run(argv, capture_output=True, text=True, cwd="/", env=self.env, **self.as_owner)
        if check and r.returncode != 0:
            self.fail("%s exited %d: %s" % (os.path.basename(argv[0]), r.returncode, r.stderr.strip()[-3000:]))
        return r

    def pg(self, program, *args, check=True):
        """Runs one of PostgreSQL's programs (initdb, pg_ctl, pg_basebackup...) as the cluster's owner."""
        return self.run_as_owner([os.path.join(self.bindir, program)] + list(args), check)

    def start(self):
        self.pg("pg_ctl", "-D", self.data, "-l", self.log, "-w", "start")
        self.running = True

    def stop(self, mode="fast"):
        if self.running:
            self.pg("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")
            self.running = False

    def destroy(self):
        """Stops the server at once, whatever it is doing, and removes the directory."""
        if self.running:
            self.pg("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
            self.running = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def conninfo(self, dbname="postgres", app=None, options=None):
        s = "host=%s port=%d user=postgres dbname=%s" % (self.dir, self.port, dbname)
        if app:
            s += " application_name=%s" % app
        if options:
            s += " options='%s'" % options
        return s

    def psql(self, db, sql=None, file=None, app=None):
        """psql -c sql (or -f file) on db, stopping at the first error: its
        output, unaligned and without headers."""
        args = [os.path.join(self.bindir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-d", self.conninfo(db, app or self.app)]
        args += ["-f", file] if file else ["-c", sql]
        r = subprocess.run(args, capture_output=True, text=True, env=self.env)
        if r.returncode != 0:
            self.fail("psql on %s failed: %s" % (db, r.stderr.strip()[-3000:]))
        return r.stdout.strip()

    def connect(self, dbname="postgres"):
        """A psycopg2 connection in autocommit mode."""
        import psycopg2   # the tests' dependency, not the benchmarks'
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
