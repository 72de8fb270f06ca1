"""The daemon's life: migrate at startup, READY only then, stop on SIGTERM."""
import signal
import time

from conftest import MIGRATIONS, SEED_COUNT, SEED_MIGRATIONS, SEED_TABLES, migrations_dir


def seed_args(db, *extra):
    return ["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS] + list(extra)


def snapshot(db):
    tables = db.query("SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n "
                      "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")
    buckets = db.query("SELECT id, public FROM storage.buckets ORDER BY id") \
        if db.query("SELECT to_regclass('storage.buckets') IS NOT NULL")[0][0] else []
    tracked = db.query("SELECT version, name, checksum FROM momentum_maintd.schema_migrations ORDER BY version") \
        if db.query("SELECT to_regclass('momentum_maintd.schema_migrations') IS NOT NULL")[0][0] else []
    return dict(tables), buckets, tracked


def test_fresh_database_ready_only_after_migrations_then_clean_stop(db, notify, daemons):
    d = daemons(seed_args(db), notify=notify)
    ready = notify.wait_for(lambda l: l == "READY=1", timeout=30)
    assert ready, d.stderr()
    # The moment READY arrives, everything the seed makes is there.
    tables, buckets, tracked = snapshot(db)
    for t in SEED_TABLES:
        assert tables.get(t) is True, "table %s missing or RLS off at READY: %s" % (t, tables)
    assert buckets == [("logos", True), ("private", False)]
    assert [n for _, n, _ in tracked] == SEED_MIGRATIONS
    assert all(len(c) == 64 for _, _, c in tracked)

    lines = notify.lines()
    i_ready = lines.index("READY=1")
    statuses_before = [l for l in lines[:i_ready] if l.startswith("STATUS=")]
    assert any("connecting" in s for s in statuses_before), lines
    assert any("applying 001_initial_schema (1/%d)" % SEED_COUNT in s for s in statuses_before), lines
    assert any("applying 003_storage_buckets (3/%d)" % SEED_COUNT in s for s in statuses_before), lines
    # READY comes with a STATUS saying how many were applied.
    assert any(l.startswith("STATUS=ready: %d migration(s) applied now" % SEED_COUNT) for l in lines[i_ready:]), lines

    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    assert time.monotonic() - t0 < 5
    # the datagram was sent before the exit; the test's reader thread may
    # not have taken it yet
    assert notify.wait_for(lambda l: l == "STOPPING=1", timeout=5), notify.lines()
    lines = notify.lines()
    assert "STOPPING=1" in lines[lines.index("READY=1"):]
    log = d.stderr()
    assert "applied migration 002_zoom_integration" in log
    assert "stopped (exit status 0)" in log


def test_second_start_applies_nothing_and_is_ready_again(db, notify, daemons, tmp_path):
    from conftest import NotifySocket
    d = daemons(seed_args(db), notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1")
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    before = db.query("SELECT version, applied_at FROM momentum_maintd.schema_migrations ORDER BY 1")

    n2 = NotifySocket(str(tmp_path / "notify2.sock"))
    try:
        d2 = daemons(seed_args(db), notify=n2)
        assert n2.wait_for(lambda l: l == "READY=1"), d2.stderr()
        assert any(l.startswith("STATUS=ready: 0 migration(s) applied now, %d in all" % SEED_COUNT) for l in n2.lines())
        d2.signal(signal.SIGINT)
        assert d2.wait() == 0
    finally:
        n2.close()
    assert db.query("SELECT version, applied_at FROM momentum_maintd.schema_migrations ORDER BY 1") == before
    assert "applied migration" not in d2.stderr()
    assert "up to date (%d migrations applied)" % SEED_COUNT in d2.stderr()


BROKEN_003 = """-- a migration that fails half-way
CREATE TABLE broken_leftover (id int);
INSERT INTO broken_leftover VALUES (1);
UPDATE broken_leftover
   SET no_such_column = 2;
"""

FK_003 = """CREATE TABLE broken_leftover (id int);
INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at)
VALUES ('00000000-0000-0000-0000-000000000001', 'a', 'r', now());
"""


def test_broken_third_migration_rolls_back_whole_and_exits_65(db, notify, daemons, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_initial_schema.sql": None, "002_zoom_integration.sql": None,
                                     "003_broken.sql": BROKEN_003})
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    assert d.wait(30) == 65, d.stderr()
    assert "READY=1" not in notify.lines()
    assert db.query("SELECT to_regclass('public.broken_leftover')") == [(None,)]
    assert db.query("SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1") == [(1,), (2,)]
    log = d.stderr()
    # file:line:column, SQLSTATE and the server's message
    assert "003_broken.sql:5:8: migration failed: ERROR 42703: column \\\"no_such_column\\\" of relation" in log, log
    assert "line=5 column=8 sqlstate=42703" in log
    assert "rolled back" in log


def test_failure_reports_detail(db, notify, daemons, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_initial_schema.sql": None, "002_zoom_integration.sql": None,
                                     "003_fk.sql": FK_003})
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    assert d.wait(30) == 65, d.stderr()
    assert "READY=1" not in notify.lines()
    assert db.query("SELECT to_regclass('public.broken_leftover')") == [(None,)]
    log = d.stderr()
    # no position from the server: the statement that failed is named
    assert "003_fk.sql:2:1: migration failed: ERROR 23503" in log, log
    assert "(statement starting here)" in log
    assert "violates foreign key constraint" in log
    assert "detail: Key (user_id)=(00000000-0000-0000-0000-000000000001) is not present" in log


