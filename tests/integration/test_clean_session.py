"""Each migration file starts from a clean session (issue 16, item 2): what
one file leaves in the session (temporary tables, prepared statements,
cursors WITH HOLD, LISTENs, settings, roles, sequence state) is gone before
the next file runs, whether the first file ran in a transaction or not; the
migration lock, a session advisory lock, is kept all the while.  A custom
setting ("app.tenant"), which no statement can undefine, is the exception:
after a file that may define one the next file runs in a new session, which
takes the lock again.  A
no-transaction file retried after a lock timeout goes on in the session it
set up."""
import os
import threading
import time

import pytest

from conftest import migrations_dir, run

NO_TX = "-- momentum-maintd: no-transaction\n"


def up(db, mdir, *extra, **kw):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir] + list(extra) + ["migrate", "up"], **kw)


def versions(db):
    return [v for (v,) in db.query("SELECT version FROM momentum_maintd.schema_migrations ORDER BY 1")]


def two_files(db, tmp_path, first, second, first_no_tx):
    mdir = migrations_dir(tmp_path, {"001_first.sql": (NO_TX if first_no_tx else "") + first,
                                     "002_second.sql": second})
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert versions(db) == [1, 2]
    return r


both = pytest.mark.parametrize("first_no_tx", [False, True], ids=["transaction", "no-transaction"])


@both
def test_temporary_table_is_gone(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "CREATE TEMP TABLE scratch (x int);\nINSERT INTO scratch VALUES (1);\n",
              "CREATE TEMP TABLE scratch (x int);\nCREATE TABLE done2 (x int);\n", first_no_tx)


@both
def test_temporary_table_on_commit_preserve_rows_is_gone(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "CREATE TEMP TABLE ids ON COMMIT PRESERVE ROWS AS SELECT 1 AS id;\n",
              "CREATE TABLE seen AS SELECT to_regclass('pg_temp.ids') AS t;\n", first_no_tx)
    assert db.query("SELECT t FROM seen") == [(None,)]


@both
def test_prepared_statement_is_gone(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "PREPARE q AS SELECT 1;\n",
              "PREPARE q AS SELECT 2;\nCREATE TABLE seen AS SELECT count(*) AS n FROM pg_prepared_statements;\n",
              first_no_tx)
    assert db.query("SELECT n FROM seen") == [(1,)], "only the second file's own"


@both
def test_cursor_with_hold_is_gone(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "DECLARE c CURSOR WITH HOLD FOR SELECT 1;\n",
              "CREATE TABLE seen AS SELECT count(*) AS n FROM pg_cursors;\n"
              "DECLARE c CURSOR WITH HOLD FOR SELECT 2;\n", first_no_tx)
    assert db.query("SELECT n FROM seen") == [(0,)]


@both
def test_listen_is_gone(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "LISTEN migration_channel;\n",
              "CREATE TABLE seen AS SELECT ch FROM pg_listening_channels() ch;\n", first_no_tx)
    assert db.query("SELECT count(*) FROM seen") == [(0,)]


@both
def test_sequence_state_is_gone(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "CREATE SEQUENCE s;\nSELECT nextval('s');\n",
              "CREATE TABLE seen (lastval_defined boolean);\n"
              "DO $$ BEGIN PERFORM lastval(); INSERT INTO seen VALUES (true);\n"
              "EXCEPTION WHEN object_not_in_prerequisite_state THEN INSERT INTO seen VALUES (false); END $$;\n",
              first_no_tx)
    assert db.query("SELECT lastval_defined FROM seen") == [(False,)]


@both
def test_settings_are_back_to_the_defaults(db, tmp_path, first_no_tx):
    two_files(db, tmp_path, "CREATE SCHEMA other;\nSET search_path = other;\nSET work_mem = '7MB';\n",
              "CREATE TABLE seen AS SELECT current_setting('search_path') AS sp, "
              "current_setting('work_mem') AS wm;\n", first_no_tx)
    assert db.query("SELECT sp, wm FROM seen") == [('"$user", public', "4MB")]
    assert db.query("SELECT to_regclass('public.seen') IS NOT NULL") == [(True,)]


CUSTOM_SETTINGS = {
    "set": "SET app.tenant = 'leaked';\n",
    "set_config": "SELECT set_config('app.tenant', 'leaked', false);\n",
    "set_local": "BEGIN;\nSET LOCAL app.tenant = 'leaked';\nCOMMIT;\n",
    "function_set_clause": "CREATE FUNCTION leak() RETURNS int LANGUAGE sql SET app.tenant = 'leaked' "
                           "AS 'SELECT 1';\nSELECT leak();\n",
}


@both
@pytest.mark.parametrize("how", sorted(CUSTOM_SETTINGS))
def test_custom_setting_is_undefined_in_the_next_file(db, tmp_path, first_no_tx, how):
    """PostgreSQL cannot undefine a custom setting in a session: after
    RESET it reads '' where a new connection reads NULL.  So the next file
    runs in a new session, where it reads NULL, as with psql -f per file."""
    first = CUSTOM_SETTINGS[how]
    if how == "set_local" and not first_no_tx:
        first = "SET LOCAL app.tenant = 'leaked';\n"
    two_files(db, tmp_path, first,
              "CREATE TABLE seen AS SELECT current_setting('app.tenant', true) AS a, "
              "current_setting('app.tenant', true) IS NULL AS undefined;\n", first_no_tx)
    assert db.query("SELECT a, undefined FROM seen") == [(None, True)]


