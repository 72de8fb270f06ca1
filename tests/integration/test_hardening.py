"""Regressions from review: things that once froze, half-applied or leaked."""
import os
import signal
import time

from conftest import migrations_dir, run


def up(db, mdir, *extra, **kw):
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir] + list(extra) + ["migrate", "up"], **kw)


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


def test_password_in_a_badly_encoded_uri_is_never_echoed(tmp_path):
    for url in ("postgresql://app:pa/ss@localhost:5432/db", "postgresql://app:p@ss@localhost/db",
                "host=x password=Secret junk"):
        r = run(["check-config"], env={"DATABASE_URL": url})
        assert r.returncode == 78, (url, r.stdout, r.stderr)
        for piece in ("pa/ss", "ss@", "Secret"):
            assert piece not in r.stdout + r.stderr, (url, r.stderr)
        assert "DATABASE_URL" in r.stderr


def test_integer_too_large_for_libconfig_is_an_error(tmp_path):
    p = tmp_path / "c.conf"
    p.write_text("jobs: { zoom_token_cleanup: {\n  batch_size = 4294972296;\n}; };\n")
    r = run(["-c", str(p), "check-config"])
    assert r.returncode == 78
    assert "%s:2: jobs.zoom_token_cleanup.batch_size: integer too large" % p in r.stderr
    p.write_text("verify: { remind_every = 4294967297; };\n")
    r = run(["-c", str(p), "check-config"])
    assert r.returncode == 78 and "integer too large" in r.stderr


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


def test_migrations_directory_missing_is_a_configuration_error(db):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=/nonexistent/migrations", "migrate", "up"])
    assert r.returncode == 78
    assert "/nonexistent/migrations: cannot open migrations directory" in r.stderr


def test_upper_case_extension_is_not_silently_skipped(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "SELECT 1;\n", "002_b.SQL": "SELECT 2;\n"})
    r = up(db, mdir)
    assert r.returncode == 65
    assert "002_b.SQL: bad migration file name: the extension must be lower-case .sql" in r.stderr


def test_dotted_name_in_config_file_gets_a_hint(tmp_path):
    p = tmp_path / "c.conf"
    p.write_text('log.level = "debug";\n')
    r = run(["-c", str(p), "check-config"])
    assert r.returncode == 78
    assert "write a section as log: { level" in r.stderr
