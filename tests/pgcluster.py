"""A throwaway PostgreSQL cluster, for the integration tests and the
benchmarks alike: initdb into a temporary directory, a Unix socket in that
directory and no TCP.  As root, PostgreSQL's programs run as the postgres
user (initdb and pg_ctl refuse to run as root).

The server is the host's PostgreSQL 15 unless the environment says
otherwise: MAINTD_PG=17 and MAINTD_PG_ROOT=/path/to/a/chroot (a Debian 13
tree with postgresql-17, made by scripts/pg-chroot) run the server's
programs inside that chroot, in a private mount namespace where the
system's temporary directory (and the cluster's base directory) is bind
mounted at the same path: the data directory and the socket have the same
names inside and out, so the daemon, psycopg2 and psql (the host's libpq
15 clients) connect as they do to a 15 server.  pg_dump must be the
server's own (pg_dump 15 refuses a 17 server): run it with tool().

Standard library only: the benchmarks do without psycopg2, which
Cluster.connect() imports when a test calls it."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid

# the server's major version and, for any but the host's, the chroot it runs in
PG_VERSION = os.environ.get("MAINTD_PG", "15")
PG_ROOT = os.environ.get("MAINTD_PG_ROOT") or None
HOST_BIN = "/usr/lib/postgresql/15/bin"   # the host's clients: psql
DEFAULT_BIN = "/usr/lib/postgresql/%s/bin" % PG_VERSION

# runs "$@" chrooted in $1 as $2 (user:group), with /dev, /proc and the
# directories after "--" bind mounted: the caller runs it under unshare(1)
# in a mount namespace of its own, so nothing stays mounted on the host
_CHROOT_SH = r"""
root=$1 user=$2; shift 2
mount --rbind /dev "$root/dev" && mount -t proc proc "$root/proc" || exit 70
while [ "$1" != -- ]; do
	mkdir -p "$root$1" && mount --bind "$1" "$root$1" || exit 70
	shift
done
shift
exec chroot --userspec="$user" "$root" "$@"
"""

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


def _chroot_user(root):
    """(uid, gid) of postgres in the chroot's /etc/passwd: not the host's."""
    with open(os.path.join(root, "etc", "passwd")) as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == "postgres":
                return int(fields[2]), int(fields[3])
    raise ClusterError("%s has no postgres user" % root)


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

    def __init__(self, base=None, prefix="maintd-pg-", bindir=None, settings=None, fail=None, app=None,
                 version=PG_VERSION, root=PG_ROOT):
        self.version = str(version)
        self.root = root
        self.bindir = bindir or "/usr/lib/postgresql/%s/bin" % self.version
        self.fail = fail or _raise
        self.app = app
        self.env = dict(clean_env(), LC_ALL="C")
        self.as_owner = {}   # subprocess arguments that run a program as the cluster's owner
        if self.root:
            self._check_root()
            self.owner = _chroot_user(self.root)
        elif self.version != "15" and not os.path.isdir(self.bindir):
            raise ClusterError("PostgreSQL %s is not on this host (%s): set MAINTD_PG_ROOT to a chroot "
                               "that has it (scripts/pg-chroot)" % (self.version, self.bindir))
        elif os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.as_owner = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=base)
        # what the chroot sees at the same path: the temporary directory, the base
        self.binds = sorted({os.path.realpath(tempfile.gettempdir()), os.path.realpath(os.path.dirname(self.dir))})
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

    def _check_root(self):
        if os.geteuid() != 0:
            raise ClusterError("MAINTD_PG_ROOT needs root (chroot, mount namespaces)")
        if not os.path.isfile(os.path.join(self.root, self.bindir.lstrip("/"), "postgres")):
            raise ClusterError("%s has no PostgreSQL %s (%s): make it with scripts/pg-chroot"
                               % (self.root, self.version, self.bindir))

    def own(self, *paths):
        """Gives paths to the cluster's owner, for the programs run as it."""
        if self.root:
            for p in paths:
                os.chown(p, *self.owner)
        elif self.as_owner:
            for p in paths:
                os.chown(p, self.as_owner["user"], self.as_owner["group"])

    def in_root(self, argv, user="root"):
        """argv run inside the chroot (as user), when there is one; else argv."""
        if not self.root:
            return list(argv)
        return (["unshare", "--mount", "--propagation", "private", "sh", "-c", _CHROOT_SH, "sh",
                 self.root, user] + self.binds + ["--"] + list(argv))

    def tool(self, program):
        """The argv that runs the server's own client program (pg_dump,
        pg_basebackup...) as the caller's user: pg_dump refuses a newer server."""
        return self.in_root([os.path.join(self.bindir, program)])

    def run_as_owner(self, argv, check=True):
        """Runs argv as the cluster's owner, from /; its output is captured."""
        name = os.path.basename(argv[0])
        if self.root:
            argv = self.in_root(argv, "%d:%d" % self.owner)
        r = subprocess.run(argv, capture_output=True, text=True, cwd="/", env=self.env, **self.as_owner)
        if check and r.returncode != 0:
            self.fail("%s exited %d: %s" % (name, r.returncode, r.stderr.strip()[-3000:]))
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
        psql = os.path.join(HOST_BIN if self.root else self.bindir, "psql")   # the host's client, as the daemon's
        args = [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.conninfo(db, app or self.app)]
        args += ["-f", file] if file else ["-c", sql]
        r = subprocess.run(args, capture_output=True, text=True, env=self.env)
        if r.returncode != 0:
            self.fail("psql on %s failed: %s" % (db, r.stderr.strip()[-3000:]))
        return r.stdout.strip()

    def connect(self, dbname="postgres", options=None):
        """A psycopg2 connection in autocommit mode (options: the server
        settings of the connection, as in conninfo)."""
        import psycopg2   # the tests' dependency, not the benchmarks'
        c = psycopg2.connect(self.conninfo(dbname, options=options))
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
