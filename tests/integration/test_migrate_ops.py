"""Migration operations: drift, errors that point at the line,
no-transaction files, many replicas, long migrations."""
import os
import re
import signal
import time

import pytest

from conftest import MIGRATIONS, NotifySocket, migrations_dir, run


def up(db, mdir, *extra):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir] + list(extra) + ["migrate", "up"])


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
             "003_storage_buckets.sql": None,
             "004_slow.sql": "SELECT pg_sleep(1.5);\nCREATE TABLE slow_done (x int);\n"}
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
        [(1, 1), (2, 1), (3, 1), (4, 1)]
    applied = sum(p.stderr().count("applied migration ") for p in procs)
    assert applied == 4


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
