"""Migration operations: drift, errors that point at the line,
no-transaction files, many replicas, long migrations."""
import os
import re
import signal
import time

import pytest

from conftest import MIGRATIONS, SEED_COUNT, NotifySocket, migrations_dir, run, wait_until


def up(db, mdir, *extra, **kw):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir] + list(extra) + ["migrate", "up"], **kw)


def versions(db):
    return [v for (v,) in db.query("SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1")]


# ---- checksums and drift ------------------------------------------------------

def test_edited_applied_file_stops_with_65_naming_file_and_both_hashes(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    assert up(db, mdir).returncode == 0
    old = db.query("SELECT checksum FROM momentum_maintd.schema_migrations")[0][0]
    (tmp_path / "migrations" / "001_a.sql").write_text("CREATE TABLE a (x bigint);\n")
    (tmp_path / "migrations" / "002_b.sql").write_text("CREATE TABLE b (x int);\n")
    r = up(db, mdir)
    assert r.returncode == 65, r.stderr
    assert "001_a.sql: applied migration was changed after it was applied" in r.stderr
    assert old in r.stderr
    import hashlib
    assert hashlib.sha256(b"CREATE TABLE a (x bigint);\n").hexdigest() in r.stderr
    assert versions(db) == [1], "nothing applied when a check fails"
    assert db.query("SELECT to_regclass('b')") == [(None,)]
    st = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "status"])
    assert st.returncode == 65 and "CHANGED since applied" in st.stdout


def test_applied_version_whose_file_is_gone_is_reported(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT 1;\n", "002_b.sql": "SELECT 2;\n"})
    assert up(db, mdir).returncode == 0
    os.unlink(tmp_path / "migrations" / "002_b.sql")
    r = up(db, mdir)
    assert r.returncode == 0
    assert "migration 002_b is recorded as applied but its file is not in" in r.stderr
    st = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "status"])
    assert st.returncode == 65 and "FILE MISSING" in st.stdout


@pytest.mark.parametrize("policy,code,applied", [("fail", 65, [1, 3]), ("apply", 0, [1, 2, 3]),
                                                 ("ignore", 0, [1, 3])])
def test_out_of_order_pending_migration(db, tmp_path, policy, code, applied):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT 1;\n", "003_c.sql": "SELECT 3;\n"})
    assert up(db, mdir).returncode == 0
    (tmp_path / "migrations" / "002_b.sql").write_text("CREATE TABLE b (x int);\n")
    r = up(db, mdir, "--set", "migrations.on_out_of_order=" + policy)
    assert r.returncode == code, r.stderr
    assert "002_b.sql" in r.stderr and "older than the newest applied" in r.stderr
    assert versions(db) == applied


# ---- errors that point at the line ---------------------------------------------

@pytest.mark.parametrize("sql,where,line_text", [
    ("SELEC 1;\n", ":1:1:", "SELEC 1;"),
    ("CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES ('x');\nSELECT 1;\n",
     ":3:23:", "INSERT INTO t VALUES ('x');"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1\n  RETURN 2;\nEND;\n$$;\n",
     ":4:10:", "  RETURN 2;"),
    ("/* a long\n   comment\n   spanning lines */\nCREATE TABLE t (id int);\n-- and one more\nSELECT nope FROM t;\n",
     ":6:8:", "SELECT nope FROM t;"),
    ("SELECT 1; SELECT 2; SELECT * FROM missing_table;\n", ":1:35:", "SELECT 1; SELECT 2; SELECT * FROM missing_table;"),
])
def test_error_points_at_file_line_and_column(db, tmp_path, sql, where, line_text):
    mdir = migrations_dir(tmp_path, {"001_x.sql": sql})
    r = up(db, mdir)
    assert r.returncode == 65, r.stderr
    assert "001_x.sql" + where + " migration failed: ERROR " in r.stderr, r.stderr
    # the line and a caret under the column
    col = int(where.split(":")[2])
    msg = [l for l in r.stderr.splitlines() if "migration failed" in l][0]
    text = re.search(r'msg="(.*?)(?<!\\)"', msg).group(1).encode().decode("unicode_escape")
    lines = text.split("\n")
    assert lines[1].endswith("| " + line_text), lines
    caret = lines[2]
    assert caret.index("^") - caret.index("| ") - 2 == col - 1, lines
    assert db.query("SELECT to_regclass('t')") == [(None,)]