def backends_of(db, tmp_path, files):
    """Runs files (each records its backend pid and whether that session
    holds the migration lock) and returns [(version, pid, holds lock)]."""
    db.query("CREATE TABLE backends (v int, pid int, locked bool)")
    record = ("INSERT INTO backends SELECT %d, pg_backend_pid(), EXISTS (SELECT FROM pg_locks WHERE "
              "locktype = 'advisory' AND pid = pg_backend_pid() AND classid = 1835885684 AND objid = 1 "
              "AND granted);\n")
    mdir = migrations_dir(tmp_path, {name: body + record % (i + 1)
                                     for i, (name, body) in enumerate(files)})
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert versions(db) == list(range(1, len(files) + 1))
    return db.query("SELECT v, pid, locked FROM backends ORDER BY v")


def test_files_without_custom_settings_share_one_session(db, tmp_path):
    """The usual case costs no connection: one session for every file."""
    rows = backends_of(db, tmp_path, [("001_a.sql", "SET search_path = public;\n"),
                                      ("002_b.sql", "CREATE TABLE t (x int);\n"),
                                      ("003_c.sql", "UPDATE backends SET v = v;\n")])
    assert len({pid for (_, pid, _) in rows}) == 1, rows
    assert all(locked for (_, _, locked) in rows), rows


@both
def test_the_file_after_a_custom_setting_holds_the_lock_in_its_new_session(db, tmp_path, first_no_tx):
    rows = backends_of(db, tmp_path, [("001_a.sql", (NO_TX if first_no_tx else "") + "SET app.x = 'v';\n"),
                                      ("002_b.sql", "CREATE TABLE t (x int);\n"),
                                      ("003_c.sql", "SELECT 1;\n")])
    (_, p1, l1), (_, p2, l2), (_, p3, l3) = rows
    assert p1 != p2 and p2 == p3, rows
    assert l1 and l2 and l3, rows
    # the first session is gone: it held the lock, and nothing else does now
    assert db.query("SELECT count(*) FROM pg_stat_activity WHERE pid = %s" % p1) == [(0,)]
    assert db.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 1835885684 "
                    "AND objid = 1") == [(0,)]


@both
def test_set_role_and_session_authorization_are_undone(db, tmp_path, first_no_tx):
    role = "cs_" + db.name[-20:].replace("-", "_")
    db.query("CREATE ROLE %s" % role)
    try:
        two_files(db, tmp_path, "SET SESSION AUTHORIZATION %s;\nSET ROLE %s;\n" % (role, role),
                  "CREATE TABLE seen AS SELECT current_user::text AS cu, session_user::text AS su;\n",
                  first_no_tx)
        assert db.query("SELECT cu, su FROM seen") == [("postgres", "postgres")]
        assert db.query("SELECT tableowner FROM pg_tables WHERE tablename = 'seen'") == [("postgres",)]
    finally:
        db.query("DROP OWNED BY %s; DROP ROLE %s" % (role, role))


@both
def test_the_daemons_own_settings_are_back_after_a_files_set(db, tmp_path, first_no_tx):
    """A file's statement_timeout must not cut the next file short (nor
    the recording of its own row), and the next file waits for locks at
    most migrations.lock_timeout."""
    two_files(db, tmp_path, "SET statement_timeout = '1ms';\nSET lock_timeout = '1h';\n",
              "CREATE TABLE seen AS SELECT current_setting('statement_timeout') AS st, "
              "current_setting('lock_timeout') AS lt, pg_sleep(0.05) IS NULL AS slept;\n", first_no_tx)
    assert db.query("SELECT st, lt FROM seen") == [("0", "2s")]


def test_the_reset_leaves_nothing_in_the_servers_log(db, tmp_path):
    """The DBA reads the server's log: resetting the session between files
    (after a transactional file, in the query that records it; after a
    no-transaction file, on its own) makes no WARNING there, such as the
    "there is no transaction in progress" of a COMMIT outside a
    transaction, and checking the migration lock makes none either."""
    log = db.cluster.log
    start = os.path.getsize(log)
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "CREATE TEMP TABLE x (y int);\nLISTEN ch;\n",
        "002_b.sql": NO_TX + "CREATE TABLE b (y int);\nPREPARE q AS SELECT 1;\n",
        "003_c.sql": "SET ROLE NONE;\nCREATE TABLE c (y int);\n",
        "004_d.sql": "CREATE TABLE d (y int);\n"})
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert versions(db) == [1, 2, 3, 4]
    with open(log) as f:
        f.seek(start)
        lines = [l for l in f.read().splitlines() if "WARNING" in l or "ERROR" in l]
    assert lines == [], lines


