"""Database faults: PostgreSQL down at start, stopped in the middle of a
migration, restarted during a cleanup run, and the daemon's sessions
terminated by pg_terminate_backend().  The daemon never crashes, says
each fault once, recovers by itself, applies nothing twice or by halves,
and its job history tells the truth."""
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BIN, MIGRATIONS, Database, errors, fill_tokens, missed_history, run, wait_until, young_ids


@pytest.fixture
def fdb(new_cluster):
    """A database on a cluster of the test's own: the test stops and starts it."""
    pg = new_cluster()
    return Database(pg, pg.create_db())


def count(log, text):
    return sum(text in line for line in log.splitlines())


def assert_alive(d, what):
    rc = d.proc.poll()
    assert rc is None, "the daemon exited (%s) %s: %s" % (rc, what, d.stderr())


def write(mdir, files):
    os.makedirs(mdir, exist_ok=True)
    for name, sql in files.items():
        with open(os.path.join(mdir, name), "w") as f:
            f.write(sql)
    return mdir


def query_active(db, like):
    return db.query("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
                    "AND pid <> pg_backend_pid()", (like,))[0][0]


# ---- PostgreSQL down at start ----------------------------------------------------------

def test_postgres_down_at_start_daemon_waits_then_becomes_ready(fdb, tmp_path, daemons, notify):
    mdir = write(str(tmp_path / "m"), {"001_a.sql": "CREATE TABLE a (x int);\n",
                                       "002_b.sql": "CREATE TABLE b (x int);\nINSERT INTO b VALUES (1);\n"})
    fdb.cluster.stop()
    d = daemons(["-d", fdb.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    assert notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database"), timeout=10), d.stderr()
    # several attempts (0.5 s, 1 s, 2 s, ...) and still waiting
    assert notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database") and "(attempt 4," in l,
                           timeout=15), notify.lines()
    assert_alive(d, "while the database was down")
    assert "READY=1" not in notify.lines()
    fdb.cluster.start()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=40), d.stderr()
    assert any(l.startswith("STATUS=ready: 2 migration(s) applied now, 2 in all") for l in notify.lines())
    d.signal(signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    log = d.stderr()
    assert count(log, "unavailable, retrying") == 1, "the fault is reported once, not per attempt: " + log
    assert count(log, "after waiting") == 1, log
    assert errors(log) == [], log
    assert fdb.query("SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1") == [(1,), (2,)]
    assert fdb.query("SELECT count(*) FROM b") == [(1,)]


def waiting_statuses(notify, start=0):
    return [l for l in notify.lines()[start:] if l.startswith("STATUS=waiting for the database")]


def first_wait_after_loss(fdb, d, notify):
    """Stops the cluster; the first STATUS= that says the daemon waits:
    (attempt, next in s, seconds between the loss and the "since")."""
    start = len(notify.lines())
    lost_at = time.time()
    fdb.cluster.stop()
    assert wait_until(lambda: waiting_statuses(notify, start), 10), (notify.lines()[start:], d.stderr())
    first = waiting_statuses(notify, start)[0]
    m = re.search(r" since (\d\d):(\d\d):(\d\d) \S+ \(attempt (\d+), next in ([0-9.]+) s\)", first)
    assert m, first
    t = time.localtime(lost_at)
    since = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))
    return int(m.group(4)), float(m.group(5)), (since - (t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec)) % 86400