def test_transaction_control_in_a_migration_is_refused_before_anything_runs(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\nCOMMIT;\nCREATE TABLE b (x int);\n"})
    r = up(db, mdir)
    assert r.returncode == 65
    assert "001_a.sql:2:1: COMMIT: a migration must not control transactions" in r.stderr
    assert db.query("SELECT to_regclass('a')") == [(None,)]


def test_unterminated_dollar_quote_is_named_with_its_line(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT 1;\nDO $$ BEGIN\n"})
    r = up(db, mdir)
    assert r.returncode == 65
    assert "001_a.sql:2: unterminated dollar-quoted string $$" in r.stderr


# ---- no-transaction migrations -------------------------------------------------

def test_no_transaction_migration_runs_concurrent_index_build(db, tmp_path):
    mdir = migrations_dir(tmp_path, {
        "001_t.sql": "CREATE TABLE t (id int);\nINSERT INTO t SELECT generate_series(1, 1000);\n",
        "002_idx.sql": "-- momentum-maintd: no-transaction\n"
                       "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_idx ON t (id);\n"
                       "ANALYZE t;\n"})
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id_idx'::regclass") == [(True,)]
    assert versions(db) == [1, 2]
    assert db.query("SELECT count(*) FROM momentum_maintd.migrations_in_progress") == [(0,)]


def test_concurrent_index_in_a_transactional_file_gets_a_hint(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_t.sql": "CREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY i ON t (id);\n"})
    r = up(db, mdir)
    assert r.returncode == 65
    assert "25001" in r.stderr
    assert "momentum-maintd: no-transaction" in r.stderr


def test_kill_9_during_no_transaction_migration_then_restart_completes(db, tmp_path, daemons, notify):
    mdir = migrations_dir(tmp_path, {
        "001_t.sql": "CREATE TABLE t (id int);\n",
        "002_slow.sql": "-- momentum-maintd: no-transaction\n"
                        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_idx ON t (id);\n"
                        "SELECT pg_sleep(30);\n"
                        "CREATE TABLE IF NOT EXISTS after_sleep (x int);\n"})
    args = ["-d", db.conninfo, "--set", "migrations.directory=" + mdir]
    d = daemons(args, notify=notify)
    assert notify.wait_for(lambda l: "applying 002_slow" in l, timeout=20), d.stderr()
    time.sleep(1)
    d.proc.kill()
    d.wait()
    db.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'")
    assert db.query("SELECT version FROM momentum_maintd.migrations_in_progress") == [(2,)]
    assert versions(db) == [1]
    # fast the second time
    (tmp_path / "migrations" / "002_slow.sql").write_text(
        "-- momentum-maintd: no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_idx ON t (id);\n"
        "CREATE TABLE IF NOT EXISTS after_sleep (x int);\n")
    r = run(args + ["migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert "no-transaction migration 002_slow was interrupted" in r.stderr
    assert "re-run after an interruption" in r.stderr
    assert versions(db) == [1, 2]
    assert db.query("SELECT count(*) FROM momentum_maintd.migrations_in_progress") == [(0,)]


# ---- many replicas, one runner -------------------------------------------------

def test_eight_daemons_at_once_apply_each_migration_once(db, tmp_path, daemons):
    files = {"001_initial_schema.sql": None, "002_zoom_integration.sql": None,
             "003_storage_buckets.sql": None, "004_rls_fixes.sql": None,
             "005_slow.sql": "SELECT pg_sleep(1.5);\nCREATE TABLE slow_done (x int);\n"}
    mdir = migrations_dir(tmp_path, files)
    socks, procs = [], []
    try:
        for i in range(8):
            n = NotifySocket(str(tmp_path / ("n%d.sock" % i)))
            socks.append(n)
            procs.append(daemons(["-d", db.conninfo, "--set", "migrations.directory=" + mdir], notify=n))
        for n, p in zip(socks, procs):
            assert n.wait_for(lambda l: l == "READY=1", timeout=60), p.stderr()
        waited = sum(1 for n in socks if any("waiting for the migration lock" in l for l in n.lines()))
        assert waited >= 1, "the others wait with STATUS saying so"
        for p in procs:
            p.signal(signal.SIGTERM)
        for p in procs:
            assert p.wait() == 0
            assert "level=error" not in p.stderr() and "level=warning" not in p.stderr(), p.stderr()
    finally:
        for n in socks:
            n.close()
    assert db.query("SELECT version, count(*) FROM momentum_maintd.schema_migrations GROUP BY 1 ORDER BY 1") == \
        [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)]
    applied = sum(p.stderr().count("applied migration ") for p in procs)
    assert applied == 5


# ---- long migrations under systemd ---------------------------------------------

def test_long_migration_keeps_status_and_extends_the_start_timeout(db, tmp_path, daemons, notify):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT 1;\n",
                                     "002_long_one.sql": "SELECT pg_sleep(7);\n"})
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1", timeout=30), d.stderr()
    lines = notify.lines()
    assert any(re.match(r"STATUS=applying 002_long_one \(2/2, [5-9] s\)", l) for l in lines), lines
    assert any(l.startswith("EXTEND_TIMEOUT_USEC=") for l in lines[:lines.index("READY=1")])
    d.signal(signal.SIGTERM)
    assert d.wait() == 0


# ---- commands: status --format json, up --dry-run, down, baseline -------------

def seed(db, *cmd, **kw):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS] + list(cmd), **kw)


