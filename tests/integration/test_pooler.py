"""Behind PgBouncer: session pooling works (and is noted), transaction
pooling is detected and refused, because a session advisory lock does not
protect anything there."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg2
import pytest

from conftest import MIGRATIONS, SEED_COUNT, migrations_dir, run

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
pytestmark = pytest.mark.skipif(not os.path.exists(PGBOUNCER), reason="pgbouncer is not installed")


class Bouncer:
    def __init__(self, cluster, mode, settings="server_round_robin = 1\ndefault_pool_size = 4\n"):
        self.dir = tempfile.mkdtemp(prefix="maintd-bouncer-", dir=os.path.dirname(cluster.dir))
        self.port = 6432
        with open(os.path.join(self.dir, "users.txt"), "w") as f:
            f.write('"postgres" ""\n')
        with open(os.path.join(self.dir, "pgbouncer.ini"), "w") as f:
            f.write("[databases]\n* = host=%s port=%d\n[pgbouncer]\nlisten_addr =\nunix_socket_dir = %s\n"
                    "listen_port = %d\nauth_type = trust\nauth_file = %s/users.txt\npool_mode = %s\n"
                    "%slogfile = %s/bouncer.log\n"
                    "ignore_startup_parameters = extra_float_digits\n"
                    % (cluster.dir, cluster.port, self.dir, self.port, self.dir, mode, settings, self.dir))
        argv = [PGBOUNCER, os.path.join(self.dir, "pgbouncer.ini")]
        kw = {}
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            for n in ("users.txt", "pgbouncer.ini"):
                os.chown(os.path.join(self.dir, n), pw.pw_uid, pw.pw_gid)
            kw["preexec_fn"] = lambda: (os.setgid(pw.pw_gid), os.setuid(pw.pw_uid))
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        # listening, without opening a server connection (the pool stays cold)
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(os.path.join(self.dir, ".s.PGSQL.%d" % self.port))
                break
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()

    def conninfo(self, db):
        return "host=%s port=%d user=postgres dbname=%s" % (self.dir, self.port, db)

    def warm(self, db, n=3):
        """Opens n server connections at once so that round robin spreads queries."""
        conns = [psycopg2.connect(self.conninfo(db)) for _ in range(n)]
        for c in conns:
            c.cursor().execute("SELECT 1")   # each holds a server connection in its transaction
        for c in conns:
            c.commit()                        # clean: back to the pool, not discarded
            c.close()

    def warm_lifo(self, db, n):
        """Opens n server connections, one after the other: each is the
        most recently used when the next client asks."""
        for _ in range(n):
            c = psycopg2.connect(self.conninfo(db))
            c.cursor().execute("SELECT 1")
            c.commit()
            c.close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def test_transaction_pooler_is_detected_and_refused(db, cluster):
    b = Bouncer(cluster, "transaction")
    try:
        b.warm(db.name)
        r = run(["-d", b.conninfo(db.name), "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
        assert r.returncode == 78, r.stderr
        assert "transaction-mode pooler" in r.stderr
        assert db.query("SELECT to_regclass('public.profiles')") == [(None,)], "nothing applied"
    finally:
        b.stop()


def test_session_pooler_works_and_is_noted(db, cluster):
    b = Bouncer(cluster, "session")
    try:
        r = run(["-d", b.conninfo(db.name), "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
        assert r.returncode == 0, r.stderr
        assert "connected through a connection pooler" in r.stderr
        assert db.query("SELECT count(*) FROM momentum_maintd.schema_migrations") == [(SEED_COUNT,)]
    finally:
        b.stop()


def nothing_applied(db):
    assert db.query("SELECT to_regclass('public.profiles'), to_regclass('public.first_table')") == [(None, None)]
    if db.query("SELECT to_regclass('momentum_maintd.schema_migrations')") != [(None,)]:
        assert db.query("SELECT count(*) FROM momentum_maintd.schema_migrations") == [(0,)]
        assert db.query("SELECT count(*) FROM momentum_maintd.migrations_in_progress") == [(0,)]


def refused(r):
    assert r.returncode == 78, r.stderr
    assert "transaction-mode pooler" in r.stderr and "PgBouncer pool_mode = transaction" in r.stderr
    assert "Supabase's port 6543" in r.stderr
    assert "connect directly to PostgreSQL" in r.stderr and "session mode" in r.stderr


# PgBouncer's defaults (server_round_robin = 0: the server session last
# used is given out first), a cold pool or one warmed with as many server
# sessions as the pool holds; the shipped migrations, or files of both kinds.
@pytest.mark.parametrize("pool_size", [1, 3])
@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("files", ["seed", "no-transaction"])
def test_transaction_pooler_at_default_settings_is_refused(db, cluster, tmp_path, pool_size, warm, files):
    b = Bouncer(cluster, "transaction", "default_pool_size = %d\n" % pool_size)
    try:
        if warm:
            b.warm_lifo(db.name, pool_size)
        mdir = MIGRATIONS if files == "seed" else migrations_dir(tmp_path, {
            "001_first_table.sql": "-- momentum-maintd: no-transaction\nCREATE TABLE first_table (x int);\n"
                                   "CREATE INDEX CONCURRENTLY first_table_x ON first_table (x);\n",
            "002_second.sql": "CREATE TABLE second_table (x int);\n"})
        r = run(["-d", b.conninfo(db.name), "--set", "migrations.directory=" + mdir, "migrate", "up"])
        refused(r)
        nothing_applied(db)
        assert db.query("SELECT to_regclass('public.second_table')") == [(None,)]
        assert db.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1835885684 "
                        "AND objid = 1") == [(0,)], "the lock is not left behind in the pool"
    finally:
        b.stop()


def test_migrate_down_through_a_transaction_pooler_is_refused(db, cluster, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n",
                                     "rollback_001_a.sql": "DROP TABLE a;\n"})
    assert run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"]).returncode == 0
    b = Bouncer(cluster, "transaction", "default_pool_size = 1\n")
    try:
        r = run(["-d", b.conninfo(db.name), "--set", "migrations.directory=" + mdir, "migrate", "down", "--to", "0", "--yes"])
        refused(r)
        assert db.query("SELECT to_regclass('public.a') IS NOT NULL") == [(True,)]
    finally:
        b.stop()


@pytest.mark.parametrize("pool_size", [1, 3])
def test_session_pooler_at_default_settings_works(db, cluster, pool_size):
    b = Bouncer(cluster, "session", "default_pool_size = %d\n" % pool_size)
    try:
        r = run(["-d", b.conninfo(db.name), "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
        assert r.returncode == 0, r.stderr
        assert db.query("SELECT count(*) FROM momentum_maintd.schema_migrations") == [(SEED_COUNT,)]
    finally:
        b.stop()


@pytest.mark.parametrize("second_no_tx", [False, True], ids=["transaction", "no-transaction"])
def test_a_file_whose_session_lost_the_lock_is_not_run(db, tmp_path, second_no_tx):
    """The check at the start of each file, without a pooler: the first file
    lets go of the lock, so the second must not run."""
    mdir = migrations_dir(tmp_path, {
        "001_unlock.sql": "SELECT pg_advisory_unlock_all();\n",
        "002_second.sql": ("-- momentum-maintd: no-transaction\n" if second_no_tx else "")
                          + "CREATE TABLE second_table (x int);\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    # no pooler in between: a migration is at fault (65, as a failed one),
    # not the configuration (78); the message blames the file, not a pooler
    assert r.returncode == 65, r.stderr
    assert ("002_second.sql: not applied: its session no longer holds the migration lock, which the daemon "
            "took for the run: a migration applied before it let go of it (pg_advisory_unlock_all(), "
            "DISCARD ALL, or an unlock of the daemon's key 1835885684, 1)") in r.stderr, r.stderr
    assert "transaction-mode pooler" not in r.stderr, r.stderr
    assert db.query("SELECT version FROM momentum_maintd.schema_migrations") == [(1,)]
    assert db.query("SELECT count(*) FROM momentum_maintd.migrations_in_progress") == [(0,)]
    assert db.query("SELECT to_regclass('public.second_table')") == [(None,)]


def test_daemon_run_through_a_transaction_pooler_exits_78(db, cluster, daemons):
    b = Bouncer(cluster, "transaction", "default_pool_size = 1\n")
    try:
        d = daemons(["-d", b.conninfo(db.name), "--set", "migrations.directory=" + MIGRATIONS])
        assert d.wait() == 78, d.stderr()
        refused(subprocess.CompletedProcess([], 78, "", d.stderr()))
        nothing_applied(db)
    finally:
        b.stop()



# Look-alikes of the functions the lock checks call, in public, which the
# database's search_path puts before pg_catalog: an unlock that lets go of
# nothing and says it did, a try that takes nothing and says it did, and a
# pg_lock_status() that shows the lock held by whoever asks.
FORGED = {
    "unlock": "CREATE FUNCTION public.pg_advisory_unlock(int, int) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    "try": "CREATE FUNCTION public.pg_try_advisory_lock(int, int) RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    "lock_status": (
        "CREATE FUNCTION public.pg_lock_status(OUT locktype text, OUT database oid, OUT relation oid, "
        "OUT page int, OUT tuple smallint, OUT virtualxid text, OUT transactionid xid, OUT classid oid, "
        "OUT objid oid, OUT objsubid smallint, OUT virtualtransaction text, OUT pid int, OUT mode text, "
        "OUT granted boolean, OUT fastpath boolean, OUT waitstart timestamptz) RETURNS SETOF record "
        "LANGUAGE sql AS $$SELECT 'advisory', 0::oid, 0::oid, 0, 0::smallint, '', '0'::xid, "
        "1835885684::oid, 1::oid, 2::smallint, '', pg_catalog.pg_backend_pid(), 'ExclusiveLock', true, false, "
        "NULL::timestamptz$$"),
}


def forge(db, *which):
    db.query("ALTER DATABASE %s SET search_path = public, pg_catalog" % db.name)
    for w in which:
        db.query(FORGED[w])


def test_a_forged_unlock_does_not_hide_a_lost_lock(db, tmp_path):
    """The first file lets go of the migration lock; the check before the
    second must still see it gone (it calls pg_catalog's functions by
    name), not run the file."""
    forge(db, "unlock")
    mdir = migrations_dir(tmp_path, {
        "001_unlock.sql": "SELECT pg_catalog.pg_advisory_unlock_all();\n",
        "002_second.sql": "CREATE TABLE second_table (x int);\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 65, r.stderr
    assert "002_second.sql: not applied: its session no longer holds the migration lock" in r.stderr, r.stderr
    assert db.query("SELECT version FROM momentum_maintd.schema_migrations") == [(1,)]
    assert db.query("SELECT to_regclass('public.second_table')") == [(None,)]


def test_a_forged_try_and_lock_status_do_not_make_the_daemon_run_without_the_lock(db, tmp_path):
    """A try that takes nothing and a pg_lock_status() that says it did:
    the files still run holding the real lock (pg_locks, read through the
    view's own name in pg_catalog, shows it granted)."""
    forge(db, "try", "lock_status", "unlock")
    mdir = migrations_dir(tmp_path, {
        "001_seen.sql": "CREATE TABLE seen AS SELECT count(*) AS n FROM pg_catalog.pg_locks l "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1835885684 "
                        "AND l.objid = 1 AND l.pid = pg_catalog.pg_backend_pid();\n",
        "002_seen_too.sql": "INSERT INTO seen SELECT count(*) FROM pg_catalog.pg_locks l "
                            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 1835885684 "
                            "AND l.objid = 1 AND l.pid = pg_catalog.pg_backend_pid();\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT n FROM seen") == [(1,), (1,)]