def test_a_connection_that_lasted_restarts_the_backoff(fdb, tmp_path, daemons, notify):
    """README: a lost connection is retried with backoff from 0.5 s once the
    connection had lasted (10 s), however many attempts the start needed; a
    connection that did not last goes on with the backoff (a server that
    drops every session must not be hammered).  Either way STATUS= says the
    daemon waits since the loss, not since it started."""
    mdir = write(str(tmp_path / "m"), {"001_a.sql": "CREATE TABLE a (x int);\n"})
    fdb.cluster.stop()
    d = daemons(["-d", fdb.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    # the start's backoff climbs: 0.5 s, 1 s, 2 s, 4 s, ...
    assert notify.wait_for(lambda l: l.startswith("STATUS=waiting for the database") and "(attempt 4," in l,
                           timeout=20), notify.lines()
    fdb.cluster.start()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=40), d.stderr()
    # lost at once: the backoff goes on from the start's attempts
    attempt, wait, since = first_wait_after_loss(fdb, d, notify)
    assert attempt >= 5 and wait >= 8, (attempt, wait)
    assert since <= 5, "waiting since the loss, not since the start: %r" % notify.lines()
    fdb.cluster.start()
    assert notify.wait_for(lambda l: "reconnected" in l, timeout=30), d.stderr()
    time.sleep(11)                     # longer than a stable connection
    attempt, wait, since = first_wait_after_loss(fdb, d, notify)
    assert attempt == 1 and 0.5 <= wait <= 0.6, "the backoff starts over: %r" % ((attempt, wait),)
    assert since <= 5, "waiting since the loss: %r" % notify.lines()
    fdb.cluster.start()
    assert wait_until(lambda: sum("reconnected" in l for l in notify.lines()) == 2, 30), d.stderr()
    assert_alive(d, "after the outages")


# ---- PostgreSQL stopped in the middle of a migration ----------------------------------

def test_postgres_stopped_during_migrations_daemon_retries_and_applies_each_once(fdb, tmp_path, daemons, notify):
    """The README: migrations are atomic, a lost connection is waited out
    with backoff (the daemon does not exit), an interrupted no-transaction
    file is re-run from the top."""
    mdir = write(str(tmp_path / "m"), {
        "001_a.sql": "CREATE TABLE a (x int);\n",
        # not IF NOT EXISTS: if any of it had survived the stop, its re-run would fail
        "002_slow_tx.sql": "CREATE TABLE m2 (x int);\nINSERT INTO m2 VALUES (1);\n"
                           "SELECT pg_sleep(2.01);\nCREATE TABLE m2_after (x int);\n",
        "003_slow_notx.sql": "-- momentum-maintd: no-transaction\n"
                             "CREATE TABLE IF NOT EXISTS m3_runs (at timestamptz DEFAULT clock_timestamp());\n"
                             "INSERT INTO m3_runs DEFAULT VALUES;\n"
                             "SELECT pg_sleep(2.02);\n"
                             "CREATE INDEX CONCURRENTLY IF NOT EXISTS m2_x_idx ON m2 (x);\n",
    })
    pg = fdb.cluster
    d = daemons(["-d", fdb.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    for like, down in (("SELECT pg_sleep(2.01)%", 1.0), ("SELECT pg_sleep(2.02)%", 2.5)):
        assert wait_until(lambda: query_active(fdb, like) == 1, 30), (like, d.stderr())
        time.sleep(0.3)
        pg.stop()                      # fast shutdown: the migration's session is terminated
        time.sleep(down)
        assert_alive(d, "while the database was down in the middle of a migration")
        pg.start()
        if like.startswith("SELECT pg_sleep(2.01)"):
            # nothing of 002 survived: the migration was one transaction
            assert fdb.query("SELECT to_regclass('m2'), to_regclass('m2_after')") in \
                ([(None, None)], [("m2", "m2_after")]), d.stderr()
    assert notify.wait_for(lambda l: l == "READY=1", timeout=60), d.stderr()
    assert any(l.startswith("STATUS=ready: 3 migration(s) applied now, 3 in all") for l in notify.lines()), \
        notify.lines()
    assert fdb.query("SELECT version, count(*) FROM momentum_maintd.schema_migrations GROUP BY 1 ORDER BY 1") == \
        [(1, 1), (2, 1), (3, 1)]
    assert fdb.query("SELECT count(*) FROM m2") == [(1,)]
    assert fdb.query("SELECT to_regclass('m2_after') IS NOT NULL") == [(True,)]
    assert fdb.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 'm2_x_idx'::regclass") == [(True,)]
    assert fdb.query("SELECT count(*) FROM m3_runs") == [(2,)], "003 re-run once from the top"
    assert fdb.query("SELECT count(*) FROM momentum_maintd.migrations_in_progress") == [(0,)]
    d.signal(signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    log = d.stderr()
    # each fault said once
    assert count(log, "database connection lost during migrations") == 2, log
    assert count(log, "no-transaction migration 003_slow_notx was interrupted") == 1, log
    assert count(log, "applied migration 002_slow_tx") == 1, log
    assert count(log, "applied migration 003_slow_notx") == 1 and "(re-run after an interruption)" in log, log
    assert errors(log) == [], log
    # the daemon waited for the database, saying so at most once per outage
    # (none when it was back before the first retry)
    unavailable = count(log, "unavailable, retrying")
    assert unavailable <= 2, log


# ---- tokens ----------------------------------------------------------------------------

def migrate_seed(db):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr


def fill(db, expired, fresh):
    """Tokens, and a missed daily run that a daemon runs once after start;
    returns the ids of the tokens the cleanup must keep."""
    fill_tokens(db, expired + fresh, expired)
    missed_history(db)
    return young_ids(db)


def tokens(db):
    return {r for (r,) in db.query("SELECT id FROM zoom_credentials")}


def expired_left(db):
    return db.query("SELECT count(*) FROM zoom_credentials WHERE expires_at < now() - interval '7 days'")[0][0]


def runs(db):
    return db.query("SELECT status, rows_affected, error FROM momentum_maintd.job_runs "
                    "WHERE job = 'zoom-token-cleanup' ORDER BY id")


def job_backend(db):
    """The pid of the job's session: the one running (or last running) the cleanup."""
    r = db.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                 "AND application_name = 'momentum-maintd' AND (query LIKE '%%WITH doomed%%' "
                 "OR query LIKE 'SELECT pg_current_wal_lsn()%%')")
    return r[0][0] if len(r) == 1 else None


def daemon_backends(db):
    return [p for (p,) in db.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid() AND application_name = 'momentum-maintd' "
                                   "ORDER BY backend_start")]


def test_postgres_restarted_during_a_cleanup_run(fdb, daemons, notify):
    migrate_seed(fdb)
    young = fill(fdb, 20000, 2000)
    d = daemons(["-d", fdb.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "jobs.zoom_token_cleanup.batch_size=100"], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1"), d.stderr()
    # well into the run
    assert wait_until(lambda: expired_left(fdb) < 19000, 30), d.stderr()
    assert expired_left(fdb) > 2000, "the run ended before the restart; make it slower"
    fdb.cluster.stop()
    time.sleep(1.0)
    assert_alive(d, "while the database was down during a cleanup run")
    fdb.cluster.start()
    assert wait_until(lambda: [s for s, _, _ in runs(fdb)] == ["ok", "failed", "ok"], 90), (runs(fdb), d.stderr())
    assert expired_left(fdb) == 0
    assert not young - tokens(fdb), "a token younger than the retention was deleted"
    assert fdb.query("SELECT count(*) FROM zoom_credentials") == [(len(young),)]
    failed = runs(fdb)[1]
    assert failed[2].startswith("connection lost: "), failed
    # the server's reason, not a bare "not connected" (the session usually
    # dies while idle between two batches)
    assert "not connected" not in failed[2] and ("terminating connection" in failed[2] or
                                                 "server closed the connection" in failed[2]), failed
    assert notify.wait_for(lambda l: "reconnected" in l, timeout=30), d.stderr()
    assert_alive(d, "after the restart")
    d.signal(signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    log = d.stderr()
    assert count(log, "job zoom-token-cleanup: database connection lost during the run") == 1, log
    assert count(log, "the interrupted run is recorded as failed; trying it once more") == 1, log
    assert count(log, "level=warning msg=\"database connection to") == 1, log    # the main connection, idle
    assert count(log, "job zoom-token-cleanup finished") == 1, log
    assert errors(log) == [], log


def test_pg_terminate_backend_on_main_and_job_connections(fdb, daemons, notify):
    migrate_seed(fdb)
    young = fill(fdb, 20000, 2000)
    d = daemons(["-d", fdb.conninfo, "--set", "migrations.directory=" + MIGRATIONS,
                 "--set", "jobs.zoom_token_cleanup.batch_size=100"], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1"), d.stderr()
    assert wait_until(lambda: expired_left(fdb) < 19500, 30), d.stderr()
    # 1. the main connection, idle, while the job runs
    job = wait_until(lambda: job_backend(fdb), 10)
    assert job, "%r %r %s" % (runs(fdb), expired_left(fdb), d.stderr()) + "%r" % fdb.query("SELECT pid, backend_start, state, left(query, 60) FROM pg_stat_activity "
                          "WHERE application_name = 'momentum-maintd'")
    # the main connection is the oldest: the jobs connect after READY
    main = daemon_backends(fdb)[0]
    assert main != job, (main, job)
    fdb.query("SELECT pg_terminate_backend(%s)", (main,))
    assert notify.wait_for(lambda l: l.startswith("STATUS=ready; database") and "reconnected" in l, 30), d.stderr()
    assert_alive(d, "after its main session was terminated")
    # 2. the job's connection, in the middle of the run
    assert expired_left(fdb) > 2000, "the run ended too early; make it slower"
    fdb.query("SELECT pg_terminate_backend(%s)", (job,))
    assert wait_until(lambda: [s for s, _, _ in runs(fdb)] == ["ok", "failed", "ok"], 90), (runs(fdb), d.stderr())
    assert expired_left(fdb) == 0
    assert not young - tokens(fdb), "a token younger than the retention was deleted"
    failed = runs(fdb)[1]
    assert failed[2].startswith("connection lost: "), failed
    assert "not connected" not in failed[2] and ("terminating connection" in failed[2] or
                                                 "server closed the connection" in failed[2]), failed
    # 3. both, while idle
    before = sum("reconnected" in l for l in notify.lines())
    for pid in daemon_backends(fdb):
        fdb.query("SELECT pg_terminate_backend(%s)", (pid,))
    assert wait_until(lambda: sum("reconnected" in l for l in notify.lines()) > before, 30), d.stderr()
    time.sleep(0.5)
    assert_alive(d, "after all its sessions were terminated")
    d.signal(signal.SIGTERM)
    assert d.wait(10) == 0, d.stderr()
    log = d.stderr()
    # each fault said once: the main connection twice lost, the job's once
    assert count(log, "level=warning msg=\"database connection to") == 2, log
    assert count(log, "job zoom-token-cleanup: database connection lost during the run") == 1, log
    assert count(log, "the interrupted run is recorded as failed; trying it once more") == 1, log
    assert count(log, "unavailable, retrying") == 0, log
    assert errors(log) == [], log
    assert [s for s, _, _ in runs(fdb)] == ["ok", "failed", "ok"], "an idle job connection lost is no run"


# ---- during a verification pass -------------------------------------------------------

def _run_job_verify_supported():
    try:
        r = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    except OSError:
        return False
    return any("run-job" in l and "verify" in l for l in r.stdout.splitlines())


@pytest.mark.skipif(not _run_job_verify_supported(), reason="'momentum-maintd run-job verify' is not supported yet")
def test_postgres_restarted_during_a_verification_pass(fdb):
    migrate_seed(fdb)
    import threading
    pg = fdb.cluster
    results = []
    for delay in (0.0, 0.05, 0.2):
        t = threading.Timer(delay, lambda: (pg.stop("immediate"), time.sleep(0.5), pg.start()))
        t.start()
        r = run(["-d", fdb.conninfo, "run-job", "verify"], timeout=120)
        t.join()
        results.append(r)
        # it never crashes: ok, findings, or the database is down
        assert r.returncode in (0, 1, 65, 69), (r.returncode, r.stdout, r.stderr)
        assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    wait_until(lambda: pg.running)
    r = run(["-d", fdb.conninfo, "run-job", "verify"], timeout=120)
    assert r.returncode in (0, 1), r.stderr
    if fdb.query("SELECT to_regclass('momentum_maintd.job_runs') IS NOT NULL")[0][0]:
        assert fdb.query("SELECT count(*) FROM momentum_maintd.job_runs WHERE job = 'verify' "
                         "AND status = 'running'") == [(0,)]