def test_status_json_is_a_stable_shape(db, tmp_path):
    import json
    assert seed(db, "migrate", "up").returncode == 0
    r = seed(db, "migrate", "status", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [m["version"] for m in doc["migrations"]] == list(range(1, SEED_COUNT + 1))
    m = doc["migrations"][0]
    assert set(m) == {"version", "name", "state", "applied_at", "checksum", "file_checksum"}
    assert m["state"] == "applied" and m["checksum"] == m["file_checksum"]


def test_dry_run_prints_the_plan_and_changes_nothing(db):
    r = seed(db, "migrate", "up", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "would apply 001_initial_schema\nwould apply 002_zoom_integration\nwould apply 003_storage_buckets\n" in r.stdout
    assert db.query("SELECT to_regnamespace('momentum_maintd'), to_regclass('public.profiles')") == [(None, None)]
    assert db.query("SELECT to_regnamespace('auth')") == [(None,)]


def test_down_to_1_on_the_seed(db):
    assert seed(db, "migrate", "up").returncode == 0
    r = seed(db, "migrate", "down", "--to", "1")
    assert r.returncode == 64, "no --yes and no terminal: refused"
    assert "refusing without --yes" in r.stderr
    assert versions(db) == list(range(1, SEED_COUNT + 1))
    r = seed(db, "migrate", "down", "--to", "1", "--yes")
    assert r.returncode == 0, r.stderr
    assert "%d migration(s) rolled back" % (SEED_COUNT - 1) in r.stdout
    assert versions(db) == [1]
    assert db.query("SELECT to_regclass('public.zoom_credentials')") == [(None,)]
    assert db.query("SELECT count(*) FROM pg_proc WHERE proname = 'cleanup_expired_zoom_tokens'") == [(0,)]
    assert db.query("SELECT count(*) FROM storage.buckets") == [(0,)]
    assert db.query("SELECT count(*) FROM pg_policies WHERE schemaname = 'storage'") == [(0,)]
    assert db.query("SELECT to_regclass('public.profiles') IS NOT NULL, to_regclass('public.brand_settings') IS NOT NULL") == [(True, True)]
    # and up again
    assert seed(db, "migrate", "up").returncode == 0
    assert versions(db) == list(range(1, SEED_COUNT + 1))


def test_down_refuses_up_front_when_a_rollback_file_is_missing(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n", "rollback_001_a.sql": "DROP TABLE a;\n",
                                     "002_b.sql": "CREATE TABLE b (x int);\n"})
    assert up(db, mdir).returncode == 0
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "down", "--to", "0", "--yes"])
    assert r.returncode == 65
    assert "002_b.sql: no rollback file" in r.stderr and "nothing rolled back" in r.stderr
    assert versions(db) == [1, 2]
    assert db.query("SELECT to_regclass('a') IS NOT NULL") == [(True,)]