def test_database_down_at_start_is_waited_for(new_cluster, notify, daemons, tmp_path):
    c = new_cluster(start=False)
    d = daemons(["-d", c.conninfo("postgres"), "--set", "migrations.directory=" + MIGRATIONS],
                notify=notify)
    waiting = notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database"), timeout=10)
    assert waiting, d.stderr()
    assert "since" in waiting and "attempt" in waiting
    time.sleep(3)
    assert d.proc.poll() is None, "the daemon gave up: " + d.stderr()
    c.start()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=40), d.stderr()
    log = d.stderr()
    assert log.count("unavailable, retrying") == 1, "each fault is reported once: " + log
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_connection_lost_after_ready_is_not_fatal(db, notify, daemons):
    d = daemons(seed_args(db), notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1")
    db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
             "WHERE datname = current_database() AND application_name = 'momentum-maintd'")
    assert notify.wait_for(lambda l: "reconnected" in l, timeout=30), d.stderr()
    assert d.proc.poll() is None
    assert "connection to" in d.stderr() and "lost" in d.stderr()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_sigterm_while_waiting_for_database_exits_promptly(tmpbase, notify, daemons):
    d = daemons(["-d", "host=/nonexistent-socket-dir dbname=x", "--set",
                 "migrations.directory=" + MIGRATIONS], notify=notify)
    assert notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database"), timeout=10)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.wait(10) == 0
    assert time.monotonic() - t0 < 5
    assert notify.wait_for(lambda l: l == "STOPPING=1", timeout=5), notify.lines()


def password_cluster(new_cluster, tmp_path, password):
    """A cluster where role app logs in with a password (scram-sha-256); a
    password file holding password; the daemon's arguments for both."""
    import os
    c = new_cluster(start=False)
    with open(os.path.join(c.data, "pg_hba.conf"), "w") as f:
        f.write("local all postgres trust\nlocal all all scram-sha-256\n")
    c.start()
    admin = c.connect()
    admin.cursor().execute("CREATE ROLE app LOGIN SUPERUSER PASSWORD 'the-right-one'")
    admin.close()
    pw = tmp_path / "db-password"
    pw.write_text(password + "\n")
    os.chmod(pw, 0o600)
    return c, ["-d", "host=%s port=%d user=app dbname=postgres" % (c.dir, c.port),
               "--set", "database.password_file=" + str(pw), "--set", "migrations.directory=" + MIGRATIONS]


def test_wrong_password_stops_extending_the_start_timeout(new_cluster, notify, daemons, tmp_path):
    # Retrying is kept (the password file may be fixed), but systemd's
    # TimeoutStartSec applies again: a wrong password must not keep
    # `systemctl start` waiting forever.
    c, args = password_cluster(new_cluster, tmp_path, "a-wrong-one")
    d = daemons(args, notify=notify)
    status = notify.wait_for(lambda l: l.startswith("STATUS=") and "password authentication failed" in l,
                             timeout=10)
    assert status, (notify.lines(), d.stderr())
    assert status.startswith("STATUS=authentication failed"), status
    assert "start timeout" in status, status
    first = notify.lines().index(status)
    time.sleep(4)   # several retries (backoff from 0.5 s)
    assert d.proc.poll() is None, "the daemon keeps retrying: " + d.stderr()
    later = notify.lines()[first:]
    assert len([l for l in later if l.startswith("STATUS=authentication failed")]) >= 2, later
    assert not [l for l in notify.lines() if l.startswith("EXTEND_TIMEOUT_USEC=")], notify.lines()
    assert "a-wrong-one" not in d.stderr() and "a-wrong-one" not in "\n".join(notify.lines())
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


def test_database_down_keeps_extending_the_start_timeout(new_cluster, notify, daemons, tmp_path):
    c, args = password_cluster(new_cluster, tmp_path, "the-right-one")
    c.stop()
    d = daemons(args, notify=notify)
    assert notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database"), timeout=10), d.stderr()
    time.sleep(3)
    assert len([l for l in notify.lines() if l.startswith("EXTEND_TIMEOUT_USEC=")]) >= 2, notify.lines()
    c.start()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=40), d.stderr()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