def test_migration_lock_is_held_through_the_reset(db, tmp_path):
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "CREATE TEMP TABLE x (y int);\n",
        "002_b.sql": "CREATE TABLE seen AS SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' "
                     "AND pid = pg_backend_pid() AND classid = 1835885684 AND objid = 1;\n"})
    r = up(db, mdir)
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT n FROM seen") == [(1,)]


def test_no_transaction_retry_after_lock_timeout_keeps_the_files_session(db, tmp_path):
    """The file sets search_path, then its ALTER waits for a lock: the
    retry runs with the file's search_path and the lock timeout still on."""
    db.query("CREATE SCHEMA app; CREATE TABLE app.t (x int)")
    mdir = migrations_dir(tmp_path, {"001_alter.sql": NO_TX + "SET search_path = app;\n"
                                     "ALTER TABLE t ADD COLUMN y int;\n"
                                     "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lt;\n"})
    app = db.cluster.connect(db.name)
    app.autocommit = False
    app.cursor().execute("LOCK TABLE app.t IN ACCESS SHARE MODE")
    release = threading.Timer(1.5, app.rollback)
    release.start()
    try:
        r = up(db, mdir, "--set", "migrations.lock_timeout=200 ms", "--set", "migrations.lock_retries=10",
               timeout=60)
    finally:
        release.join()
        app.close()
    assert r.returncode == 0, r.stderr
    assert "lock not granted within 200 ms" in r.stderr, "the test needs a retry"
    assert db.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'app' "
                    "AND table_name = 't' AND column_name = 'y'") == [(1,)]
    assert db.query("SELECT lt FROM app.seen") == [("200ms",)]
    assert versions(db) == [1]


def test_another_instance_may_take_the_lock_between_sessions(db, tmp_path):
    """The lock is let go of between the old session and the new one: an
    instance already waiting for it applies what is left, and the first
    one, its lock back, finds nothing pending.  Each file runs once."""
    db.query("CREATE TABLE ran (v int)")
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "SET app.x = 'v';\nINSERT INTO ran VALUES (1);\nSELECT pg_sleep(1.5);\n",
        "002_b.sql": "INSERT INTO ran VALUES (2);\n",
        "003_c.sql": "INSERT INTO ran VALUES (3);\n"})
    results = {}
    first = threading.Thread(target=lambda: results.__setitem__("first", up(db, mdir)))
    first.start()
    time.sleep(0.7)
    results["second"] = up(db, mdir)
    first.join()
    assert results["first"].returncode == 0, results["first"].stderr
    assert results["second"].returncode == 0, results["second"].stderr
    assert "another instance is applying migrations" in results["second"].stderr
    assert db.query("SELECT v FROM ran ORDER BY v") == [(1,), (2,), (3,)]
    assert versions(db) == [1, 2, 3]
    applied = sum(results[k].stderr.count("applied migration") for k in ("first", "second"))
    assert applied == 3, (results["first"].stderr, results["second"].stderr)


def test_a_failed_reconnect_leaves_the_files_before_it_applied(db, tmp_path):
    """The new connection fails (the first file took away the daemon's
    role's LOGIN): the run ends as with a lost database, the first file
    stays applied and recorded, nothing of the second ran, no lock is
    left, and the next run applies the second."""
    role = "rc_" + db.name[-20:].replace("-", "_")
    db.query("CREATE ROLE %s LOGIN SUPERUSER" % role)
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "SET app.x = 'v';\nALTER ROLE %s NOLOGIN;\n" % role,
        "002_b.sql": "CREATE TABLE b (x int);\n"})
    conninfo = db.conninfo + " user=" + role
    try:
        r = run(["-d", conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
        assert r.returncode == 69, r.stderr
        assert "database connection lost during migrations" in r.stderr
        assert versions(db) == [1]
        assert db.query("SELECT to_regclass('public.b') IS NULL") == [(True,)]
        assert db.query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND classid = 1835885684") == [(0,)]
        db.query("ALTER ROLE %s LOGIN" % role)
        r = run(["-d", conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
        assert r.returncode == 0, r.stderr
        assert versions(db) == [1, 2]
    finally:
        db.query("DROP OWNED BY %s; DROP ROLE %s" % (role, role))


def test_the_daemon_goes_on_in_the_new_session_and_counts_on(db, tmp_path, notify, daemons):
    """run: the file after a custom setting reads NULL, the progress goes
    on counting the whole run (2/3, 3/3), READY=1 comes after the last."""
    mdir = migrations_dir(tmp_path, {
        "001_a.sql": "SELECT set_config('app.x', 'v', false);\n",
        "002_b.sql": "CREATE TABLE seen AS SELECT current_setting('app.x', true) AS a;\n",
        "003_c.sql": "CREATE TABLE c (x int);\n"})
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + mdir], notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1", timeout=30), d.stderr()
    assert versions(db) == [1, 2, 3]
    assert db.query("SELECT a FROM seen") == [(None,)]
    statuses = [l for l in notify.lines() if l.startswith("STATUS=")]
    assert any("applying 002_b (2/3)" in s for s in statuses), statuses
    assert any("applying 003_c (3/3)" in s for s in statuses), statuses