def test_failing_rollback_is_rolled_back_whole(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n",
                                     "rollback_001_a.sql": "DROP TABLE a;\nDROP TABLE nope;\n"})
    assert up(db, mdir).returncode == 0
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "down", "--to", "0", "--yes"])
    assert r.returncode == 65
    assert "rollback_001_a.sql:2:1: rollback failed: ERROR 42P01" in r.stderr, r.stderr
    assert versions(db) == [1]
    assert db.query("SELECT to_regclass('a') IS NOT NULL") == [(True,)]


def test_schema_applied_by_hand_is_recognised_and_baseline_records_it(db, tmp_path):
    # as the seed's runbook does: psql -f each file (after the compat objects exist)
    db.execute_file(os.path.join(os.path.dirname(MIGRATIONS), "src", "supabase_compat.sql"))
    for f in ("001_initial_schema.sql", "002_zoom_integration.sql", "003_storage_buckets.sql"):
        db.execute_file(os.path.join(MIGRATIONS, f))
    r = seed(db, "migrate", "up")
    assert r.returncode == 65
    assert "migrate baseline VERSION" in r.stderr and "applied by hand" in r.stderr, r.stderr
    r = seed(db, "migrate", "baseline", "3")
    assert r.returncode == 0, r.stderr
    assert "recorded 001_initial_schema as applied (not run)" in r.stdout
    assert versions(db) == [1, 2, 3]
    r = seed(db, "migrate", "up")
    assert r.returncode == 0 and "%d migration(s) applied" % (SEED_COUNT - 3) in r.stdout, "the fixes from 004 on"
    assert seed(db, "migrate", "baseline", "7").returncode == 64


# ---- migrations that never stall the app ----------------------------------------

def test_lock_timeout_keeps_the_app_flowing_and_retries_until_applied(db, tmp_path):
    import threading
    assert run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"]).returncode == 0
    mdir = tmp_path / "m"
    mdir.mkdir()
    for f in os.listdir(MIGRATIONS):
        if f.endswith(".sql"):
            (mdir / f).write_text(open(os.path.join(MIGRATIONS, f)).read())
    (mdir / ("%03d_profiles_timezone.sql" % (SEED_COUNT + 1))).write_text("ALTER TABLE profiles ADD COLUMN timezone text;\n")
    (mdir / ("rollback_%03d_profiles_timezone.sql" % (SEED_COUNT + 1))).write_text("ALTER TABLE profiles DROP COLUMN timezone;\n")

    app = db.cluster.connect(db.name)
    app.autocommit = False
    cur = app.cursor()
    cur.execute("SET application_name = 'momentum-api'")
    cur.execute("SELECT count(*) FROM profiles")          # holds ACCESS SHARE for 12 s
    release = threading.Timer(12.0, app.commit)
    release.start()

    latencies, stop = [], threading.Event()

    def other_app_queries():
        c = db.cluster.connect(db.name)
        try:
            while not stop.is_set():
                t = time.monotonic()
                c.cursor().execute("SELECT count(*) FROM profiles")
                latencies.append(time.monotonic() - t)
                time.sleep(0.05)
        finally:
            c.close()
    reader = threading.Thread(target=other_app_queries)
    reader.start()
    try:
        r = run(["-d", db.conninfo, "--set", "migrations.directory=" + str(mdir), "migrate", "up"], timeout=90)
    finally:
        stop.set()
        reader.join()
        release.join()
        app.close()
    assert r.returncode == 0, r.stderr
    assert versions(db) == list(range(1, SEED_COUNT + 2))
    assert "lock not granted within 2000 ms" in r.stderr
    assert 'application \\"momentum-api' in r.stderr, "the blocker is named"
    assert max(latencies) < 3.5, "app queries waited at most about the lock timeout: %.1f s" % max(latencies)


