"""The seed's per-environment rules: production backs up first and needs
rollback plans; staging and production run the verification pass after
migrating; development logs at debug and allows migrate reset."""
import re
import signal

from conftest import MIGRATIONS, SEED_MIGRATIONS, SHIPPED_SUMMARY, migrations_dir, run


def seed(db, env, *cmd, extra_env=None):
    e = {"MOMENTUM_MAINTD_ENVIRONMENT": env}
    e.update(extra_env or {})
    return run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS] + list(cmd), env=e)


def test_production_refuses_to_migrate_without_a_backup_command(db):
    r = seed(db, "production", "migrate", "up")
    assert r.returncode == 78, r.stderr
    assert "migrations.backup_command is empty" in r.stderr
    assert db.query("SELECT to_regclass('public.profiles')") == [(None,)]


def test_production_dry_run_shows_the_plan_and_what_a_real_run_would_refuse(db, tmp_path):
    """A dry run in production without a backup command, or with a file
    lacking its rollback, still prints the plan (and would-be safety
    findings), says the run would be refused, and exits as the run would."""
    r = seed(db, "production", "migrate", "up", "--dry-run")
    assert r.returncode == 78, r.stderr
    assert "migrations.backup_command is empty" in r.stderr
    for name in SEED_MIGRATIONS:
        assert "would apply " + name in r.stdout, r.stdout
    assert "nothing would be applied: the production environment's rules refuse this run" in r.stdout
    assert "migration(s) would be applied" not in r.stdout
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "--set", "migrations.backup_command=true",
             "migrate", "up", "--dry-run"], env={"MOMENTUM_MAINTD_ENVIRONMENT": "production"})
    assert r.returncode == 65, r.stderr
    assert "would apply 001_a (no rollback file)" in r.stdout
    assert "production needs a rollback plan" in r.stderr
    assert db.query("SELECT to_regclass('public.profiles'), to_regclass('public.a'), "
                    "to_regclass('momentum_maintd.schema_migrations')") == [(None, None, None)]


def test_production_runs_the_backup_first_with_the_connection_in_its_environment(db, tmp_path):
    out = tmp_path / "backup.txt"
    cmd = ('psql -XAtc "select count(*) from pg_tables where tablename = \'profiles\'" > %s; '
           'echo "$PGDATABASE $MOMENTUM_MAINTD_PENDING" >> %s' % (out, out))
    r = seed(db, "production", "--set", "migrations.backup_command=" + cmd, "migrate", "up")
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "0", "the backup ran before anything was applied"
    assert lines[1] == "%s %s" % (db.name, " ".join(SEED_MIGRATIONS))
    assert "backup command finished" in r.stderr
    # staging and production run the full verification pass after migrating
    assert "verification after migrating: " + SHIPPED_SUMMARY in r.stderr, r.stderr


def test_production_failing_backup_applies_nothing(db):
    r = seed(db, "production", "--set", "migrations.backup_command=echo disk full >&2; exit 3", "migrate", "up")
    assert r.returncode == 65
    assert "backup command failed with exit status 3" in r.stderr and "nothing applied" in r.stderr
    assert "disk full" in r.stderr
    assert db.query("SELECT to_regclass('public.profiles')") == [(None,)]


def test_production_refuses_a_migration_without_rollback(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "--set", "migrations.backup_command=true",
             "migrate", "up"], env={"MOMENTUM_MAINTD_ENVIRONMENT": "production"})
    assert r.returncode == 65
    assert "001_a.sql: production needs a rollback plan: add rollback_001_a.sql" in r.stderr
    assert db.query("SELECT to_regclass('a')") == [(None,)]


def test_staging_reports_tables_without_rls_after_migrating(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE open_table (x int);\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"],
            env={"MOMENTUM_MAINTD_ENVIRONMENT": "staging"})
    assert r.returncode == 0
    assert 'level=error msg="verify: error rls_disabled_in_public public.open_table: row level security is off' \
        in r.stderr, r.stderr
    assert "check=rls_disabled_in_public object=public.open_table" in r.stderr
    assert "verification after migrating: 1 error" in r.stderr


def test_staging_daemon_verifies_right_after_migrating_whatever_the_schedule(db, tmp_path, daemons, notify):
    """The daemon's post-migration check is the verify job's first pass,
    which runs right after READY=1 even when the schedule is a year away."""
    mdir = migrations_dir(tmp_path, {"001_a.sql": "CREATE TABLE open_table (x int);\n"})
    d = daemons(["-d", db.conninfo, "--set", "migrations.directory=" + mdir,
                 "--set", "jobs.verify.schedule=0 0 1 1 *"],
                env={"MOMENTUM_MAINTD_ENVIRONMENT": "staging"}, notify=notify)
    assert notify.wait_for(lambda l: l == "READY=1"), d.stderr()
    # and no_primary_key (info) for open_table
    assert notify.wait_for(lambda l: re.match(r"STATUS=ready; verify: 1 error, 0 warnings, 1 info at ", l)), \
        notify.lines()
    d.signal(signal.SIGTERM)
    assert d.wait() == 0
    assert "verify: error rls_disabled_in_public public.open_table: row level security is off" in d.stderr()
    assert "post-migration check" not in d.stderr()


def test_development_logs_debug_by_default_and_allows_reset(db):
    r = seed(db, "development", "migrate", "up", extra_env={"MOMENTUM_MAINTD_LOG_LEVEL": None})
    assert r.returncode == 0
    assert "level=debug" in r.stderr
    assert "verification after migrating" not in r.stderr
    db.query("CREATE TABLE scratch (x int)")
    db.query("INSERT INTO zoom_credentials (user_id, access_token, refresh_token, expires_at) "
             "SELECT NULL, 'a', 'r', now() WHERE false")
    r = seed(db, "development", "migrate", "reset", "--yes")
    # the seed's rollback_001 cannot drop organization_members while the
    # organizations policies reference it: reset stops there, whole
    assert "rolled back migration 003_storage_buckets" in r.stderr
    assert "rolled back migration 002_zoom_integration" in r.stderr
    assert "rollback_001_initial_schema.sql:3:1: rollback failed: ERROR 2BP01" in r.stderr, r.stderr
    assert r.returncode == 65
    assert db.query("SELECT version FROM momentum_maintd.schema_migrations") == [(1,)]


def test_reset_is_refused_outside_development(db):
    for env in ("staging", "production"):
        r = seed(db, env, "migrate", "reset", "--yes")
        assert r.returncode == 64
        assert 'allowed only with environment = "development"' in r.stderr
