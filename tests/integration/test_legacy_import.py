"""The seed's optional legacy data migrations: no-ops without legacy
tables, import once with them, and never insert twice."""
import os
import re
import shutil
import uuid

from conftest import MIGRATIONS, SEED_COUNT, run

LEGACY = os.path.join(MIGRATIONS, "legacy")


def with_legacy(tmp_path):
    d = tmp_path / "migrations"
    d.mkdir()
    for f in os.listdir(MIGRATIONS):
        if f.endswith(".sql"):
            shutil.copy(os.path.join(MIGRATIONS, f), d / f)
    # renumbered to follow the shipped migrations, as the README says
    for f in os.listdir(LEGACY):
        m = re.match(r"(rollback_)?(\d+)_(.*)", f)
        version = SEED_COUNT + int(m.group(2)) - 4
        shutil.copy(os.path.join(LEGACY, f), d / ("%s%03d_%s" % (m.group(1) or "", version, m.group(3))))
    return str(d)


def test_legacy_migrations_are_no_ops_without_legacy_tables(db, tmp_path):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + with_legacy(tmp_path), "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert "%d migration(s) applied" % (SEED_COUNT + 2) in r.stdout
    assert db.query("SELECT count(*) FROM profiles") == [(0,)]


def test_legacy_import_copies_rows_once(db, tmp_path):
    mdir = with_legacy(tmp_path)
    users = [str(uuid.uuid4()) for _ in range(3)]
    # the legacy system's tables, and its users already in Supabase Auth
    assert run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"]).returncode == 0
    db.query("CREATE TABLE legacy_users (id uuid, email text, display_name text, created_at timestamptz)")
    db.query("CREATE TABLE legacy_sessions (session_id text, user_id uuid, client_name text, "
             "rendered_html text, created_at timestamptz)")
    for i, u in enumerate(users):
        db.query("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (u, "u%d@example.com" % i))
        db.query("INSERT INTO legacy_users VALUES (%s, %s, %s, now() - interval '1 year')",
                 (u, "u%d@example.com" % i, "User %d" % i))
        db.query("INSERT INTO legacy_sessions VALUES (%s, %s, 'ACME', '<p>hi</p>', now())", ("s%d" % i, u))
    db.query("INSERT INTO legacy_sessions VALUES ('draft', %s, 'ACME', NULL, now())", (users[0],))
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT count(*) FROM profiles") == [(3,)]
    assert db.query("SELECT name FROM profiles WHERE id = %s", (users[1],)) == [("User 1",)]
    assert db.query("SELECT count(*) FROM deliverables") == [(3,)], "sessions without HTML are skipped"
    # run again, by hand: nothing inserted twice, no error
    for f in ("005_import_legacy_users.sql", "006_import_legacy_sessions.sql"):
        db.execute_file(os.path.join(LEGACY, f))
    assert db.query("SELECT count(*) FROM profiles") == [(3,)]
    assert db.query("SELECT count(*) FROM deliverables") == [(3,)]