def test_lock_retries_exhausted_fails_with_65(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_t.sql": "CREATE TABLE t (x int);\n",
                                     "002_alter.sql": "ALTER TABLE t ADD COLUMN y int;\n"})
    assert run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"]).returncode == 0
    (tmp_path / "migrations" / "003_alter.sql").write_text("ALTER TABLE t ADD COLUMN z int;\n")
    app = db.cluster.connect(db.name)
    app.autocommit = False
    app.cursor().execute("LOCK TABLE t IN ACCESS SHARE MODE")
    try:
        r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "--set", "migrations.lock_timeout=200 ms",
                 "--set", "migrations.lock_retries=2", "migrate", "up"], timeout=60)
    finally:
        app.rollback()
        app.close()
    assert r.returncode == 65
    assert r.stderr.count("lock not granted within 200 ms") == 2
    assert "55P03" in r.stderr
    assert versions(db) == [1, 2]


def test_dry_run_locks_lists_what_each_migration_locks_and_changes_nothing(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_initial_schema.sql": None, "002_zoom_integration.sql": None})
    assert up(db, mdir).returncode == 0
    db.query("INSERT INTO auth.users (id) SELECT gen_random_uuid() FROM generate_series(1, 20000)")
    db.query("INSERT INTO profiles (id, email) SELECT id, id::text FROM auth.users")
    db.query("ANALYZE profiles")
    (tmp_path / "migrations" / "003_timezone.sql").write_text(
        "ALTER TABLE profiles ADD COLUMN timezone text;\nCREATE TABLE fresh (x int);\n")
    (tmp_path / "migrations" / "004_idx.sql").write_text(
        "-- momentum-maintd: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS p_name ON profiles (name);\n")
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up", "--dry-run", "--locks"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "003_timezone:\n  ACCESS EXCLUSIVE on public.profiles (" in out, out
    assert "20k rows)" in out
    assert "fresh" not in out, "tables the migration creates are not listed"
    assert "004_idx:\n  not checked: no-transaction" in out
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE column_name = 'timezone'") == [(0,)]
    assert db.query("SELECT to_regclass('fresh')") == [(None,)]
    assert versions(db) == [1, 2]


# ---- statements, sessions, commits and interrupts -----------------------------

def test_copy_from_stdin_is_refused_not_hung(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\nCOPY a FROM stdin;\n"})
    r = up(db, mdir, timeout=20)
    assert r.returncode == 65
    assert "001_a.sql:2:1: COPY ... FROM STDIN / TO STDOUT" in r.stderr


def test_parameter_named_begin_cannot_hide_a_commit(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql":
        "CREATE FUNCTION f(begin timestamptz) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
        "CREATE TABLE meetings (id int);\nCOMMIT;\nSELECT 1/0;\n"})
    r = up(db, mdir)
    assert r.returncode == 65
    assert "001_a.sql:3:1: COMMIT: a migration must not control transactions" in r.stderr
    assert db.query("SELECT to_regclass('meetings')") == [(None,)]


def test_session_settings_do_not_leak_into_the_next_migration(db, tmp_path):
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "SELECT set_config('search_path', '', false);\nSET ROLE anon;\nSET statement_timeout = '1ms';\n",
        "002_b.sql": "CREATE TABLE b (x int);\nSELECT pg_sleep(0.05);\n"})
    db.query("DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT tableowner FROM pg_tables WHERE tablename = 'b'") == [("postgres",)]


def test_a_migration_timeout_does_not_apply_to_its_tracking_row(db, tmp_path):
    # a file may set its own statement_timeout; recording it must not
    # inherit that: here the tracking INSERT has to wait a second for a lock
    import subprocess
    (tmp_path / "empty").mkdir()
    assert up(db, migrations_dir(tmp_path / "empty", {})).returncode == 0
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\nSET statement_timeout = '50ms';\n"})
    holder = subprocess.Popen(["/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-d", db.conninfo, "-c",
                               "BEGIN; LOCK TABLE momentum_maintd.schema_migrations IN SHARE MODE; "
                               "SELECT pg_sleep(1); COMMIT"], stdout=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: db.query("SELECT count(*) FROM pg_locks WHERE mode = 'ShareLock' "
                                           "AND relation = 'momentum_maintd.schema_migrations'::regclass")[0][0] == 1)
        r = up(db, mdir)
    finally:
        holder.wait(30)
    assert r.returncode == 0, r.stderr
    assert versions(db) == [1]


