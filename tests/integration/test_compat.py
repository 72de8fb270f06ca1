"""The Supabase compatibility step: creates only what is missing, and never
changes a Supabase-like database that already has auth and storage."""
import os
import re
import subprocess
import uuid

from conftest import FIXTURES, MIGRATIONS, migrations_dir, run


def dump(db):
    """Everything the compat step could touch, as text."""
    # the server's own pg_dump: an older one refuses a newer server
    out = subprocess.run(db.cluster.tool("pg_dump") + ["-s", "-n", "auth", "-n", "storage", "-n", "public",
                          "-d", db.conninfo], check=True, capture_output=True, text=True).stdout
    out = "\n".join(l for l in out.splitlines() if not re.match(r"\\(un)?restrict ", l))
    roles = db.query("SELECT rolname, rolsuper, rolinherit, rolcanlogin, rolbypassrls, rolconfig "
                     "FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role') ORDER BY 1")
    defacl = db.query("SELECT defaclrole::regrole::text, defaclnamespace::regnamespace::text, "
                      "defaclobjtype, defaclacl::text FROM pg_default_acl ORDER BY 1, 2, 3")
    funcs = db.query("SELECT p.oid::regprocedure::text, p.prosrc, p.provolatile, p.proconfig::text, "
                     "p.proacl::text, obj_description(p.oid, 'pg_proc') FROM pg_proc p "
                     "WHERE p.pronamespace IN ('auth'::regnamespace, 'storage'::regnamespace) ORDER BY 1")
    return out, roles, defacl, funcs


def test_compat_changes_nothing_on_a_supabase_like_database(db, tmp_path):
    db.execute_file(os.path.join(FIXTURES, "supabase_like.sql"))
    before = dump(db)
    assert "-- fixture body" in [f for f in before[3] if f[0] == "auth.uid()"][0][1]
    # a migration that touches nothing, so only the compat step runs
    mdir = migrations_dir(tmp_path, {"001_noop.sql": "SELECT 1;\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    after = dump(db)
    assert before[0] == after[0], "pg_dump of auth/storage/public changed"
    assert before[1:] == after[1:]


def test_seed_applies_on_a_supabase_like_database_and_keeps_its_functions(db):
    db.execute_file(os.path.join(FIXTURES, "supabase_like.sql"))
    uid_before = db.query("SELECT prosrc FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure")
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT prosrc FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure") == uid_before
    assert db.query("SELECT count(*) FROM storage.buckets") == [(2,)]


def test_compat_on_plain_postgresql_reads_jwt_claims_like_supabase(db):
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    c = db.cluster.connect(db.name)
    try:
        cur = c.cursor()
        for u in (alice, bob):
            cur.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (u, u + "@example.com"))
            cur.execute("INSERT INTO profiles (id, email) VALUES (%s, %s)", (u, u + "@example.com"))
        cur.execute("GRANT SELECT ON profiles TO authenticated, anon")
        c.autocommit = False
        # as PostgREST does it: role + request.jwt.claims
        cur.execute("SET LOCAL ROLE authenticated")
        cur.execute("SELECT set_config('request.jwt.claims', %s, true)",
                    ('{"sub": "%s", "role": "authenticated"}' % alice,))
        cur.execute("SELECT auth.uid()::text, auth.role()")
        assert cur.fetchone() == (alice, "authenticated")
        cur.execute("SELECT id::text FROM profiles")
        assert cur.fetchall() == [(alice,)], "a user sees only their own profile"
        c.rollback()
        cur.execute("SET LOCAL ROLE anon")
        cur.execute("SELECT count(*) FROM profiles")
        assert cur.fetchone() == (0,)
        c.rollback()
        # the older per-claim setting works too
        cur.execute("SELECT set_config('request.jwt.claim.sub', %s, true)", (bob,))
        cur.execute("SELECT auth.uid()::text")
        assert cur.fetchone() == (bob,)
        c.rollback()
    finally:
        c.close()
    assert db.query("SELECT rolbypassrls FROM pg_roles WHERE rolname = 'service_role'") == [(True,)]
    assert db.query("SELECT storage.foldername('a/b/c.png')") == [(["a", "b"],)]


def test_compat_can_be_turned_off(db, tmp_path):
    mdir = migrations_dir(tmp_path, {"001_noop.sql": "SELECT 1;\n"})
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + mdir,
             "--set", "migrations.supabase_compat=false", "migrate", "up"])
    assert r.returncode == 0, r.stderr
    assert db.query("SELECT to_regnamespace('auth')") == [(None,)]


def test_003_as_a_role_that_does_not_own_storage_objects_names_the_owner(db, tmp_path):
    # As on hosted Supabase: storage.objects belongs to supabase_storage_admin,
    # and the daemon connects as the database's owner, which is not it.
    db.execute_file(os.path.join(FIXTURES, "supabase_like.sql"))
    # roles are the cluster's, which other test modules share: made when missing
    db.query("""DO $$ BEGIN CREATE ROLE supabase_storage_admin NOLOGIN;
            EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        DO $$ BEGIN CREATE ROLE "db owner" LOGIN;
            EXCEPTION WHEN duplicate_object THEN NULL; END $$;
        ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
        ALTER DATABASE "%s" OWNER TO "db owner";
        GRANT USAGE ON SCHEMA auth, storage TO "db owner";
        GRANT ALL ON storage.buckets TO "db owner";""" % db.name)
    with open(os.path.join(MIGRATIONS, "003_storage_buckets.sql")) as f:
        mdir = migrations_dir(tmp_path, {"003_storage_buckets.sql": f.read()})
    conninfo = db.conninfo.replace("user=postgres", "user='db owner'")
    r = run(["-d", conninfo, "--set", "migrations.directory=" + mdir, "migrate", "up"])
    assert r.returncode == 65, (r.returncode, r.stderr)
    assert "must be owner of table objects" in r.stderr, r.stderr
    assert "usually the database owner" not in r.stderr, "the role is the database owner already: " + r.stderr
    assert "storage.objects is owned by supabase_storage_admin" in r.stderr, r.stderr
    assert 'connected as \\"db owner\\"' in r.stderr, r.stderr   # logfmt escapes quotes


def test_the_server_is_the_version_asked_for(db):
    """The suite runs against PostgreSQL 15 (the host's) or, with MAINTD_PG=17
    and MAINTD_PG_ROOT (CI's clang step), 17 in a chroot: make sure a run
    that says 17 really talked to 17, through the host's libpq 15."""
    import psycopg2
    from pgcluster import PG_VERSION
    assert db.query("SHOW server_version_num")[0][0][:2] == PG_VERSION
    assert psycopg2.__libpq_version__ // 10000 == 15
    r = run(["-d", db.conninfo, "--set", "migrations.directory=" + MIGRATIONS, "migrate", "up"])
    assert r.returncode == 0, r.stderr