def test_a_migration_whose_commit_fails_is_not_recorded(db, tmp_path):
    # the tracking row and the COMMIT go in one round trip: a deferred
    # constraint that fails at COMMIT must still leave nothing behind
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "CREATE TABLE p (id int PRIMARY KEY);\n",
        "002_b.sql": "CREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n"
                     "INSERT INTO c VALUES (42);\n",
        "003_c.sql": "CREATE TABLE d (x int);\n"})
    r = up(db, mdir)
    assert r.returncode == 65, r.stderr
    assert "migration transaction" in r.stderr and "23503" in r.stderr
    assert "002_b.sql: not applied" in r.stderr
    assert [v for (v,) in db.query("SELECT version FROM momentum_maintd.schema_migrations")] == [1]
    assert db.query("SELECT to_regclass('c'), to_regclass('d')") == [(None, None)]
    # fixed, it applies, and the session is usable after the failed COMMIT
    (tmp_path / "migrations" / "002_b.sql").write_text("CREATE TABLE c (p int REFERENCES p);\n")
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert [v for (v,) in db.query("SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1")] == [1, 2, 3]


def test_database_timeouts_do_not_cut_the_lock_wait(db, tmp_path):
    db.query("ALTER DATABASE \"%s\" SET statement_timeout = '500ms'" % db.name)
    db.query("ALTER DATABASE \"%s\" SET lock_timeout = '500ms'" % db.name)
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\nSELECT pg_sleep(1);\n"})
    holder = db.cluster.connect(db.name)
    try:
        holder.cursor().execute("SET statement_timeout = 0; SELECT pg_advisory_lock(1835885684, 1)")
        import threading
        t = threading.Timer(2.0, lambda: holder.cursor().execute("SELECT pg_advisory_unlock(1835885684, 1)"))
        t.start()
        r = up(db, mdir)
        t.join()
    finally:
        holder.close()
    assert r.returncode == 0, r.stderr
    assert "another instance is applying migrations" in r.stderr


def test_ctrl_c_during_migrate_up_cancels_the_statement(db, tmp_path):
    import subprocess
    from conftest import BIN, EMPTY_CONFIG, TEST_DEFAULTS
    mdir = migrations_dir(tmp_path, {"001_slow.sql": "CREATE TABLE s (x int);\nSELECT pg_sleep(60);\n"})
    env = dict(os.environ, MOMENTUM_MAINTD_CONFIG=EMPTY_CONFIG, **TEST_DEFAULTS)
    p = subprocess.Popen([BIN, "-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        if db.query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60);'")[0][0]:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == 130, err
    time.sleep(0.3)
    assert db.query("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60);'") == [(0,)]
    assert db.query("SELECT to_regclass('s')") == [(None,)]


def test_upper_case_extension_is_not_silently_skipped(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT 1;\n", "002_b.SQL": "SELECT 2;\n"})
    r = up(db, mdir)
    assert r.returncode == 65
    assert "002_b.SQL: bad migration file name: the extension must be lower-case .sql" in r.stderr


def test_the_bookkeeping_uses_pg_catalogs_now_whatever_the_search_path(db, tmp_path):
    """Attack: public before pg_catalog on the database's search_path and a
    public.now() from 1999: the bookkeeping's tables must not take it as
    their default (their applied_at would lie for every later run)."""
    db.query("ALTER DATABASE %s SET search_path = public, pg_catalog" % db.name)
    db.query("CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT '1999-01-01'::timestamptz$$")
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT extract(year FROM applied_at) >= 2024 FROM momentum_maintd.schema_migrations") == [(True,)]
    [(default,)] = db.query("SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
                            "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
                            "WHERE d.adrelid = 'momentum_maintd.schema_migrations'::regclass "
                            "AND a.attname = 'applied_at'")
    assert "public" not in default, default
